"""The HTML supplementary, built without Quarto: nbconvert pages of the executed notebooks plus an index page.

``build_supplementary(build_dir, out_dir)`` writes into ``out_dir`` (default ``<build_dir>/supplementary``):

* ``notebooks/<name>.html`` for every executed notebook in ``<build_dir>/notebooks``: nbconvert's ``lab`` template,
  outputs shown, each code cell folded into a ``<details>`` element (open it to read the code);
* ``index.html``: links to those pages, the reproduction table (each result the source article reports beside this
  run's value, from ``results.json`` and ``paper_values.csv``), the data-quality summary, the robustness tables and
  the other Markdown tables in ``<build_dir>/tables``, and provenance (git commit, SHA-256 of every raw input file,
  package versions, run date, parameters).

Privacy: real study data are confidential. Unless ``show_rows`` is true the data-quality section shows counts per
file, rule and action only (no record ids, no raw values). Every string that comes from the data or the results
is HTML-escaped before it reaches a page.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import importlib.metadata
import json
import math
import os
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import yaml

from helpers import environment, io
from helpers.paths import source_epoch

__data_files__ = ["paper_values.csv"]

PAPER_VALUES = Path(__file__).with_name("paper_values.csv")
PACKAGES = (
    "python", "numpy", "pandas", "scipy", "statsmodels", "pingouin", "matplotlib", "seaborn", "pandera",
    "pyarrow", "papermill", "nbconvert", "nbformat", "ipykernel", "snakemake", "mbpm-report",
)
NOTEBOOK_TITLES = {
    "01_ingest": "Ingest and validation of the raw files",
    "02_scoring": "Questionnaire scoring",
    "03_baseline": "Baseline comparison: chronic pain vs healthy controls (Table 1)",
    "04_trial_rmanova": "Trial analysis: mixed repeated-measures ANOVA, post hoc tests, robustness (Table 2)",
    "05_discussion_figures": "Figures",
}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.88rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.notice { background: #fff6d6; border-left: 4px solid #e69f00; padding: 0.6rem 0.9rem; }
.muted { color: #666; font-size: 0.9rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
tr.missing td { color: #999; }
"""

FOLD_CSS = """
<style>
details.code-fold { margin: 0.2rem 0 0.4rem 0; }
details.code-fold > summary { cursor: pointer; color: #0072B2; font-size: 0.85rem; font-family: system-ui, sans-serif; }
</style>
"""


# --------------------------------------------------------------------------------------------------------------
# notebooks
# --------------------------------------------------------------------------------------------------------------
FOLD_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block input_group -%}
{%- set tags = cell.metadata.get('tags', []) -%}
<details class="code-fold"><summary>
{%- if 'injected-parameters' in tags -%}Code: parameters of this run
{%- elif 'parameters' in tags -%}Code: default parameters
{%- else -%}Code{%- endif -%}
</summary>
{{ super() }}
</details>
{%- endblock input_group %}
"""


def notebook_html(path: str | Path) -> str:
    """nbconvert HTML (lab template) of an executed notebook: outputs shown, each code cell folded (<details>).

    The fold is a small template extending nbconvert's ``lab`` template, so syntax highlighting and nbconvert's
    own output sanitising stay as they are.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"mbpm_fold.html.j2": FOLD_TEMPLATE})],
        template_file="mbpm_fold.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb)
    return body.replace("</head>", FOLD_CSS + "</head>", 1)


# --------------------------------------------------------------------------------------------------------------
# sections of the index page
# --------------------------------------------------------------------------------------------------------------
def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e6:
            return f"{int(value)}"
        return f"{value:.3f}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"
    return str(value)


def html_table(df: pd.DataFrame, numeric: tuple[str, ...] = ()) -> str:
    """A small escaped HTML table (every cell goes through html.escape)."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = "".join(
            f'<td class="num">{_esc(_fmt(row[c]))}</td>' if c in numeric else f"<td>{_esc(_fmt(row[c]))}</td>"
            for c in df.columns
        )
        cls = ' class="missing"' if "status" in df.columns and row["status"] == "not computed" else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def load_paper_values(path: str | Path = PAPER_VALUES) -> pd.DataFrame:
    """The source article's reported results: key, quantity, paper_value, relation ('=', '<': the paper prints
    only a bound, 'qual': the paper states a direction or significance without a number), paper_text (the paper's
    wording), source (section or table), tolerance (for 'close'), rule (for 'qual': the conditions on this run's
    results under which the claim holds, see :func:`claim_verdict`)."""
    return pd.read_csv(path, dtype={"key": str, "quantity": str, "relation": str, "paper_text": str, "source": str,
                                    "rule": str})


# --------------------------------------------------------------------------------------------------------------
# qualitative claims: a verdict on this run from the rule stated in paper_values.csv
# --------------------------------------------------------------------------------------------------------------
VERDICTS = ("holds", "does not hold", "not testable")
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _operand(token: str, results: dict) -> float | None:
    """A number written in the rule, or the value of a results key (None when absent or not a finite number)."""
    try:
        return float(token)
    except ValueError:
        pass
    value = results.get(token)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def claim_verdict(rule: str, results: dict) -> tuple[str, str]:
    """Verdict of one qualitative claim on ``results``: ``(verdict, evidence)``.

    ``rule`` is a conjunction ``cond & cond & ...``, each ``cond`` being ``<key or number> <op> <key or number>``
    with op one of ``< <= > >=`` and keys those of the results file. The claim **holds** when every condition is
    true, **does not hold** when every operand is computed and some condition is false, and is **not testable**
    when the rule is empty or an operand is missing (a key the run did not compute, or NaN). ``evidence`` lists
    each condition with the values used, e.g. ``t2.bdi_total.mbpm.p_adj = 0.0021 < 0.05: true``.
    """
    if not isinstance(rule, str) or not rule.strip():
        return "not testable", "no rule stated"
    evidence, truth, missing = [], [], []
    for cond in rule.split("&"):
        parts = cond.split()
        if len(parts) != 3 or parts[1] not in _OPS:
            raise ValueError(f"claim rule condition {cond.strip()!r} is not '<operand> <op> <operand>' "
                             f"(op one of {sorted(_OPS)}) in rule {rule!r}")
        left, op, right = parts
        a, b = _operand(left, results), _operand(right, results)
        if a is None or b is None:
            missing.extend(t for t, v in ((left, a), (right, b)) if v is None)
            evidence.append(f"{cond.strip()}: not computed")
            continue
        ok = _OPS[op](a, b)
        truth.append(ok)
        evidence.append(f"{_shown(left, a)} {op} {_shown(right, b)}: {'true' if ok else 'false'}")
    if missing:
        return "not testable", "; ".join(evidence)
    return ("holds" if all(truth) else "does not hold"), "; ".join(evidence)


def _shown(token: str, value: float) -> str:
    """``key = value`` for a results key, the number itself for a number written in the rule."""
    try:
        float(token)
    except ValueError:
        return f"{token} = {value:.4g}"
    return token


def qualitative_claims(results: dict, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every qualitative claim of the paper (``relation == 'qual'`` in paper_values.csv) with its verdict on this
    run (:func:`claim_verdict`): ``claim`` (the paper's wording), ``verdict``, ``rule``, ``evidence``, ``source``."""
    paper = load_paper_values() if paper is None else paper
    qual = paper[paper["relation"] == "qual"]
    rows = []
    for _, p in qual.iterrows():
        rule = p["rule"] if "rule" in p and isinstance(p["rule"], str) else ""
        verdict, evidence = claim_verdict(rule, results)
        rows.append({"claim": p["paper_text"], "verdict": verdict, "rule": rule, "evidence": evidence,
                     "source": p["source"]})
    return pd.DataFrame(rows, columns=["claim", "verdict", "rule", "evidence", "source"])


def claims_markdown(results: dict, paper: pd.DataFrame | None = None) -> str:
    """The qualitative claims as a Markdown table (claim, verdict, source) with the rule stated below it, for
    the manuscript's appendix."""
    q = qualitative_claims(results, paper)
    counts = q["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    table = pd.DataFrame({"Claim of the article": q["claim"], "Verdict on this run": q["verdict"],
                          "Section": q["source"].astype(str)})
    note = (f"*Rule.* Each claim is written as conditions on this run's results (results keys; p-values unadjusted "
            f"unless the key ends in p_adj, {_adjusted_within(results)} within the family): it holds when every "
            "condition is true, "
            "does not hold when one is false, and is not testable when a value was not computed. The conditions and "
            "the values used are listed in the supplementary material. "
            f"Here: {counts['holds']} hold, {counts['does not hold']} do not, {counts['not testable']} not "
            "testable.")
    return table.to_markdown(index=False) + "\n\n" + note + "\n"


def _adjusted_within(results: dict) -> str:
    """The correction behind the ``p_adj`` keys, from the run's ``t2.correction`` (the ``correction`` parameter)."""
    from helpers.tables import correction_name

    return correction_name(results.get("t2.correction", "bonferroni"))


def _claims_summary(claims: pd.DataFrame) -> str:
    counts = claims["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    return (f"On this run {counts['holds']} of {len(claims)} claims hold, {counts['does not hold']} do not and "
            f"{counts['not testable']} are not testable.")


def reproduction_table(results: dict, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each reported result beside this run's value (``results``: the merged results file). A qualitative claim
    (``relation == 'qual'``) gets its verdict as the status (:func:`claim_verdict`)."""
    paper = load_paper_values() if paper is None else paper
    rows = []
    for _, p in paper.iterrows():
        value = results.get(p["key"])
        run = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if run is not None and not math.isfinite(run):
            run = None
        paper_value = float(p["paper_value"]) if pd.notna(p["paper_value"]) else None
        if p.get("relation") == "qual":  # the paper states a direction or significance without a number
            diff = None
            status = claim_verdict(p["rule"] if isinstance(p.get("rule"), str) else "", results)[0]
        elif run is None:
            status = "not computed"
            diff = None
        elif p.get("relation") == "<":  # the paper prints only a bound, e.g. p < 0.001
            diff = None
            status = "close" if paper_value is not None and run < paper_value else "differs"
        else:
            diff = run - paper_value if paper_value is not None else None
            tol = float(p["tolerance"]) if pd.notna(p.get("tolerance")) else None
            status = "close" if diff is not None and tol is not None and abs(diff) <= tol else "differs"
        rows.append({
            "quantity": p["quantity"], "paper (as printed)": p["paper_text"],
            "paper value": f"{p.get('relation', '=')} {_fmt(paper_value)}".lstrip("= ") if paper_value is not None
            else "",
            "this run": run, "difference": diff, "status": status, "source": p["source"], "results key": p["key"],
        })
    return pd.DataFrame(rows)


def data_quality_section(build: Path, show_rows: bool) -> str:
    path = build / "data" / "data_quality.parquet"
    if not path.exists():
        return '<p class="muted">No data-quality table in this build.</p>'
    dq = pd.read_parquet(path)
    if dq.empty:
        return "<p>The ingest step recorded no soft data problems.</p>"
    group_cols = [c for c in ("file", "rule", "action") if c in dq.columns]
    summary = dq.groupby(group_cols, dropna=False).size().reset_index(name="records") if group_cols else None
    parts = [
        f"<p>The ingest step recorded {len(dq)} soft problems (values it kept, corrected or set aside without "
        "stopping). Counts per file, rule and action:</p>"
    ]
    if summary is not None:
        parts.append(html_table(summary, numeric=("records",)))
    if show_rows:
        parts.append("<p><strong>Private review (show_rows = true): the full table, participant level.</strong></p>")
        parts.append(html_table(dq))
    else:
        parts.append(
            '<p class="muted">Participant-level rows (record ids, raw values) are hidden because '
            "<code>show_rows</code> is false; set it to true only for a private review build.</p>"
        )
    return "\n".join(parts)


def markdown_html(text: str) -> str:
    """Markdown (pipe tables included) to HTML, with any raw HTML in the text escaped."""
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table"])(text)


ROBUSTNESS_TABLES = ("tbl-robustness", "tbl-mixedlm", "tbl-rm-univariate")


def table_captions(build: Path) -> dict[str, str]:
    """label -> caption (``tbl-cap``) of every labelled table cell in the build's executed notebooks."""
    captions = {}
    for path in sorted((build / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
            source = "".join(cell.get("source", ""))
            options = [ln[3:] for ln in source.splitlines() if ln.startswith("#| ")]
            if not options:
                continue
            try:
                meta = yaml.safe_load("\n".join(options)) or {}
            except yaml.YAMLError:
                continue
            if isinstance(meta, dict) and str(meta.get("label", "")).startswith("tbl-") and meta.get("tbl-cap"):
                captions[str(meta["label"])] = f"{meta['tbl-cap']} ({path.stem})"
    return captions


def tables_section(build: Path) -> tuple[str, str]:
    """(robustness tables HTML, other tables HTML) from ``<build>/tables/*.md``, captioned from the notebooks."""
    captions = table_captions(build)
    robust, other = [], []
    for path in sorted((build / "tables").glob("*.md")):
        caption = captions.get(path.stem, "")
        block = (f'<h3 id="{_esc(path.stem)}">{_esc(path.stem)}</h3>\n'
                 + (f'<p class="muted">{_esc(caption)}</p>\n' if caption else "")
                 + markdown_html(path.read_text(encoding="utf-8")))
        (robust if path.stem in ROBUSTNESS_TABLES or "robust" in path.stem else other).append(block)
    none = '<p class="muted">None in this build.</p>'
    return ("\n".join(robust) or none), ("\n".join(other) or none)


def revision_section(build: Path, out: Path) -> str:
    """Links to the revision reports of this build and its variants (``make diff``: ``<build>/diff/index.html``)."""
    pages = [build / "diff" / "index.html", *sorted((build / "variants").glob("*/diff/index.html"))]
    def stale(page: Path) -> bool:  # the report was written before the results it compares were rebuilt
        results = page.parent.parent / "results.json"
        return results.is_file() and page.stat().st_mtime < results.stat().st_mtime

    links = [f'<li><a href="{_esc(os.path.relpath(p, out))}">{_esc(p.parent.parent.relative_to(build.parent))}</a>'
             + (" (older than these results: run <code>make diff</code> again)" if stale(p) else "") + "</li>"
             for p in pages if p.is_file()]
    if not links:
        return '<p class="muted">No revision report yet: <code>make diff</code> writes one.</p>'
    return "<p>What changed in the paper against the base build (results, sentences, table cells, figures):</p>" \
        f"<ul>{''.join(links)}</ul>"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit(root: Path) -> str:
    """HEAD commit, with '(uncommitted changes)' when the working tree differs; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")


def package_versions(names: tuple[str, ...] = PACKAGES) -> pd.DataFrame:
    rows = []
    for name in names:
        if name == "python":
            import platform

            rows.append({"package": "python", "version": platform.python_version()})
            continue
        try:
            rows.append({"package": name, "version": importlib.metadata.version(name)})
        except importlib.metadata.PackageNotFoundError:
            rows.append({"package": name, "version": "not installed"})
    return pd.DataFrame(rows)


def run_date(root: Path | None = None) -> str:
    """The date this build stands for, never the wall clock (two runs of the same sources give the same page): see
    :func:`helpers.paths.source_epoch`; "unknown" outside a git checkout without ``SOURCE_DATE_EPOCH``."""
    found = source_epoch(root) if root is not None or os.environ.get("SOURCE_DATE_EPOCH") else None
    if found is None:
        return "unknown (not a git checkout; set SOURCE_DATE_EPOCH)"
    epoch, source = found
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") + f" ({source})"


def variants_section(build: Path) -> str:
    """The analysis-variants comparison (``<build>/variants/comparison.md``, written by ``make variants``)."""
    comparison = build / "variants" / "comparison.md"
    if not comparison.is_file():
        return ('<p class="muted">No variants comparison in this build: run <code>make variants</code>, then '
                "<code>make report</code>.</p>")
    return markdown_html(comparison.read_text(encoding="utf-8"))


def notebook_parameters(build: Path) -> pd.DataFrame:
    """The parameters papermill injected into each executed notebook."""
    rows = []
    for path in sorted((build / "notebooks").glob("*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        for name, value in sorted((meta.get("parameters") or {}).items()):
            rows.append({"notebook": path.stem, "parameter": name, "value": json.dumps(value)})
    return pd.DataFrame(rows, columns=["notebook", "parameter", "value"])


def provenance_section(build: Path, raw_dir: Path, params_path: Path) -> str:
    root = io.project_root()
    raw_rows = [
        {"file": str(p.relative_to(raw_dir)), "bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(raw_dir.rglob("*")) if p.is_file()
    ]
    raw = pd.DataFrame(raw_rows, columns=["file", "bytes", "sha256"])
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.exists() else {}
    params_df = pd.DataFrame([{"parameter": k, "value": json.dumps(v)} for k, v in (params or {}).items()])
    return "\n".join([
        "<table><tbody>",
        f"<tr><th>git commit</th><td><code>{_esc(git_commit(root))}</code></td></tr>",
        f"<tr><th>source date</th><td>{_esc(run_date(root))}</td></tr>",
        f"<tr><th>raw data folder</th><td><code>{_esc(raw_dir.relative_to(root) if raw_dir.is_relative_to(root) else raw_dir)}</code></td></tr>",
        "</tbody></table>",
        "<h3>Raw input files</h3>",
        html_table(raw, numeric=("bytes",)) if raw_rows else '<p class="muted">No raw files found.</p>',
        f"<h3>Default parameters (<code>{_esc(params_path.name)}</code>)</h3>",
        html_table(params_df) if not params_df.empty else '<p class="muted">No parameter file.</p>',
        "<h3>Parameters each notebook ran with</h3>",
        html_table(notebook_parameters(build)),
        "<h3>Package versions (locked in requirements-lock.txt, and installed)</h3>",
        html_table(environment.locked_versions(PACKAGES)),
    ])


# --------------------------------------------------------------------------------------------------------------
# the whole supplementary
# --------------------------------------------------------------------------------------------------------------
def build_show_rows(build: Path, params_file: Path) -> bool:
    """Whether this build is a private-review build: ``show_rows`` as papermill passed it to the executed notebooks
    (any true wins), else the ``show_rows`` entry of the parameter file, else false."""
    values = notebook_parameters(build)
    values = values[values["parameter"] == "show_rows"]["value"]
    if len(values):
        return any(json.loads(v) is True for v in values)
    params = yaml.safe_load(params_file.read_text(encoding="utf-8")) if params_file.exists() else {}
    return bool((params or {}).get("show_rows", False))


def build_supplementary(build_dir: str | Path = "build", out_dir: str | Path | None = None, *,
                        raw_dir: str | Path = "data/raw", params_path: str | Path = "config/params.yaml",
                        show_rows: bool | None = None) -> Path:
    """Write the HTML supplementary for ``build_dir`` into ``out_dir``; returns the index page's path.

    ``show_rows`` defaults to what the build's notebooks ran with (see :func:`build_show_rows`).
    """
    build = io.project_path(build_dir)
    out = io.project_path(out_dir) if out_dir is not None else build / "supplementary"
    raw = io.project_path(raw_dir)
    params_file = io.project_path(params_path)
    if show_rows is None:
        show_rows = build_show_rows(build, params_file)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)

    links = []
    for path in sorted((build / "notebooks").glob("*.ipynb")):
        page = out / "notebooks" / f"{path.stem}.html"
        page.write_text(notebook_html(path), encoding="utf-8")
        title = NOTEBOOK_TITLES.get(path.stem, path.stem)
        links.append(f'<li><a href="notebooks/{_esc(page.name)}">{_esc(path.stem)}</a>: {_esc(title)}</li>')

    results_path = build / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    repro = reproduction_table(results)
    claims = qualitative_claims(results)
    n_done = int((repro["status"] != "not computed").sum())
    robust_html, other_html = tables_section(build)

    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Supplementary material: MBPM trial reproduction</title>
<style>{CSS}</style>
</head>
<body>
<h1>Supplementary material</h1>
<p>Mindfulness-Based Pain Management and salivary oxytocin, cytokines and DHEA-S in chronic pain: a reproducible
re-analysis.</p>
<p class="notice"><strong>Synthetic data.</strong> The data shipped with this compendium are simulated to resemble
the published study; they are not the participants' data. Numbers below describe the simulation unless the real
export was placed in the raw-data folder.</p>

<h2 id="notebooks">Executed notebooks</h2>
<p>Each page is the notebook exactly as the pipeline executed it (code folded: open “Code” to read it).</p>
<ul>
{chr(10).join(links) or '<li class="muted">No executed notebooks in this build.</li>'}
</ul>

<h2 id="reproduction">Reproduction of the reported results</h2>
<p>Each result the source article reports, as printed there, beside the value this run computed (results file
<code>results.json</code>). {n_done} of {len(repro)} reported results are computed by this build. On synthetic data
the values are expected to land near, not on, the printed ones; “close” means within the tolerance listed in
<code>paper_values.csv</code>.</p>
{html_table(repro, numeric=("paper value", "this run", "difference"))}

<h3 id="qualitative-claims">Qualitative claims: do they hold on this run?</h3>
<p>Each claim the article makes without a number is written as conditions on this run's results (results keys;
p-values unadjusted unless the key ends in <code>p_adj</code>, {_esc(_adjusted_within(results))} within the family; rules in the
<code>rule</code> column of <code>paper_values.csv</code>). A claim <em>holds</em> when every condition is true,
<em>does not hold</em> when one is false, and is <em>not testable</em> when a value was not computed.
{_esc(_claims_summary(claims))}</p>
{html_table(claims)}

<h2 id="data-quality">Data quality</h2>
{data_quality_section(build, show_rows)}

<h2 id="robustness">Robustness analyses</h2>
{robust_html}

<h2 id="tables">Other tables</h2>
{other_html}

<h2 id="variants">Analysis variants</h2>
{variants_section(build)}
<h2 id="revision">Revision reports</h2>
{revision_section(build, out)}

<h2 id="provenance">Provenance</h2>
{provenance_section(build, raw, params_file)}
</body>
</html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def read_paper_values_rows(path: str | Path = PAPER_VALUES) -> list[dict]:
    """The paper-values file as a list of dicts (for tests and the manuscript)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
