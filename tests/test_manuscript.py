"""The manuscript (index.qmd, _quarto.yml): no hand-typed statistics, every inline key and embed resolvable.

Checks that need a build (``build/results.json``, executed notebooks) skip with a reason when there is none; run
``make report`` first (the pipeline test builds one in a copy of the project). ``MBPM_TEST_BUILD`` points the
checks at another build folder.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
QMD = ROOT / "index.qmd"
KEY_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
INLINE_RE = re.compile(r"(?<!`)`\{python\}[ \t]([^`]+)`")  # Quarto's own pattern: not a ```{python} fence
EMBED_RE = re.compile(r"\{\{<\s*embed\s+([^#\s>]+)#([A-Za-z0-9_-]+)[^>]*>\}\}")
XREF_RE = re.compile(r"(?<![\w\[])@((?:fig|tbl)-[A-Za-z0-9_-]+)")


def build_dir() -> Path:
    return Path(os.environ.get("MBPM_TEST_BUILD", ROOT / "build"))


def need_build() -> Path:
    build = build_dir()
    if not (build / "results.json").is_file():
        pytest.skip(f"no build at {build} (no results.json): run `make report` first")
    return build


# ---------------------------------------------------------------------------------------------------------------
# the hand-typed-statistics rule
# ---------------------------------------------------------------------------------------------------------------
def prose(text: str) -> str:
    """The prose of a .qmd: without front matter, code blocks, inline code, shortcodes, citations, cross-refs,
    HTML comments and URLs. What remains is what an author types."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"\{\{<.*?>\}\}", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\[[^\]]*@[^\]]*\]", "", text)  # [@key; @key2], [see @key, p. 3]
    text = re.sub(r"@[A-Za-z][\w:.-]*", "", text)  # @fig-x, @key
    text = re.sub(r"https?://\S+", "", text)
    return text


# Statistics look like: any decimal number; a test statistic or sample size followed by "(" or a relation and a
# number (t(13), F(5, 20), p = 0.04, n = 14, H = 5); a count of people (65 participants, 12 patients); a
# percentage. Allowed: integers that are not counts of people (years, section numbers, scale anchors such as
# "3 on a 0-10 scale", instrument names such as PROMIS-29 or IL-6, protocol facts such as "8 weekly sessions"),
# version numbers (v2.0), the level of a confidence interval (95% CI) and anything inside citations or inline
# expressions.
FORBIDDEN = [
    ("decimal number", re.compile(r"(?<![\w.])[-−]?\d*\.\d+(?![\w]|\.\d)")),
    ("test statistic", re.compile(
        r"(?<![A-Za-z])(?:t|F|H|U|W|Z|z|r|R2|R²|p|d|g|n|N|df|χ2|χ²|η2|η²|ηp2|η²p|dz|dav)\s*"
        r"(?:\(\s*\d|[=<>≤≥≈]\s*[-−]?\.?\d)")),
    ("count of people", re.compile(
        r"\b\d+\s+(?:\w+\s+)?(?:participants?|patients?|controls?|adults?|people|persons?|subjects?|"
        r"women|men|completers?|dropouts?|individuals?)\b", re.I)),
    ("percentage", re.compile(r"\d\s*%")),
]


def hand_typed_statistics(text: str) -> list[tuple[str, str]]:
    """(kind, matched text) of every hand-typed statistic in a .qmd's prose."""
    body = prose(text)
    body = re.sub(r"\bv\d+(?:\.\d+)+\b", "", body)  # version numbers
    body = re.sub(r"\b(?:90|95|99)\s*%\s*(?=CI\b|confidence)", "", body)  # the level of an interval is a convention
    body = body.replace("*", "").replace("~", "")  # *p* = .., d~z~ = ..
    return [(kind, m.group(0)) for kind, rx in FORBIDDEN for m in rx.finditer(body)]


@pytest.mark.parametrize(
    "text",
    [
        "Oxytocin rose (t(13) = -2.302, p = 0.038).",
        "The effect was F(5, 20) = 24.592.",
        "A total of 65 participants took part.",
        "We analysed 15 MBPM patients.",
        "Eta squared was 0.86.",
        "About 20% of adults.",
        "*p* < .001",
        "d~z~ = 0.68",
        "H = 5.976",
        "with n = 14 pairs",
    ],
)
def test_rule_flags_typed_statistics(text):
    assert hand_typed_statistics(text), f"not flagged: {text!r}"


@pytest.mark.parametrize(
    "text",
    [
        "Chronic pain lasts longer than three months [@treede2019; @breivik2006].",
        "PROMIS-29 v2.0, IL-1β, IL-6, TNF-α, PAM-13, BDI-II and DSM-5 were used in 2019.",
        "Pain of at least 3 on a 0–10 scale; eight weekly sessions of 2 hours; up to 45 minutes a day at −80 °C.",
        "See @fig-flow and @tbl-table1 in section 2.",
        "r with its 95% CI and a 95% confidence interval",
        "Oxytocin rose (*t*(`{python} n('x.df')`) = `{python} num('x.t', 3)`, *p* `{python} pv('x.p')`).",
        "{{< embed build/notebooks/03_baseline.ipynb#tbl-table1 >}}",
    ],
)
def test_rule_allows_words_years_names_and_inline_numbers(text):
    assert hand_typed_statistics(text) == []


def test_no_hand_typed_statistics_in_manuscript():
    found = hand_typed_statistics(QMD.read_text(encoding="utf-8"))
    assert not found, "hand-typed statistics in index.qmd (use inline expressions over results.json): " + repr(found)


# ---------------------------------------------------------------------------------------------------------------
# inline expressions and their results keys
# ---------------------------------------------------------------------------------------------------------------
def inline_expressions(text: str) -> list[str]:
    return [m.group(1).strip() for m in INLINE_RE.finditer(text)]


def setup_cell(text: str) -> str:
    m = re.search(r"```\{python\}\n#\| label: setup\n(.*?)\n```", text, flags=re.S)
    assert m, "index.qmd has no setup cell labelled `setup`"
    return m.group(1)


PREFIX_HELPERS = {"msd", "ftest", "ci"}  # their first argument is a key prefix; the evaluation test covers them


def literal_keys(expr: str) -> set[str]:
    """Results keys named literally in an inline expression (arguments of the setup cell's helpers)."""
    keys = set()
    for node in ast.walk(ast.parse(expr, mode="eval")):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in PREFIX_HELPERS:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and KEY_RE.match(arg.value):
                    keys.add(arg.value)
    return keys


def test_manuscript_has_inline_numbers_and_a_light_setup_cell():
    text = QMD.read_text(encoding="utf-8")
    exprs = inline_expressions(text)
    assert len(exprs) >= 40, "the manuscript should draw its numbers from inline expressions"
    code_cells = re.findall(r"^```\{python\}", text, flags=re.M)
    assert len(code_cells) == 1, "index.qmd runs exactly one (setup) cell; tables and figures are embedded"
    setup = setup_cell(text)
    imports = {n.names[0].name.split(".")[0] for n in ast.walk(ast.parse(setup)) if isinstance(n, ast.Import)}
    froms = {n.module.split(".")[0] for n in ast.walk(ast.parse(setup)) if isinstance(n, ast.ImportFrom)}
    light = {"json", "math", "os", "pathlib", "IPython"}
    assert imports | froms <= light, f"setup cell must stay light (stdlib + IPython only): {imports | froms}"
    assert "results.json" in setup


def test_inline_keys_exist_in_results():
    build = need_build()
    results = json.loads((build / "results.json").read_text(encoding="utf-8"))
    text = QMD.read_text(encoding="utf-8")
    named = set().union(*(literal_keys(e) for e in inline_expressions(text)))
    assert named, "no results keys named in inline expressions"
    missing = sorted(k for k in named if k not in results)
    assert not missing, f"index.qmd names results keys missing from {build / 'results.json'}: {missing}"


def test_every_inline_expression_evaluates_against_the_build(monkeypatch):
    """Run the setup cell as Quarto would and evaluate each inline expression (catches composed keys too)."""
    build = need_build()
    monkeypatch.setenv("MBPM_BUILD_DIR", str(build))
    text = QMD.read_text(encoding="utf-8")
    namespace: dict = {}
    exec(compile(setup_cell(text), "index.qmd#setup", "exec"), namespace)  # noqa: S102 - our own file
    errors = []
    for expr in inline_expressions(text):
        try:
            out = eval(expr, namespace)  # noqa: S307
            out = getattr(out, "data", out)  # IPython Markdown objects carry their text in .data
            if not isinstance(out, str) or not out or "NA" == out:
                errors.append(f"{expr} -> {out!r}")
        except Exception as exc:  # noqa: BLE001 - report every failing expression at once
            errors.append(f"{expr} -> {type(exc).__name__}: {exc}")
    assert not errors, "inline expressions that fail on this build:\n" + "\n".join(errors)


# ---------------------------------------------------------------------------------------------------------------
# embeds, cross-references, project configuration
# ---------------------------------------------------------------------------------------------------------------
def cell_options(source: str) -> dict:
    lines = [ln[3:].strip() for ln in source.splitlines() if ln.startswith("#| ")]
    return yaml.safe_load("\n".join(lines)) or {} if lines else {}


def test_embeds_point_to_executed_notebooks_in_the_build_folder():
    text = QMD.read_text(encoding="utf-8")
    embeds = EMBED_RE.findall(text)
    assert embeds, "index.qmd embeds no tables or figures"
    for path, label in embeds:
        assert path.startswith("build/notebooks/"), f"embed {path}#{label} must use the executed notebook"
        assert label.startswith(("tbl-", "fig-")), f"embed label {label} needs a tbl-/fig- prefix to be cross-referenced"


def test_cross_references_have_a_target():
    text = QMD.read_text(encoding="utf-8")
    labels = {label for _, label in EMBED_RE.findall(text)} | set(re.findall(r"#\|\s*label:\s*(\S+)", text))
    refs = set(XREF_RE.findall(re.sub(r"`[^`]*`", "", text)))
    assert refs, "no @fig-/@tbl- cross-references"
    assert refs <= labels, f"cross-references without target: {sorted(refs - labels)}"


def test_embedded_labels_exist_with_outputs_and_captions():
    build = need_build()
    text = QMD.read_text(encoding="utf-8")
    problems = []
    for path, label in EMBED_RE.findall(text):
        nb_path = build / Path(path).relative_to("build")
        if not nb_path.is_file():
            problems.append(f"{path}: executed notebook missing")
            continue
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if c["cell_type"] == "code"
                 and cell_options("".join(c["source"])).get("label") == label]
        if not cells:
            problems.append(f"{path}#{label}: no cell with this label")
            continue
        cell = cells[0]
        if not cell.get("outputs"):
            problems.append(f"{path}#{label}: cell has no output (embed would be empty)")
        cap = "tbl-cap" if label.startswith("tbl-") else "fig-cap"
        if not cell_options("".join(cell["source"])).get(cap):
            problems.append(f"{path}#{label}: no {cap} on the cell (cross-reference would fail)")
        if label.startswith("tbl-") and cell.get("outputs"):
            data = cell["outputs"][-1].get("data", {})
            if "text/markdown" not in data:
                problems.append(f"{path}#{label}: table is not emitted as Markdown (breaks DOCX/JATS)")
    assert not problems, "\n".join(problems)


def test_quarto_project_never_reexecutes_notebooks():
    cfg = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    assert cfg["project"]["type"] == "manuscript"
    assert cfg["project"]["render"] == ["index.qmd"]
    assert cfg["manuscript"]["article"] == "index.qmd"
    assert cfg["execute"]["enabled"] is False
    assert cfg["execute"].get("freeze") in (False, None), "freeze would keep stale numbers after results change"
    listed = [nb["notebook"] for nb in cfg["manuscript"]["notebooks"]]
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert listed == [f"build/notebooks/{s}.ipynb" for s in sources]
    assert {"html", "docx"} <= set(cfg["format"])
    assert (ROOT / cfg["bibliography"]).is_file() and (ROOT / cfg["csl"]).is_file()


def test_citations_are_in_the_bibliography():
    text = QMD.read_text(encoding="utf-8")
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    entries = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    cited = set()
    for group in re.findall(r"\[([^\]]*@[^\]]*)\]", re.sub(r"`[^`]*`", "", text)):
        cited |= set(re.findall(r"@([A-Za-z][\w:-]*)", group))
    assert cited, "no citations"
    assert cited <= entries, f"cited but not in references.bib: {sorted(cited - entries)}"


# ---------------------------------------------------------------------------------------------------------------
# render (only where Quarto is installed)
# ---------------------------------------------------------------------------------------------------------------
def test_quarto_render(tmp_path):
    exe = shutil.which("quarto")
    if exe is None:
        pytest.skip("quarto is not on PATH (install it from quarto.org or the conda environment to render)")
    need_build()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    if tuple(int(x) for x in version.split(".")[:2]) < (1, 4):
        pytest.skip(f"Quarto {version} has no manuscript projects (needs >= 1.4)")
    proc = subprocess.run([exe, "render"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert (ROOT / "_manuscript" / "index.html").is_file()
    bad = [ln for ln in log.splitlines() if "WARN" in ln and re.search(r"embed|cross|ref|unable", ln, re.I)]
    assert not bad, "Quarto warnings:\n" + "\n".join(bad)
    html = (ROOT / "_manuscript" / "index.html").read_text(encoding="utf-8")
    assert "?@" not in html, "unresolved cross-reference in the rendered article"
    assert "{python}" not in html, "unevaluated inline expression in the rendered article"
