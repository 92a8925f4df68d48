"""The published site (``make publish``): one self-contained folder whose every relative link and image resolves
when it is served from a sub-path, with the article in every format, the notebook pages and the supplementary.

Served with Python's ``http.server`` from the folder's parent (so the site sits under ``/<folder>/``) and crawled:
every ``href``/``src`` of every page reached from ``index.html`` that is relative must answer 200 and stay inside
the folder. See tests/published.py for where the site comes from.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from helpers import render

from .published import published_site, serve

pytestmark = pytest.mark.notebooks  # may render the site; slow either way

NOTEBOOKS = ("01_ingest", "02_scoring", "03_baseline", "04_trial_rmanova", "05_discussion_figures")
LINKING = {"a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"}


@pytest.fixture(scope="module")
def site(request) -> Path:
    return published_site(request)


def relative_links(page: str) -> list[str]:
    """Every relative URL an HTML page refers to (no scheme, not protocol-relative, not a bare fragment)."""
    soup = BeautifulSoup(page, "html.parser")
    found = []
    for tag, attr in LINKING.items():
        for el in soup.find_all(tag):
            url = el.get(attr)
            if not url or url.startswith("#") or urllib.parse.urlparse(url).scheme or url.startswith("//"):
                continue
            found.append(url)
    return found


def crawl(base: str) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Status of every relative URL reachable from the site's index.html, and which page refers to each."""
    status, referrers, queue = {}, {}, [base + "index.html"]
    while queue:
        page_url = queue.pop()
        with urllib.request.urlopen(page_url) as response:
            page = response.read().decode("utf-8", errors="replace")
        for link in relative_links(page):
            url = urllib.parse.urljoin(page_url, link).split("#")[0].split("?")[0]
            referrers.setdefault(url, []).append(page_url)
            if url in status:
                continue
            try:  # HEAD: the status without the body
                with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
                    status[url] = response.status
            except urllib.error.HTTPError as err:
                status[url] = err.code
            if status[url] == 200 and url.startswith(base) and url.endswith(".html"):
                queue.append(url)
    return status, referrers


def test_every_relative_link_and_image_resolves_under_a_sub_path(site):
    with serve(site) as base:
        status, referrers = crawl(base)
    dead = {url: (code, referrers[url][:2]) for url, code in status.items() if code != 200}
    assert not dead, f"dead relative links (url: status, referring pages): {dead}"
    outside = [url for url in status if not url.startswith(base)]
    assert not outside, f"links that leave the published folder: {outside}"
    pages = {u[len(base):] for u in status if u.endswith(".html")}
    # the crawl reached every notebook page and every supplementary page from the article
    for nb in NOTEBOOKS:
        assert f"build/notebooks/{nb}-preview.html" in pages
    for stem in ("index", "reproduction", "data-quality", "variants", "provenance"):
        assert f"build/supplementary/{stem}-preview.html" in pages


def test_everyday_render_has_no_dead_relative_link():
    """`make report`'s article (_manuscript/, no supplementary): its embeds link the executed notebooks it carries,
    and the link to the supplementary says `make publish` instead of pointing at nothing."""
    manuscript = Path(__file__).resolve().parents[1] / render.MANUSCRIPT_DIR
    if not (manuscript / "index.html").is_file():
        pytest.skip("no rendered article in _manuscript/: run `make report` first")
    with serve(manuscript) as base:
        status, referrers = crawl(base)
    dead = {url: (code, referrers[url][:2]) for url, code in status.items() if code != 200}
    assert not dead, f"dead relative links in the everyday render: {dead}"


def test_the_folder_holds_every_format(site):
    for name in render.OUTPUTS:
        assert (site / name).is_file(), f"{name} missing from the published folder"
    assert not [p for p in site.rglob("*") if p.is_symlink()], "a symlink would not survive publishing"


def test_article_links_the_supplementary_and_every_notebook(site):
    soup = BeautifulSoup((site / "index.html").read_text(encoding="utf-8"), "html.parser")
    availability = soup.find(id="data-and-code-availability")
    assert availability is not None and availability.find("a", href="build/supplementary/index-preview.html"), \
        "the Data and code availability section does not link the supplementary"
    for nb in NOTEBOOKS:  # the article's list of notebooks (Quarto's notebook view)
        assert soup.find("a", href=f"build/notebooks/{nb}-preview.html"), nb


def test_each_embed_links_its_notebook(site):
    """Every embedded table and figure links the notebook page that made it (filters/notebook-links.lua)."""
    soup = BeautifulSoup((site / "index.html").read_text(encoding="utf-8"), "html.parser")
    qmd = (Path(__file__).resolve().parents[1] / "index.qmd").read_text(encoding="utf-8")
    for notebook, label in re.findall(r"\{\{<\s*embed\s+build/notebooks/([\w-]+)\.ipynb#([\w-]+)", qmd):
        float_ = soup.find(id=label)
        assert float_ is not None, label
        holder = float_.find_parent(class_="quarto-embed-nb-cell") or float_
        assert holder.find("a", href=re.compile(rf"build/notebooks/{notebook}-preview\.html")), \
            f"#{label} does not link build/notebooks/{notebook}-preview.html"


def _captions(page: Path) -> dict[str, str]:
    """Float label -> its caption's text, on one HTML page."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    found = {}
    for cap in soup.find_all("figcaption"):
        holder = cap.find_parent(id=re.compile(r"^(tbl|fig)-"))
        if holder is not None:
            found.setdefault(holder["id"], re.sub(r"[ \t\n]+", " ", cap.get_text()).strip())  # no-break spaces kept
    return found


def test_notebook_pages_give_each_embedded_float_its_number_in_the_article(site):
    """A notebook page numbers its own tables ("Table 1" of notebook 04); the caption of each table and figure the
    article embeds also says which it is in the article, the number the article's own caption has
    (filters/notebook-links.lua); the others say nothing of the article."""
    article = _captions(site / "index.html")
    qmd = (Path(__file__).resolve().parents[1] / "index.qmd").read_text(encoding="utf-8")
    embedded = re.findall(r"\{\{<\s*embed\s+build/notebooks/([\w-]+)\.ipynb#([\w-]+)", qmd)
    assert len(embedded) >= 9
    for nb in NOTEBOOKS:
        page = _captions(site / "build" / "notebooks" / f"{nb}-preview.html")
        for label, caption in page.items():
            said = re.match(r"(Table|Figure)\xa0\d+ \((Table|Figure)\xa0(\d+) in the article\):", caption)
            if (nb, label) in embedded:
                number = re.match(r"(Table|Figure)\xa0(\d+):", article[label])
                assert said and said.group(2, 3) == number.group(1, 2), (nb, label, caption[:80], article[label][:40])
            else:
                assert said is None and "in the article)" not in caption, (nb, label, caption[:80])
    assert {label for _, label in embedded} <= set(article)
