"""The rendered manuscript, asserted as the product: HTML, Word, JATS and the MECA bundle.

Renders the project with Quarto in a copy of the project (sources + a build), so the working tree's _manuscript/ is
never touched. The build is ``$MBPM_TEST_BUILD``, else the test session's pipeline build (``built_project`` in
conftest.py, made once and shared with the other end-to-end tests). Without Quarto the tests skip, except in CI
(``MBPM_REQUIRE_QUARTO=1``, set by .ci/run), where a missing Quarto is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from helpers import render

from .conftest import ROOT, copy_sources

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

REQUIRED = os.environ.get("MBPM_REQUIRE_QUARTO") == "1"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
EMBED_RE = re.compile(r"\{\{<\s*embed\s+([^#\s>]+)#([A-Za-z0-9_-]+)[^>]*>\}\}")
XREF_RE = re.compile(r"(?<![\w\[])@((?:fig|tbl)-[A-Za-z0-9_-]+)")
# The one console line Quarto may print that is not about the manuscript: ipykernel's notice when a kernel starts.
BENIGN = re.compile(r"Kernel is running over TCP without encryption")
NUMBER_RE = re.compile(r"[−-]?\d+(?:[.,]\d+)*%?")
DIGIT_EM = 0.5  # width of a digit in the usual text fonts, in em (Calibri, Cambria, Times: 0.5; DejaVu Sans: 0.64)


def fail_or_skip(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (MBPM_REQUIRE_QUARTO=1: the manuscript must render in CI)")
    pytest.skip(reason)


def source_build() -> Path | None:
    """``$MBPM_TEST_BUILD`` if set (it must hold results.json), else None (the session's build is used)."""
    if not os.environ.get("MBPM_TEST_BUILD"):
        return None
    build = Path(os.environ["MBPM_TEST_BUILD"])
    assert (build / "results.json").is_file(), f"MBPM_TEST_BUILD={build}: no results.json there"
    return build


def quarto_render(exe: str, project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUARTO_PYTHON": sys.executable, "MBPM_BUILD_DIR": "build"}
    return subprocess.run([exe, "render", *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=1200)


@pytest.fixture(scope="module")
def quarto() -> str:
    exe = render.find_quarto()
    version = render.quarto_version(exe)
    if not render.quarto_ok(version):
        fail_or_skip(f"no usable Quarto (found: {version or 'none'}); `make install` or put quarto on PATH")
    return exe


@pytest.fixture(scope="module")
def project(tmp_path_factory, quarto, request) -> Path:
    """A copy of the project's sources with a build folder (the executed notebooks and results.json), committed to a
    git repository of its own as in an author's clone: Quarto's MECA bundle takes its source files from git (outside
    git it takes every file of the folder, build/logs/ included, whose render log names the folder)."""
    project = copy_sources(tmp_path_factory.mktemp("manuscript") / "project")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sources"]):
        subprocess.run(git + cmd, cwd=project, check=True, capture_output=True)
    build = source_build() or request.getfixturevalue("built_project") / "build"
    shutil.copytree(build / "notebooks", project / "build" / "notebooks")
    shutil.copy2(build / "results.json", project / "build" / "results.json")
    return project


SOURCE_DATE = "1764633600"  # 2025-12-02: the date the build stands for (not the copy's commit, made just now)


def mbpm_render(quarto: str, project: Path) -> tuple[subprocess.CompletedProcess, str]:
    """`mbpm render` (what `make report` runs: every format, the sources' date) in ``project``: the process and
    Quarto's whole output (its log)."""
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project), "SOURCE_DATE_EPOCH": SOURCE_DATE,
           "PATH": f"{Path(quarto).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "helpers", "render", "--build", "build"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=1200)
    return proc, (project / "build" / "logs" / "render.log").read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def rendered(quarto, project) -> tuple[Path, str]:
    """The manuscript as `make report` renders it, and Quarto's log. The hand `quarto render` path is rendered by
    test_words_follow_other_data (and tests/test_errors.py)."""
    proc, log = mbpm_render(quarto, project)
    assert proc.returncode == 0, f"mbpm render failed:\n{proc.stderr[-3000:]}\n{log[-6000:]}"
    return project / "_manuscript", log


@pytest.fixture(scope="module")
def results(project) -> dict:
    return json.loads((project / "build" / "results.json").read_text(encoding="utf-8"))


def html_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))).replace("\xa0", " ")


# ---------------------------------------------------------------------------------------------------------------
def test_render_has_no_warning_or_error(rendered):
    _, log = rendered
    bad = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines()
           if re.search(r"\b(WARN(ING)?|ERROR)\b", ln) and not BENIGN.search(ln)]
    assert not bad, "Quarto reported:\n" + "\n".join(bad)


def test_html_resolves_every_embed_reference_and_number(rendered, project):
    out, _ = rendered
    page = (out / "index.html").read_text(encoding="utf-8")
    text = html_text(out / "index.html")
    qmd = (project / "index.qmd").read_text(encoding="utf-8")
    for marker in ("?@", "{python}", "{{<", "?meta", "NA "):
        assert marker not in text, f"unresolved {marker!r} in the HTML article"
    for _, label in EMBED_RE.findall(qmd):
        assert f'id="{label}"' in page, f"embed #{label} missing from the HTML article"
    for ref in set(XREF_RE.findall(qmd)):
        assert f'href="#{ref}"' in page, f"cross-reference @{ref} not linked in the HTML article"


def test_numbers_and_words_follow_the_results(rendered, results):
    text = html_text(rendered[0] / "index.html")
    assert f"In total, {results['flow.n_total']} adults took part" in text
    letter = {"ANOVA": "F", "Kruskal-Wallis": "H"}[results["t1.il8.test"]]
    assert f"which gave {letter} = {results['t1.il8.stat']:.3f}" in text
    corrected = {"bonferroni": "Bonferroni-corrected", "holm": "Holm-corrected"}[results["t2.correction"]]
    assert f"{corrected} p" in text
    # only what the text cites is in the references: the alternatives' papers are not
    cited = {"bonferroni": "Multiple comparisons among means", "holm": "A simple sequentially rejective"}
    for method, title in cited.items():
        assert (title in text) == (method == results["t2.correction"]), title


def test_words_follow_other_data(quarto, project, results, tmp_path):
    """The same article on results where Levene's rule chose ANOVA for IL-8 and the correction is Holm's."""
    other = tmp_path / "other"
    shutil.copytree(project, other, ignore=shutil.ignore_patterns("_manuscript", ".quarto"))
    changed = dict(results, **{"t1.il8.test": "ANOVA", "t2.correction": "holm", "t1.levene_center": "median"})
    (other / "build" / "results.json").write_text(json.dumps(changed), encoding="utf-8")
    proc = quarto_render(quarto, other, "index.qmd", "--to", "html")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    text = html_text(other / "_manuscript" / "index.html")
    assert f"which gave F = {results['t1.il8.stat']:.3f}" in text
    assert "Holm-corrected p" in text and "Bonferroni-corrected p" not in text
    assert "centred on the median" in text
    assert "A simple sequentially rejective multiple test procedure" in text, "Holm's paper is cited"
    assert "Multiple comparisons among means" not in text, "and Dunn's (Bonferroni) is not"
    assert text.count("Bonferroni-corrected") == 1  # the published article's own claim, in the Limitations


def test_tables_are_numbered_as_in_the_paper(rendered):
    out, _ = rendered
    text = html_text(out / "index.html")
    assert re.search(r"Table 1: Baseline characteristics", text)
    assert re.search(r"Table 2: Salivary analytes before and after", text)
    with zipfile.ZipFile(out / "index.docx") as z:
        doc = z.read("word/document.xml").decode("utf-8")
    assert "Table 1: Baseline characteristics" in doc.replace("\xa0", " ")
    assert "Table 2: Salivary analytes before and after" in doc.replace("\xa0", " ")


def test_docx_and_jats_are_well_formed(rendered):
    out, _ = rendered
    with zipfile.ZipFile(out / "index.docx") as z:
        assert z.testzip() is None
        for part in ("word/document.xml", "word/styles.xml", "[Content_Types].xml"):
            ET.fromstring(z.read(part))
    root = ET.parse(out / "index.xml").getroot()
    assert root.tag == "article"
    assert root.find("front/article-meta/title-group/article-title") is not None
    assert len(root.findall(".//table-wrap")) >= 3 and len(root.findall(".//fig")) >= 4


def test_meca_bundle_holds_its_manifest_and_files(rendered):
    out, _ = rendered
    with zipfile.ZipFile(out / "index-meca.zip") as z:
        names = set(z.namelist())
        assert "manifest.xml" in names
        manifest = ET.fromstring(z.read("manifest.xml"))
    hrefs = {el.get("{http://www.w3.org/1999/xlink}href") for el in manifest.iter() if el.tag.endswith("instance")}
    missing = sorted(h for h in hrefs if h not in names and not any(n.startswith(h.rstrip("/") + "/") for n in names))
    assert hrefs and not missing, f"manifest names files (or folders) missing from the bundle: {missing[:5]}"
    assert {"index.xml", "index.docx"} <= names
    notebooks = {f"build/notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert notebooks <= names, "the executed notebooks travel with the article"


# ---------------------------------------------------------------------------------------------------------------
# Word tables: every column at least as wide as its longest number
# ---------------------------------------------------------------------------------------------------------------
def _twips(el, attr="w") -> float:
    return float(el.get(W + attr))


def _table_font_pt(styles: ET.Element) -> float:
    for style in styles.iter(W + "style"):
        if style.get(W + "styleId") == "Table":
            sz = style.find(f"{W}rPr/{W}sz")
            if sz is not None:
                return _twips(sz, "val") / 2
    sz = styles.find(f"{W}docDefaults/{W}rPrDefault/{W}rPr/{W}sz")
    return _twips(sz, "val") / 2 if sz is not None else 12.0


def _cell_margins(styles: ET.Element) -> float:
    for style in styles.iter(W + "style"):
        if style.get(W + "styleId") == "Table":
            mar = style.find(f"{W}tblPr/{W}tblCellMar")
            if mar is not None:
                return sum(_twips(mar.find(W + side)) for side in ("left", "right"))
    return 216.0


def _section_widths(body: ET.Element) -> list[float]:
    """Text width (twips) of the section each top-level body element belongs to."""
    children = list(body)
    ends = []  # (index, text width) of the element that ends each section
    for i, el in enumerate(children):
        sect = el.find(f"{W}pPr/{W}sectPr") if el.tag == W + "p" else (el if el.tag == W + "sectPr" else None)
        if sect is not None:
            size, mar = sect.find(W + "pgSz"), sect.find(W + "pgMar")
            assert size is not None and mar is not None, "a section without page size or margins"
            ends.append((i, _twips(size) - _twips(mar, "left") - _twips(mar, "right")))
    return [next(w for j, w in ends if j >= i) for i in range(len(children))]


def _table_width(tbl: ET.Element, available: float) -> float:
    tw = tbl.find(f"{W}tblPr/{W}tblW")
    if tw is None or tw.get(W + "type") == "auto":
        return available
    value = float(tw.get(W + "w").rstrip("%"))
    if tw.get(W + "type") == "pct":
        return available * (value / 100 if tw.get(W + "w").endswith("%") else value / 5000)
    return value


def _columns(tbl: ET.Element, width: float) -> list[float]:
    grid = [_twips(g) for g in tbl.findall(f"{W}tblGrid/{W}gridCol")]
    return [width * g / sum(grid) for g in grid]


def word_tables(docx: Path):
    """(table number, columns' content widths in twips, header texts, rows of cell texts, font pt) of every data
    table, nested (Quarto's float layout) or not."""
    with zipfile.ZipFile(docx) as z:
        body = ET.fromstring(z.read("word/document.xml")).find(W + "body")
        styles = ET.fromstring(z.read("word/styles.xml"))
    font, margins = _table_font_pt(styles), _cell_margins(styles)
    found = []
    for top, text_width in zip(list(body), _section_widths(body), strict=True):
        if top.tag != W + "tbl":
            continue
        outer_cols = _columns(top, _table_width(top, text_width))
        nested = [(col, tbl) for tr in top.findall(W + "tr") for col, _, tc in _cells_of_row(tr)
                  for tbl in tc.findall(W + "tbl")]
        targets = [(t, outer_cols[c] - margins) for c, t in nested] or [(top, text_width)]
        for tbl, available in targets:
            if tbl.find(f".//{W}drawing") is not None:
                continue
            width = _table_width(tbl, available)
            assert width <= available * 1.01, f"table {len(found) + 1} is wider ({width:.0f}) than its room"
            cols = [c - margins for c in _columns(tbl, width)]
            rows = []
            for tr in tbl.findall(W + "tr"):
                rows.append([(col, span, "".join(t.text or "" for t in tc.iter(W + "t")))
                             for col, span, tc in _cells_of_row(tr)])
            found.append((len(found) + 1, cols, rows, font))
    return found


def _cells_of_row(tr):
    col = 0
    for tc in tr.findall(W + "tc"):
        span = tc.find(f"{W}tcPr/{W}gridSpan")
        n = int(span.get(W + "val")) if span is not None else 1
        yield col, n, tc
        col += n


def width_problems(docx: Path) -> list[str]:
    """Every number in a Word table whose column is narrower than the number (digits at 0.5 em of the table font),
    and every negative number written with a hyphen-minus (a line may break after it)."""
    problems = []
    for number, cols, rows, font in word_tables(docx):
        digit = DIGIT_EM * font * 20  # twips
        header = [text for _, _, text in rows[0]] if rows else []
        for row in rows:
            for col, span, text in row:
                if span != 1:
                    continue
                if re.search(r"(?<![\w)\]])-\d", text):
                    problems.append(f"table {number}: hyphen-minus instead of a minus sign in {text!r}")
                for num in NUMBER_RE.findall(text):
                    need = len(num) * digit
                    if cols[col] < need:
                        problems.append(f"table {number}, column {header[col] if col < len(header) else col!r}: "
                                        f"{num!r} needs {need:.0f} twips, the column has {cols[col]:.0f}")
    return problems


def test_word_tables_give_every_number_room(rendered):
    docx = rendered[0] / "index.docx"
    assert len(word_tables(docx)) >= 4, "Table 1, Table 2, the robustness table and the assay table"
    problems = width_problems(docx)
    assert not problems, "\n".join(problems[:20])


def test_word_width_check_catches_a_squeezed_column(tmp_path, rendered):
    """The check is not vacuous: give the first column of every table nearly all the width, as pandoc's pipe-table
    arithmetic did before, and the numbers in the other columns no longer fit."""
    with zipfile.ZipFile(rendered[0] / "index.docx") as z:
        parts = {n: z.read(n) for n in z.namelist()}

    def squeeze(m):
        cols = re.findall(r'<w:gridCol w:w="\d+" ?/>', m.group(0))
        if len(cols) < 3:
            return m.group(0)
        grid = '<w:gridCol w:w="50000"/>' + '<w:gridCol w:w="100"/>' * (len(cols) - 1)
        return "<w:tblGrid>" + grid + "</w:tblGrid>"

    doc = re.sub(r"<w:tblGrid>.*?</w:tblGrid>", squeeze, parts["word/document.xml"].decode("utf-8"), flags=re.S)
    bad = tmp_path / "squeezed.docx"
    with zipfile.ZipFile(bad, "w") as z:
        for name, data in parts.items():
            z.writestr(name, doc.encode("utf-8") if name == "word/document.xml" else data)
    assert len(width_problems(bad)) > 10


def test_two_renders_of_the_same_sources_are_byte_identical(quarto, project, rendered, tmp_path):
    """`mbpm render` again, in another folder (with the same sources' date): the HTML, Word, JATS and MECA files are
    the same bytes as the first render's (no clock time, no attribute order that varies, no absolute path)."""
    copy = tmp_path / "another" / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("_manuscript", ".quarto", "logs"))
    proc, log = mbpm_render(quarto, copy)
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n{log[-4000:]}"
    first, second = rendered[0], copy / "_manuscript"
    assert [n for n in render.OUTPUTS if (first / n).read_bytes() != (second / n).read_bytes()] == []
    assert b"2025-12-02" in (first / "index.html").read_bytes()  # the article's date is the sources', not the clock
    for name in render.OUTPUTS:  # nor the folder it was rendered in (Quarto's embeds write absolute paths)
        assert str(copy).encode() not in (second / name).read_bytes(), f"{name} carries the path of its folder"


# ---------------------------------------------------------------------------------------------------------------
# A relation never breaks from its operands (filters/no-break-relations.lua), in every format, abstract included
# ---------------------------------------------------------------------------------------------------------------
BREAKABLE_RELATION = re.compile(r".{0,30}(?:[ \t\n][=<>≤≥]|[=<>≤≥][ \t\n])[ \t\n\xa0]?[\d−(|].{0,15}")


def _texts(out: Path) -> dict[str, str]:
    """Each format's text, with "¦" between table cells and between Word paragraphs (boundaries, not spaces)."""
    def text(markup: str) -> str:
        markup = re.sub(r"\s*<(/?)t[dh]\b[^>]*>\s*", "¦", markup)
        return html.unescape(re.sub(r"<[^>]+>", "", markup))

    page = re.sub(r"<(script|style)\b.*?</\1>", "", (out / "index.html").read_text(encoding="utf-8"), flags=re.S)
    with zipfile.ZipFile(out / "index.docx") as z:
        word = z.read("word/document.xml").decode("utf-8")
    paragraphs = ["".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", p)) for p in re.findall(r"<w:p[ >].*?</w:p>",
                                                                                            word, flags=re.S)]
    return {"HTML": text(page), "JATS": text((out / "index.xml").read_text(encoding="utf-8")),
            "Word": html.unescape("¦".join(paragraphs))}


def test_no_relation_breaks_from_its_number(rendered):
    """"p = 0.015" and "p < 0.001" stay on one line: no ordinary space or line break on either side of the sign
    (the abstract too, where Quarto leaves empty strings where the shortcodes stood)."""
    out, _ = rendered
    for fmt, text in _texts(out).items():
        found = BREAKABLE_RELATION.findall(text)
        assert not found, f"{fmt}: a relation that can break from its number: {found[:5]}"


STRAY_SPACE = re.compile(r".{0,30}(?:\([ \xa0]|[ \xa0]\)|[ \xa0],(?!\d)).{0,15}")


def test_no_space_inside_parentheses_or_before_a_comma(rendered):
    """"(η²p = 0.856)", not "( η²p = 0.856)": a space the prose or a shortcode left inside a parenthesis or before a
    comma, in every format."""
    out, _ = rendered
    for fmt, text in _texts(out).items():
        found = STRAY_SPACE.findall(text)
        assert not found, f"{fmt}: a space inside parentheses or before a comma: {found[:5]}"


def test_word_row_labels_are_indented_by_their_paragraph_style(rendered):
    """In Word, a category under its variable ("Asian") and a measure under its section ("Age (years)") are indented
    by the paragraph styles "Table Label 2" and "Table Label 1" (a left indent of 2 and 1 em of the table text), not by
    leading em spaces, which a wrapped second line would not have."""
    with zipfile.ZipFile(rendered[0] / "index.docx") as z:
        body = ET.fromstring(z.read("word/document.xml"))
        styles = ET.fromstring(z.read("word/styles.xml"))
    font = _table_font_pt(styles)
    for level in (1, 2):
        style = styles.find(f"{W}style[@{W}styleId='TableLabel{level}']")
        assert style is not None, f"reference.docx has no style 'Table Label {level}'"
        assert float(style.find(f"{W}pPr/{W}ind").get(W + "left")) == level * font * 20  # twips
    labels = {}
    for tc in body.iter(W + "tc"):
        for par in tc.findall(W + "p"):
            text = "".join(t.text or "" for t in par.iter(W + "t"))
            style = par.find(f"{W}pPr/{W}pStyle")
            labels.setdefault(text, style.get(W + "val") if style is not None else None)
            assert not text.startswith("\u2003"), f"a table label indented with em spaces: {text!r}"
    assert labels["Asian"] == "TableLabel2" and labels["Age (years)"] == "TableLabel1", labels
    assert labels["Demographics"] == "Compact"


def test_committed_reference_docx_is_what_its_module_makes(quarto):
    """templates/reference.docx is `python -m helpers.docx_reference`'s output from this Quarto's pandoc: the styles
    the filters and these tests rely on (9 pt tables, the label styles) cannot drift from the code that states them."""
    from helpers import docx_reference

    made = docx_reference.with_project_styles(docx_reference.default_reference(quarto))
    assert made == (ROOT / docx_reference.REFERENCE).read_bytes(), "run `python -m helpers.docx_reference`"
