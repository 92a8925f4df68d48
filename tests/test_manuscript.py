"""The manuscript (index.qmd, _quarto.yml): no hand-typed statistics, every results shortcode and embed resolvable.

Checks that need a build (``build/results.json``, executed notebooks) skip with a reason when there is none; run
``make report`` first (the pipeline test builds one in a copy of the project). ``MBPM_TEST_BUILD`` points the
checks at another build folder.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
QMD = ROOT / "index.qmd"
KEY_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
INLINE_RE = re.compile(r"(?<!`)`\{python\}[ \t]([^`]+)`")  # Quarto's inline code: not a ```{python} fence
# The article's numbers: shortcodes of _extensions/results (see results.lua for what each one prints).
SHORTCODE_RE = re.compile(
    r"\{\{<\s*(n|num|pv|pes|msd|ci|ftest|sig|rose|cmp|word|stat|count|fold|share)\s+([^>]*?)\s*>\}\}")
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
        "Oxytocin rose (*t*({{< n x.df >}}) = {{< num x.t 3 >}}, *p* {{< pv x.p >}}).",
        "{{< embed build/notebooks/03_baseline.ipynb#tbl-table1 >}}",
    ],
)
def test_rule_allows_words_years_names_and_inline_numbers(text):
    assert hand_typed_statistics(text) == []


def test_no_hand_typed_statistics_in_manuscript():
    found = hand_typed_statistics(QMD.read_text(encoding="utf-8"))
    assert not found, "hand-typed statistics in index.qmd (use inline expressions over results.json): " + repr(found)


# ---------------------------------------------------------------------------------------------------------------
# results shortcodes and their keys
# ---------------------------------------------------------------------------------------------------------------
def shortcodes(text: str) -> list[tuple[str, list[str]]]:
    """(name, arguments) of every results shortcode in the text."""
    # in the front matter (the abstract) a pattern's `*` is escaped (`\*`): metadata is Markdown before shortcodes
    return [(m.group(1), m.group(2).replace("\\*", "*").split()) for m in SHORTCODE_RE.finditer(text)]


def keys_read(name: str, args: list[str]) -> set[str]:
    """The results keys a shortcode reads (patterns of ``count`` aside), as results.lua documents them."""
    if name in ("n", "num", "pv", "pes", "sig", "rose"):
        return {args[0]}
    if name == "cmp":
        return set(args[:2])
    if name == "msd":
        return {f"{args[0]}.{args[1]}_mean", f"{args[0]}.{args[1]}_sd"}
    if name == "ci":
        return {f"{args[0]}.ci_low", f"{args[0]}.ci_high"}
    if name == "ftest":
        return {f"{args[0]}.{s}" for s in ("df1", "df2", "f", "p")}
    if name == "stat":
        return {f"{args[0]}.test", f"{args[0]}.stat"}
    if name == "word":
        return {args[0]}
    if name == "count":
        return {args[2]} if len(args) == 3 and KEY_RE.match(args[2]) else set()
    if name == "fold":
        return set(args)
    if name == "share":  # a count key or a pattern; a total; [noun]; [below x]
        below = {args[-1]} if len(args) >= 4 and args[-2] == "below" and KEY_RE.match(args[-1]) else set()
        return ({args[0]} if "*" not in args[0] else set()) | ({args[1]} if KEY_RE.match(args[1]) else set()) | below
    raise AssertionError(name)


def glob_keys(pattern: str, keys) -> list[str]:
    rx = re.compile("^" + re.escape(pattern).replace(r"\*", "[^.]+") + "$")
    return [k for k in keys if rx.match(k)]


def test_manuscript_draws_its_numbers_from_results_without_a_kernel():
    """Numbers come from build/results.json through shortcodes: no code cell, no inline Python, no kernel."""
    text = QMD.read_text(encoding="utf-8")
    assert len(shortcodes(text)) >= 40, "the manuscript should draw its numbers from results shortcodes"
    assert not re.findall(r"^```\{", text, flags=re.M), "index.qmd runs no code: tables and figures are embedded"
    assert not INLINE_RE.findall(text), "inline `{python}` starts a kernel per format: use {{< num key >}} & co."
    front = re.match(r"\A---\n(.*?)\n---\n", text, flags=re.S)
    assert front and not {"jupyter", "engine"} & set(yaml.safe_load(front.group(1))), "no kernel for the article"
    for name, args in shortcodes(text):
        for key in keys_read(name, args):
            assert KEY_RE.match(key), f"{{{{< {name} {' '.join(args)} >}}}}: {key!r} is not a results key"


def test_shortcode_keys_exist_in_results():
    build = need_build()
    results = json.loads((build / "results.json").read_text(encoding="utf-8"))
    text = QMD.read_text(encoding="utf-8")
    missing = sorted({k for name, args in shortcodes(text) for k in keys_read(name, args)} - set(results))
    assert not missing, f"index.qmd reads results keys missing from {build / 'results.json'}: {missing}"
    for name, args in shortcodes(text):
        if name == "count" or (name == "share" and "*" in args[0]):
            assert glob_keys(args[0], results), f"{{{{< {name} {args[0]} >}}}} matches no results key"


def test_words_have_an_entry_for_every_value_the_build_gives():
    """`word` and `stat` look string results up in _quarto.yml's results-words tables."""
    build = need_build()
    results = json.loads((build / "results.json").read_text(encoding="utf-8"))
    words = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))["results-words"]
    for name, args in shortcodes(QMD.read_text(encoding="utf-8")):
        if name == "word":
            assert str(results[args[0]]) in words[args[1]], f"results-words.{args[1]} lacks {results[args[0]]!r}"
        if name == "stat":
            assert str(results[f"{args[0]}.test"]) in words["test-letter"]


def test_words_cover_every_choice_the_parameters_allow(config):
    """Every correction, test and Levene centring a parameter or Levene's rule can choose has its words."""
    words = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))["results-words"]
    assert {"bonferroni", "holm"} <= set(words["correction"]) and {"bonferroni", "holm"} <= set(
        words["correction-adjective"])
    assert config["correction"] in words["correction"]
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    for method, key in words["correction-citation"].items():
        assert f"{{{key}," in bib, f"results-words.correction-citation.{method}: {key} is not in references.bib"
    assert {"ANOVA", "Kruskal-Wallis"} <= set(words["test-letter"]) == set(words["test-name"])
    assert {"mean", "median"} <= set(words["levene-centre"])


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
    # the executed notebooks travel with the article (MECA), in pipeline order, as resources of the default profile
    # `full` (every render without --profile). Document-level `resources:`, not `manuscript: resources:`: Quarto
    # resolves a project-level resource as a `**/` glob over the whole project folder, .venv/ included (about 1 s
    # of CPU per resource and render); a document-level one is a path relative to index.qmd.
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert cfg["profile"]["default"] == "full" and "resources" not in cfg["manuscript"]
    full = yaml.safe_load((ROOT / "_quarto-full.yml").read_text(encoding="utf-8"))
    assert full["resources"] == [f"build/notebooks/{s}.ipynb" for s in sources]
    for name, profile in (("_quarto.yml", cfg), ("_quarto-full.yml", full)):
        assert "resources" not in profile.get("project", {}) and "resources" not in profile.get("manuscript", {}), \
            f"{name}: a project-level resource makes Quarto walk the whole project folder on every render"
    assert not any("*" in r or r.startswith("/") for r in full["resources"]), \
        "Quarto copies resources literally into the MECA bundle"
    preview = yaml.safe_load((ROOT / "_quarto-preview.yml").read_text(encoding="utf-8"))
    assert preview == {"project": {"output-dir": "build/preview"}}
    assert cfg["manuscript"]["notebooks"] == [] and cfg["format"]["html"]["notebook-view"] is False
    assert {"html", "docx", "jats"} <= set(cfg["format"])
    assert (ROOT / cfg["bibliography"]).is_file() and (ROOT / cfg["csl"]).is_file()
    assert (ROOT / cfg["format"]["docx"]["reference-doc"]).is_file()


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
# scholarly metadata and the slips a reader saw once
# ---------------------------------------------------------------------------------------------------------------
def front_matter() -> dict:
    return yaml.safe_load(re.match(r"\A---\n(.*?)\n---\n", QMD.read_text(encoding="utf-8"), flags=re.S).group(1))


def test_abstract_is_front_matter_and_types_no_statistic():
    """`abstract:` in the front matter (the JATS gets <abstract>), not a body heading; its prose obeys the rule."""
    abstract = front_matter()["abstract"]
    assert "**Background.**" in abstract and "**Conclusions.**" in abstract
    assert not re.search(r"^#+\s*Abstract", QMD.read_text(encoding="utf-8"), flags=re.M)
    assert not hand_typed_statistics("---\n---\n" + abstract)
    assert len(shortcodes(abstract)) >= 10


def _cff_person(p: dict) -> tuple:
    return p.get("given-names"), p.get("family-names"), p.get("affiliation"), p.get("orcid")


def _qmd_person(a: dict) -> tuple:
    name = a["name"]
    orcid = a.get("orcid")
    return (name["given"], name["family"], "; ".join(x["name"] for x in a.get("affiliations", [])) or None,
            f"https://orcid.org/{orcid}" if orcid else None)


def test_citation_cff_authors_are_the_articles():
    """One source: index.qmd's authors (names, affiliations, ORCID iDs); CITATION.cff repeats them exactly, for the
    software and its preferred citation, and carries the release metadata."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    article = [_qmd_person(a) for a in front_matter()["author"]]
    assert [_cff_person(p) for p in cff["authors"]] == article
    assert [_cff_person(p) for p in cff["preferred-citation"]["authors"]] == article
    assert cff["preferred-citation"]["title"] == front_matter()["title"]
    assert {"repository-code", "date-released", "version", "license"} <= set(cff)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))


def test_methods_name_the_libraries_the_code_imports():
    """Every library the Software paragraph names is imported by the package, and the main ones are named."""
    text = QMD.read_text(encoding="utf-8")
    software = re.search(r"\*Software\.\*(.*?)\n\n", text, flags=re.S).group(1)
    imports = set()
    for path in (ROOT / "src" / "helpers").rglob("*.py"):
        imports |= set(re.findall(r"^(?:import|from) (\w+)", path.read_text(encoding="utf-8"), flags=re.M))
    named = {"pandas": "pandas", "NumPy": "numpy", "pandera": "pandera", "SciPy": "scipy",
             "statsmodels": "statsmodels", "pingouin": "pingouin", "seaborn": "seaborn", "matplotlib": "matplotlib"}
    for word, module in named.items():
        assert word in software, f"the Software paragraph does not name {word}"
        assert module in imports, f"the Software paragraph names {word}, which src/helpers never imports"


def test_generated_counts_are_written_as_words():
    """Counts that end a sentence's meaning go through {{< share >}} ("all four", "none of them"), never
    "4 cytokines out of four" or "for 0 of them" (tests/test_formatting.py holds the word rule for every count)."""
    text = QMD.read_text(encoding="utf-8")
    assert not re.search(r"\{\{<\s*n [^>]*>\}\}\s+(?:\w+\s+)?(?:out )?of (?:them|four|the)", text)
    assert "{{< share fig.dz.mbpm.cytokines_falling 4 cytokines >}}" in text


def test_every_embedded_figure_has_alt_text_and_a_caption_for_readers():
    """fig-alt on every figure cell of the notebooks; captions speak to readers (no results keys, no code)."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            src = "".join(cell["source"])
            if re.search(r"^#\| label: fig-", src, flags=re.M):
                assert re.search(r"^#\| fig-alt: \S", src, flags=re.M), f"{path.name}: a figure without fig-alt"
            for cap in re.findall(r"^#\| (?:fig|tbl)-cap: (.*)$", src, flags=re.M):
                assert "`" not in cap and "results key" not in cap and "_" not in cap, f"{path.name}: {cap}"


def test_no_cell_of_an_executed_notebook_shows_a_bare_python_value():
    """What a notebook page shows is chosen: Markdown, a table, a figure. A cell whose last line happens to return a
    value shows its bare repr instead (``res.add(...)`` once returned its value: 'bonferroni' under a cell of notebook
    04; ``res.save()`` showed "PosixPath('build/results/03_baseline.json')")."""
    build = need_build()
    bare = []
    for path in sorted((build / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "execute_result" and set(out["data"]) == {"text/plain"}:
                    bare.append(f"{path.name} [{cell.get('execution_count')}]: {''.join(out['data']['text/plain'])[:60]}")
    assert not bare, bare
