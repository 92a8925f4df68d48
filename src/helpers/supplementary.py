"""The supplementary material's own pages, written as Markdown for Quarto to render with the article.

``build_supplementary(build_dir, out_dir)`` writes Quarto pages into ``out_dir`` (default
``<build_dir>/supplementary``); ``_quarto.yml`` lists them as manuscript notebooks, so Quarto renders them with the
article's theme beside the executed notebooks' own pages (notebook view, publish profile: ``make publish``):

* ``index.qmd``: what the supplementary holds, links to the notebooks and the other pages;
* ``reproduction.qmd``: each result the source article reports beside this run's value (``results.json``,
  ``paper_values.csv``), and the verdict on each of its qualitative claims;
* ``data-quality.qmd``: the soft problems the ingest step recorded (counts per file, rule and action);
* ``variants.qmd``: the analysis-variants comparison (``make variants``) and the revision reports (``make diff``);
* ``provenance.qmd``: git commit, source date, SHA-256 of every raw input file, parameters, package versions.

Why Markdown written from Python and not a notebook: these pages are tables over the build's files with no
analysis in them; writing them here keeps the computation (claim verdicts, checksums) testable without Quarto.
Every string that comes from the data or the results is escaped for Markdown (:func:`md_text`), so raw HTML or
Markdown in a data value arrives as text. Privacy: unless ``show_rows`` is true the data-quality page shows counts
per file, rule and action only (no record ids, no raw values).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import yaml

from helpers import environment, io
from helpers.claims import VERDICTS, adjusted_within, claim_verdict, load_paper_values, qualitative_claims
from helpers.paths import SOURCE_COMMIT_ENV, source_epoch
from helpers.publish import PAGES  # listed there: the Snakefile reads them without pandas

__data_files__ = ["paper_values.csv"]

PAPER_VALUES = Path(__file__).with_name("paper_values.csv")
PACKAGES = (
    "python", "numpy", "pandas", "scipy", "statsmodels", "pingouin", "matplotlib", "seaborn", "pandera",
    "pyarrow", "papermill", "nbformat", "ipykernel", "snakemake", "mbpm-report",
)
NOTEBOOK_TITLES = {
    "01_ingest": "Ingest and validation of the raw files",
    "02_scoring": "Questionnaire scoring",
    "03_baseline": "Baseline comparison: chronic pain vs healthy controls (Table 1)",
    "04_trial_rmanova": "Trial analysis: mixed repeated-measures ANOVA, post hoc tests, robustness (Table 2)",
    "05_discussion_figures": "Figures",
}

# The style of the hand-made revision report page (helpers.diff writes it outside Quarto, see its docstring); the
# supplementary itself is styled by Quarto's theme and styles.css.
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


# --------------------------------------------------------------------------------------------------------------
# Markdown from data: every value escaped, numbers with a true minus
# --------------------------------------------------------------------------------------------------------------
MINUS = "\u2212"
_NEGATIVE = re.compile(r"(?<![\w.])-(?=\d)")  # a hyphen-minus that is a sign (not IL-6, not 1-5)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|$@~^&\"'-])")
# effect-size and p labels written with an underscore in the data files (d_z, d_av, p_adj): subscripts on the page
_SUBSCRIPT = re.compile(r"\b([dp])\\_(z|av|adj)\b")
KEY_RE = re.compile(r"\b([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\b")  # a results key (t1.il8.p)


def md_text(value) -> str:
    """``value`` as literal Markdown text: every character Pandoc's Markdown could read as markup (HTML tags,
    emphasis, links, math, citations, table pipes) is backslash-escaped, line breaks become spaces, a minus sign
    in front of a number is the true minus (U+2212), and d_z, d_av, p_adj are written with subscripts."""
    text = "" if value is None else str(value)
    text = _NEGATIVE.sub(MINUS, text.replace("\r", " ").replace("\n", " "))
    return _SUBSCRIPT.sub(r"*\1*~\2~", _MD_SPECIAL.sub(r"\\\1", text))


def md_code(value) -> str:
    """``value`` as inline code (results keys, file names, hashes), fenced so that any backtick in it survives."""
    text = "" if value is None else str(value).replace("\n", " ")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else ""


def md_keys(text: str) -> str:
    """Escaped text in which every results key is inline code and >=, <= are ≥, ≤ (claim evidence:
    ``t1.il8.p = 0.012 < 0.05``)."""
    text = "" if text is None else str(text).replace(" >= ", " ≥ ").replace(" <= ", " ≤ ")
    parts = KEY_RE.split(text)
    return "".join(md_code(p) if i % 2 else md_text(p) for i, p in enumerate(parts))


def _fmt(value) -> str:
    """A number for the supplementary's tables: whole numbers as such, else 3 decimals, or scientific notation
    (Pandoc superscript) below 0.001; a true minus; no negative zero."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        text = f"{value}"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e6:
            text = f"{int(value)}"
        elif abs(value) >= 0.001 or value == 0:
            text = f"{value:.3f}"
        else:
            mantissa, exponent = f"{value:.2e}".split("e")
            text = f"{mantissa} × 10^{int(exponent)}^"
    else:
        return str(value)
    if re.fullmatch(r"-0(\.0+)?", text):
        text = text[1:]
    return text.replace("-", MINUS)


def md_table(df: pd.DataFrame, numeric: tuple[str, ...] = (), code: tuple[str, ...] = (),
             keys: tuple[str, ...] = ()) -> str:
    """``df`` as a Markdown pipe table (pandas ``to_markdown``, i.e. tabulate): ``numeric`` columns formatted by
    :func:`_fmt` and right-aligned, ``code`` columns as inline code, ``keys`` columns with results keys as code,
    every other cell escaped by :func:`md_text`; in a ``table-box`` div that scrolls a table too wide for the
    page (styles.css; the table pages use Quarto's full-width layout)."""
    def cell(column, value):
        if column in numeric:
            return _fmt(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else ""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if column in code:
            return md_code(value)
        if column in keys:
            return md_keys(value)
        return md_text(_fmt(value))

    shown = pd.DataFrame({md_text(c): [cell(c, v) for v in df[c].tolist()] for c in df.columns},
                         columns=[md_text(c) for c in df.columns])
    align = ["right" if c in numeric else "left" for c in df.columns]
    table = shown.to_markdown(index=False, disable_numparse=True, colalign=align, tablefmt="pipe")
    return f"::: {{.table-box}}\n{table}\n:::"


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



def data_quality_markdown(build: Path, show_rows: bool) -> str:
    """The data-quality page's body: counts of the soft problems per file, rule and action (the participant-level
    rows only for a private-review build)."""
    path = build / "data" / "data_quality.parquet"
    if not path.exists():
        return "No data-quality table in this build."
    dq = pd.read_parquet(path)
    if dq.empty:
        return "The ingest step recorded no soft data problems."
    group_cols = [c for c in ("file", "rule", "action") if c in dq.columns]
    parts = [f"The ingest step recorded {len(dq)} soft problems (values it kept, corrected or set aside without "
             "stopping). Counts per file, rule and action:"]
    if group_cols:
        summary = dq.groupby(group_cols, dropna=False).size().reset_index(name="records")
        parts.append(md_table(summary, numeric=("records",)))
    if show_rows:
        parts.append("**Private review (`show_rows` = true): the full table, participant level.**")
        parts.append(md_table(dq))
    else:
        parts.append("Participant-level rows (record ids, raw values) are hidden because `show_rows` is false; set "
                     "it to true only for a private review build.")
    return "\n\n".join(parts)


def revision_section(build: Path, out: Path) -> str:
    """Links (Markdown) to the revision reports of this build and its variants (``make diff``:
    ``<build>/diff/index.html``), relative to the page folder ``out``. The published site carries them
    (``_quarto-publish.yml`` lists them as resources), so the links resolve there too."""
    pages = [build / "diff" / "index.html", *sorted((build / "variants").glob("*/diff/index.html"))]

    def stale(page: Path) -> bool:  # the report was written before the results it compares were rebuilt
        results = page.parent.parent / "results.json"
        return results.is_file() and page.stat().st_mtime < results.stat().st_mtime

    links = [f"- [{md_text(p.parent.parent.relative_to(build.parent))}]({os.path.relpath(p, out)})"
             + (" (older than these results: run `make diff` again)" if stale(p) else "")
             for p in pages if p.is_file()]
    if not links:
        return "No revision report yet: `make diff` writes one."
    return ("What changed in the paper against the base build (results, sentences, table cells, figures):\n\n"
            + "\n".join(links))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit(root: Path) -> str:
    """HEAD commit, with '(uncommitted changes)' when the working tree differs; 'unknown' outside git. For the
    exported sources of a git ref (``$MBPM_SOURCE_COMMIT``), that commit."""
    if os.environ.get(SOURCE_COMMIT_ENV):
        return f"{os.environ[SOURCE_COMMIT_ENV]} (exported with git archive)"
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" (uncommitted changes)" if dirty.stdout.strip() else "")



def run_date(root: Path | None = None) -> str:
    """The date this build stands for, never the wall clock (two runs of the same sources give the same page): see
    :func:`helpers.paths.source_epoch`; "unknown" outside a git checkout without ``SOURCE_DATE_EPOCH``."""
    found = source_epoch(root) if root is not None or os.environ.get("SOURCE_DATE_EPOCH") else None
    if found is None:
        return "unknown (not a git checkout; set SOURCE_DATE_EPOCH)"
    epoch, source = found
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") + f" ({source})"



_RAW_HTML = re.compile(r"<(?=[A-Za-z/!?])")


def variants_markdown(build: Path) -> str:
    """The analysis-variants comparison (``<build>/variants/comparison.md``, Markdown written by
    :mod:`helpers.variants`), with anything that would read as raw HTML escaped."""
    comparison = build / "variants" / "comparison.md"
    if not comparison.is_file():
        return "No variants comparison in this build: run `make variants`, then `make publish`."
    text = comparison.read_text(encoding="utf-8")
    text = re.sub(r"^#", "###", text, flags=re.M)  # its headings sit under the page's
    return _RAW_HTML.sub(r"\\<", text)


def notebook_parameters(build: Path) -> pd.DataFrame:
    """The parameters papermill injected into each executed notebook."""
    rows = []
    for path in sorted((build / "notebooks").glob("*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        for name, value in sorted((meta.get("parameters") or {}).items()):
            rows.append({"notebook": path.stem, "parameter": name, "value": json.dumps(value)})
    return pd.DataFrame(rows, columns=["notebook", "parameter", "value"])



def provenance_markdown(build: Path, raw_dir: Path, params_path: Path) -> str:
    """The provenance page's body: commit, source date, raw files with their SHA-256, parameters, packages."""
    root = io.project_root()
    raw_rows = [{"file": str(p.relative_to(raw_dir)), "bytes": p.stat().st_size, "SHA-256": sha256(p)}
                for p in sorted(raw_dir.rglob("*")) if p.is_file()]
    raw = pd.DataFrame(raw_rows, columns=["file", "bytes", "SHA-256"])
    params = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.exists() else {}
    params_df = pd.DataFrame([{"parameter": k, "value": json.dumps(v)} for k, v in (params or {}).items()],
                             columns=["parameter", "value"])
    shown_raw = raw_dir.relative_to(root) if raw_dir.is_relative_to(root) else raw_dir.name
    about = pd.DataFrame([
        {"what": "git commit", "value": git_commit(root)},
        {"what": "source date", "value": run_date(root)},
        {"what": "raw data folder", "value": str(shown_raw)},
    ])
    return "\n\n".join([
        md_table(about),
        "## Raw input files",
        md_table(raw, numeric=("bytes",), code=("file", "SHA-256")) if raw_rows else "No raw files found.",
        f"## Default parameters ({md_code(params_path.name)})",
        md_table(params_df, code=("parameter", "value")) if not params_df.empty else "No parameter file.",
        "## Parameters each notebook ran with",
        md_table(notebook_parameters(build), code=("parameter", "value")),
        "## Package versions (locked in `requirements-lock.txt`, and installed)",
        md_table(environment.locked_versions(PACKAGES)),
    ])


def build_show_rows(build: Path, params_file: Path) -> bool:
    """Whether this build is a private-review build: ``show_rows`` as papermill passed it to the executed notebooks
    (any true wins), else the ``show_rows`` entry of the parameter file, else false."""
    values = notebook_parameters(build)
    values = values[values["parameter"] == "show_rows"]["value"]
    if len(values):
        return any(json.loads(v) is True for v in values)
    params = yaml.safe_load(params_file.read_text(encoding="utf-8")) if params_file.exists() else {}
    return bool((params or {}).get("show_rows", False))


def _page(title: str, body: str, *, full: bool = False) -> str:
    """A Quarto page: YAML front matter (title; ``full``: Quarto's full-width layout, for pages of wide tables) and
    the body."""
    meta = {"title": title, **({"page-layout": "full"} if full else {})}
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n\n" + body.strip() + "\n"


SYNTHETIC_NOTICE = """::: {.callout-warning}
## Synthetic data
The data shipped with this compendium are simulated to resemble the published study; they are not the
participants' data. Numbers here describe the simulation unless the real export was placed in the raw-data folder.
:::"""


def index_markdown(build: Path) -> str:
    """The supplementary's first page: what it holds, with links to every notebook page and every other page.

    The notebooks' pages are Quarto's notebook view (``<name>-preview.html`` beside each executed notebook); the
    publish profile renders them with these pages (``make publish``).
    """
    notebooks = sorted((build / "notebooks").glob("*.ipynb"))
    rel = os.path.relpath(build / "notebooks", build / "supplementary")
    listed = "\n".join(f"- [{md_text(NOTEBOOK_TITLES.get(p.stem, p.stem))}]({rel}/{p.stem}-preview.html) "
                       f"({md_code(p.name)}; [download the notebook]({rel}/{p.name}))" for p in notebooks)
    pages = "\n".join(f"- [{title}]({stem}.qmd)" for stem, title in PAGES.items() if stem != "index")
    return f"""Mindfulness-Based Pain Management and salivary oxytocin, cytokines and DHEA-S in chronic pain: a
reproducible re-analysis. [Back to the article](../../index.qmd).

{SYNTHETIC_NOTICE}

## Executed notebooks

Each notebook exactly as the pipeline executed it, with its outputs; every table and figure of the article links
to the notebook that made it.

{listed or "No executed notebooks in this build."}

## Other pages

{pages}
"""


def reproduction_markdown(results: dict) -> str:
    """The reproduction page's body: every reported result beside this run's, and the qualitative claims."""
    repro = reproduction_table(results)
    claims = qualitative_claims(results)
    n_done = int((repro["status"] != "not computed").sum())
    return f"""Each result the source article reports, as printed there, beside the value this run computed (results
file `results.json`). {n_done} of {len(repro)} reported results are computed by this build. On synthetic data the
values are expected to land near, not on, the printed ones; "close" means within the tolerance listed in
`paper_values.csv`.

{md_table(repro, numeric=("this run", "difference"), code=("results key",))}

## Qualitative claims: do they hold on this run? {{#qualitative-claims}}

Each claim the article makes without a number is written as conditions on this run's results (results keys;
p-values unadjusted unless the key ends in `p_adj`, {adjusted_within(results)} within the family; rules in the `rule` column of
`paper_values.csv`). A claim *holds* when every condition is true, *does not hold* when one is false, and is *not
testable* when a value was not computed. {md_text(_claims_summary(claims))}

{md_table(claims.drop(columns=["rule"]), keys=("evidence",))}
"""


def build_supplementary(build_dir: str | Path = "build", out_dir: str | Path | None = None, *,
                        raw_dir: str | Path = "data/raw", params_path: str | Path = "config/params.yaml",
                        show_rows: bool | None = None) -> Path:
    """Write the supplementary's Quarto pages (:data:`PAGES`) for ``build_dir`` into ``out_dir`` (default
    ``<build_dir>/supplementary``); returns the path of ``index.qmd``. Quarto renders them (``_quarto.yml``).

    ``show_rows`` defaults to what the build's notebooks ran with (see :func:`build_show_rows`). A page whose
    text is unchanged is not rewritten, so Quarto and Snakemake see no change.
    """
    build = io.project_path(build_dir)
    out = io.project_path(out_dir) if out_dir is not None else build / "supplementary"
    raw = io.project_path(raw_dir)
    params_file = io.project_path(params_path)
    if show_rows is None:
        show_rows = build_show_rows(build, params_file)
    results_path = build / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    bodies = {
        "index": index_markdown(build),
        "reproduction": reproduction_markdown(results),
        "data-quality": data_quality_markdown(build, show_rows),
        "variants": "## Analysis variants\n\n" + variants_markdown(build) + "\n\n## Revision reports\n\n"
                    + revision_section(build, out),
        "provenance": provenance_markdown(build, raw, params_file),
    }
    out.mkdir(parents=True, exist_ok=True)
    for stem, title in PAGES.items():
        path = out / f"{stem}.qmd"
        text = _page(title, bodies[stem], full=stem != "index")
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return out / "index.qmd"


def read_paper_values_rows(path: str | Path = PAPER_VALUES) -> list[dict]:
    """The paper-values file as a list of dicts (for tests and the manuscript)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
