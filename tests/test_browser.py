"""What a reader sees in a browser (issue 18): the published article and every supplementary page, loaded in
headless Chromium (playwright driving the system's /usr/bin/chromium) at 1400 and 800 px wide.

Asserted on every page: no numeric table cell wraps onto a second line (a cell whose text is a number, statistic,
df, p or CI, judged by its text, not by the class the project's filter gives it), the page never scrolls sideways
(a wide table scrolls inside its own box), no hyphen-minus in front of a digit in a table, no raw ``_`` markup
(``d_z``) in visible text outside code, no broken image, no dead relative link. Skips when playwright or chromium
is missing, unless ``MBPM_REQUIRE_BROWSER=1`` (.ci/run sets it), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .published import published_site, serve

pytestmark = pytest.mark.notebooks  # may render the site; slow either way

CHROMIUM = os.environ.get("MBPM_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("MBPM_REQUIRE_BROWSER") == "1"
WIDTHS = (1400, 800)
# Runs in the page: facts about every table cell, image and link (JavaScript, no dependency).
PROBE = r"""
() => {
  const numeric = (t) => /\d/.test(t) && t.length <= 40 && (t.match(/[A-Za-z]+/g) || []).every((w) => w.length <= 3);
  // where each line of text in a cell starts (x, px): the boxes of its text nodes, grouped by vertical overlap (a
  // superscript or an inline code box sits a little higher than its line, but on it), the leftmost of each group
  const lineStarts = (el) => {
    const rects = [];
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      rects.push(...[...range.getClientRects()].filter((r) => r.width > 0));
    }
    rects.sort((a, b) => a.top - b.top);
    const starts = [];
    let bottom = -Infinity;
    for (const r of rects) {
      if (r.top >= bottom - 2) { starts.push(r.left); bottom = r.bottom; }
      else { starts[starts.length - 1] = Math.min(starts[starts.length - 1], r.left); bottom = Math.max(bottom, r.bottom); }
    }
    return starts;
  };
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const cells = [...document.querySelectorAll("main table td, main table th")].filter(visible).map((el) => ({
    text: el.innerText.trim(), lines: lineStarts(el).length, numeric: numeric(el.innerText.trim())}));
  // each row label: its indent level (class indent-N), whether it still starts with an em space, and how far each
  // of its lines starts from the cell's left edge, in ems
  const labels = [...document.querySelectorAll("main table tbody td:first-child")].filter(visible).map((el) => {
    const left = el.getBoundingClientRect().left, em = parseFloat(getComputedStyle(el).fontSize);
    const starts = lineStarts(el).map((x) => (x - left) / em);
    const level = Number((el.className.match(/\bindent-(\d)\b/) || [0, 0])[1]);
    return {text: el.innerText, level, emSpace: el.textContent.startsWith("\u2003"), starts};
  });
  // a notebook page's "In [n]:" beside each cell: whole (not clipped by a wide output), and one per cell
  const decorators = [...document.querySelectorAll(".cell-decorator")].filter(visible).map((el) => ({
    text: el.innerText.trim(),
    fits: (el.querySelector("pre") || el).scrollWidth <= el.getBoundingClientRect().width + 1,  // the pre clips
    nested: !!el.parentElement.parentElement.closest(".cell-container")}));
  const walker = document.createTreeWalker(document.querySelector("main") || document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest("code, pre, script, style, .sourceCode, math, mjx-container, .MathJax") || !visible(p)) continue;
    texts.push({text: n.textContent, inTable: !!p.closest("table")});
  }
  const toc = document.querySelector("nav#TOC");
  const tocBox = toc && visible(toc) ? toc.getBoundingClientRect() : null;
  const intoToc = tocBox ? [...document.querySelectorAll("main table, main figcaption")].filter(visible)
    .filter((el) => el.getBoundingClientRect().left < tocBox.right - 1)
    .map((el) => (el.innerText || "").trim().slice(0, 40)) : [];
  return {
    cells, labels, decorators, texts, intoToc,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    brokenImages: [...document.images].filter((i) => i.complete && i.naturalWidth === 0).map((i) => i.src),
    links: [...document.querySelectorAll("a[href], img[src], link[href], script[src]")]
      .map((el) => el.getAttribute("href") || el.getAttribute("src"))
      .filter((u) => u && !u.startsWith("#") && !/^[a-z]+:/i.test(u) && !u.startsWith("//")),
  };
}
"""


def site_pages(site: Path) -> list[str]:
    """The article and every notebook and supplementary page of the site (paths relative to it)."""
    pages = ["index.html"] + sorted(str(p.relative_to(site)) for p in site.glob("build/**/*-preview.html"))
    return pages


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRED:
            pytest.fail("playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).is_file():
        if REQUIRED:
            pytest.fail(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
        pytest.skip(f"no chromium at {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def probes(browser, request) -> dict[tuple[str, int], dict]:
    """(page, width) -> what PROBE found, for every page at every width, plus the status of each relative link."""
    site = published_site(request)
    found = {}
    with serve(site) as base:
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            for path in site_pages(site):
                response = page.goto(base + path, wait_until="load")
                assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
                facts = page.evaluate(PROBE)
                facts["dead"] = sorted({u for u in facts["links"]
                                        if page.request.get(page.url.rsplit("/", 1)[0] + "/" + u.split("#")[0])
                                        .status != 200})
                found[(path, width)] = facts
            page.close()
    return found


def test_no_numeric_cell_wraps_and_no_page_scrolls_sideways(probes):
    wrapped = {f"{path} @{w}px": [c["text"] for c in f["cells"] if c["numeric"] and c["lines"] > 1]
               for (path, w), f in probes.items()}
    wrapped = {k: v for k, v in wrapped.items() if v}
    assert not wrapped, f"numeric cells on more than one line: {wrapped}"
    sideways = {f"{path} @{w}px": f["scrollWidth"] for (path, w), f in probes.items()
                if f["scrollWidth"] > f["innerWidth"]}
    assert not sideways, f"pages wider than the window (a wide table must scroll in its own box): {sideways}"
    under_toc = {f"{path} @{w}px": f["intoToc"] for (path, w), f in probes.items() if f["intoToc"]}
    assert not under_toc, f"tables or captions reaching under the table of contents: {under_toc}"


def test_indented_row_labels_keep_their_indent_on_every_line(probes):
    """A category under its variable ("Asian" under "Race, n (%)") is indented by its cell's padding, so a label that
    wraps ("American Indian or Alaska / Native") keeps the indent on its second line (filters/html-tables.lua)."""
    labels = [lb for f in probes.values() for lb in f["labels"]]
    assert {lb["level"] for lb in labels} >= {0, 1, 2}, "no indented labels found: the probe sees no table"
    assert not [lb["text"] for lb in labels if lb["emSpace"]], "labels indented with em spaces (wrap unindented)"
    for level in (0, 1, 2):
        # up to 0.9 em more: inline code (a file name) has padding of its own
        off = [(lb["text"], [round(s, 2) for s in lb["starts"]]) for lb in labels if lb["level"] == level
               and not all(level <= s <= level + 0.9 for s in lb["starts"])]
        assert not off, f"labels of level {level} with a line that does not start {level} em in: {off[:5]}"
    wrapped = [lb for lb in labels if lb["level"] and len(lb["starts"]) > 1]
    assert wrapped, "no indented label wraps at any width: the check above saw only first lines"


def test_each_notebook_cell_shows_its_whole_prompt_once(probes):
    """"In [6]:" beside a cell with a wide table, not "In" or "Ir" (the flex layout squeezed it to 30 px), and not a
    second one for the labelled table inside the cell."""
    decorators = {f"{path} @{w}px": f["decorators"] for (path, w), f in probes.items()}
    assert sum(map(len, decorators.values())) > 20, "no notebook cell prompts found"
    clipped = {k: [d["text"] for d in v if not d["fits"]] for k, v in decorators.items()}
    assert not {k: v for k, v in clipped.items() if v}, clipped
    nested = {k: [d["text"] for d in v if d["nested"]] for k, v in decorators.items()}
    assert not {k: v for k, v in nested.items() if v}, nested


def test_no_broken_image_and_no_dead_relative_link(probes):
    broken = {path: f["brokenImages"] for (path, w), f in probes.items() if f["brokenImages"]}
    assert not broken, f"images that did not load: {broken}"
    dead = {path: f["dead"] for (path, w), f in probes.items() if f["dead"]}
    assert not dead, f"relative links that do not answer 200: {dead}"


def test_no_hyphen_minus_before_a_digit_in_tables(probes):
    import re

    found = {path: sorted({m.group(0) for t in f["texts"] if t["inTable"]
                           for m in re.finditer(r"(?<![\w.])-\d[\d.]*", t["text"])})
             for (path, w), f in probes.items() if w == WIDTHS[0]}
    found = {k: v[:10] for k, v in found.items() if v}
    assert not found, f"hyphen-minus used as a minus sign in tables: {found}"


def test_no_raw_underscore_markup_in_visible_text(probes):
    import re

    found = {path: sorted({m.group(0) for t in f["texts"]
                           for m in re.finditer(r"\b(?:d|p|eta|η)_(?:z|av|adj|p)\b", t["text"])})
             for (path, w), f in probes.items() if w == WIDTHS[0]}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"raw _ markup in visible text: {found}"


def test_no_plain_text_math(probes):
    import re

    found = {path: sorted({m.group(0) for t in f["texts"] for m in re.finditer(r"\b\w+\^\([^)]*\)", t["text"])})
             for (path, w), f in probes.items() if w == WIDTHS[0]}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"math written as plain text: {found}"


def test_a_source_link_shows_its_table_or_figure_below_the_notebook_pages_header(browser, request):
    """Each "Source" link of the article goes to its float on a notebook page: the float's caption is in view,
    below the page's fixed header ("Back to Article"), which would otherwise cover it (styles.css)."""
    site = published_site(request)
    with serve(site) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "index.html", wait_until="load")
        targets = page.eval_on_selector_all(".mbpm-notebook-link a[href*='#']", "els => els.map(a => a.href)")
        assert len(targets) >= 9, targets
        hidden = []
        for url in targets:
            page.goto(url, wait_until="load")  # pinned or hidden, the header is above 4rem (scroll-margin-top)
            top, header = page.evaluate("""(id) => {
              const el = document.getElementById(id), cap = el.querySelector("figcaption") || el;
              const fixed = [...document.querySelectorAll("body *")].filter((e) => getComputedStyle(e).position === "fixed"
                && e.getBoundingClientRect().top <= 0 && e.getBoundingClientRect().bottom > 0 && e.offsetHeight < 200);
              return [cap.getBoundingClientRect().top, Math.max(0, ...fixed.map((e) => e.getBoundingClientRect().bottom))];
            }""", url.split("#", 1)[1])
            if not header <= top < 900:
                hidden.append(f"{url.split('/')[-1]}: caption at {top:.0f} px, header down to {header:.0f} px")
        page.close()
    assert not hidden, hidden
