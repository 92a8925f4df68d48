"""What changed in the paper between two builds: results keys, article sentences, table cells and figures.

Authors revise (a corrected data export, a reviewer's variant, a changed parameter) and must then say what moved.
``compare(base, new)`` answers at the level a reader sees:

* every results key (``results.json``) whose value changed: old, new, relative change; keys added or removed;
  flagged first: a p-like value that crossed alpha, a value whose sign flipped (``rose`` becomes ``fell``), a
  text value that changed (e.g. the test Table 1 chose);
* every sentence of the rendered article (Quarto HTML) whose text changed, old and new side by side with the
  changed numbers highlighted; sentences whose conclusion word flipped ("significant", "rose", ...) first;
* every table cell that changed, as printed (``tables/<label>.md``), plus a count of full-precision cells that
  changed (``tables/<label>.parquet``);
* every figure (PNG) whose pixels changed, with the share of pixels that differ and a picture of where.

A build is a build folder (``build/``, ``build/variants/<name>/``, a snapshot ``build/previous/`` written by
:func:`snapshot`) or a git ref, whose committed sources are exported (``git archive``) into
``build/.diff-base/<sha>/`` and built there with the same pipeline (Snakemake + papermill; Quarto when on PATH).

Libraries do the parts that are not new: difflib aligns sentences, rows and words, BeautifulSoup reads the
article's HTML and the tables' Markdown (rendered by mistune), pandas compares the full-precision tables, Pillow
and numpy compare pixels. Written here by hand, because no well-kept library does it: deciding which build parts
correspond, splitting article paragraphs into sentences (rule-based: nltk's splitter needs a model download), the
conclusion flags and the report pages.

Command line: ``mbpm diff [--base BASE] [--new build] [--variant NAME]``; see :func:`cli`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from helpers.paths import SOURCE_COMMIT_ENV, project_path, project_root

SNAPSHOT_DIR = "build/snapshot"  # the author's snapshot (`make snapshot`): kept until the author takes another
AUTO_DIR = "build/previous"  # the build before the last change, kept automatically by `make report` (rotation)
LAST_DIR = "build/.last"  # the latest build, kept by `mbpm snapshot --rotate` to tell whether the next one changed
KINDS = {"author": "your snapshot (make snapshot)", "auto": "kept automatically by make report"}
SNAPSHOT_INFO = "snapshot.json"  # what a snapshot kept: the build, when its results were written, the commit
SCRATCH_DIR = "build/.diff-base"  # git refs are built here, one folder per commit
REPORT_DIR = "diff"  # inside the new build: <new build>/diff/index.html, report.md, changes.json
ARTICLE_DIR = "_article"  # an article rendered by this module for a build that has none: <build>/_article/
DEFAULT_ALPHA = 0.05
MISSING = "(absent)"  # shown for the value of a key, table or figure one build does not have

# Words whose flip changes a conclusion (what index.qmd's sig(), rose() and cmp() write, and their kin). A changed
# sentence containing a changed word from this list is flagged before the sentences where only numbers moved.
CONCLUSION_WORDS = frozenset({
    "significant", "not", "non-significant", "nonsignificant", "rose", "fell", "increased", "decreased",
    "higher", "lower", "improved", "worsened", "larger", "smaller", "more", "less", "positive", "negative",
    "survives", "survived", "yes", "no",
})
# Abbreviations after which a full stop does not end a sentence (lower case, without the final dot).
ABBREVIATIONS = frozenset({"e.g", "i.e", "vs", "al", "cf", "approx", "fig", "figs", "no", "ca", "resp", "eq"})
TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d]+|\s+|.", re.UNICODE)
NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")


# --------------------------------------------------------------------------------------------------------------
# where a build's parts are
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Build:
    """The parts of one build that the report compares. ``article`` and ``figures`` may be absent."""

    label: str  # how the report names it (a path relative to the project, or "git <ref> (<sha>)")
    folder: Path
    figures: Path | None = None
    article: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def results(self) -> Path:
        return self.folder / "results.json"

    @property
    def tables(self) -> Path:
        return self.folder / "tables"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project_root()))
    except (ValueError, FileNotFoundError):
        return str(path)


def _project_of(folder: Path) -> tuple[Path, dict] | None:
    """(project folder, its parameters) when ``folder`` is that project's build_dir (``build/`` of a checkout)."""
    parent = folder.resolve().parent
    params = parent / "config" / "params.yaml"
    if not params.is_file():
        return None
    config = yaml.safe_load(params.read_text(encoding="utf-8")) or {}
    if (parent / config.get("build_dir", "build")).resolve() != folder.resolve():
        return None
    return parent, config


def locate(folder: str | Path, label: str | None = None) -> Build:
    """The parts of the build in ``folder``: results, tables, figures (PNG) and the rendered article.

    Figures: ``<folder>/figures`` (variants, snapshots), else the project's ``figures_dir`` when ``folder`` is its
    ``build_dir``. Article: ``<folder>/_manuscript/index.html`` (snapshots), ``<folder>/_article/index.html``
    (rendered by :func:`render_article`), else the project's ``_manuscript/index.html`` for its ``build_dir``; an
    article older than the build's ``results.json`` is stale and not used (a note says so).
    """
    folder = project_path(folder)
    if not (folder / "results.json").is_file():
        raise FileNotFoundError(
            f"{_shown(folder)}: not a build folder (no results.json in it); run `make report` (or `make variants`) "
            "first, or give a git ref or another build folder as BASE"
        )
    if label is None and (folder / SNAPSHOT_INFO).is_file():
        about = json.loads((folder / SNAPSHOT_INFO).read_text(encoding="utf-8"))
        kind = KINDS.get(about.get("kind"), "snapshot")
        made = f", made {about['made']}" if about.get("made") else ""
        label = f"{_shown(folder)} ({kind}{made}: {about.get('build')} with results of " \
                f"{about.get('results_written')}, commit {about.get('commit')})"
    build = Build(label or _shown(folder), folder)
    project = _project_of(folder)
    figures = [folder / "figures"]
    articles = [folder / "_manuscript" / "index.html", folder / ARTICLE_DIR / "index.html"]
    if project is not None:
        figures.append(project[0] / project[1].get("figures_dir", "figures"))
        articles.append(project[0] / "_manuscript" / "index.html")
    build.figures = next((f for f in figures if f.is_dir()), None)
    results_time = build.results.stat().st_mtime
    for article in sorted((a for a in articles if a.is_file()), key=lambda a: -a.stat().st_mtime):
        if article.stat().st_mtime >= results_time:
            build.article = article
            break
        build.notes.append(f"{build.label}: the rendered article {_shown(article)} is older than results.json "
                           "(stale), not used")
    return build


# --------------------------------------------------------------------------------------------------------------
# results keys
# --------------------------------------------------------------------------------------------------------------
@dataclass
class KeyChange:
    key: str
    old: object
    new: object
    description: str = ""
    flags: list[str] = field(default_factory=list)

    @property
    def relative_change(self) -> float | None:
        """(new - old) / |old| for two finite numbers with old != 0, else None."""
        if _number(self.old) and _number(self.new) and self.old != 0:
            return (self.new - self.old) / abs(self.old)
        return None


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b or (_number(a) and _number(b) and a == b)


def is_p_key(key: str) -> bool:
    """Whether a results key holds a p-value (or an FDR q-value): last segment p, q, p_*, *_p, or a ``p`` segment
    inside the key (``robust.p.<finding>.<check>``)."""
    segments = key.split(".")
    last = segments[-1]
    return last in ("p", "q") or last.startswith("p_") or last.endswith("_p") or "p" in segments[1:-1]


def load_results(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{_shown(path)}: not valid JSON ({exc})") from exc


def load_descriptions(folder: Path) -> dict[str, str]:
    """key -> description from ``results_keys.csv`` (empty when the build has none)."""
    import csv

    path = folder / "results_keys.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["key"]: row.get("description", "") for row in csv.DictReader(fh)}


def diff_results(old: dict, new: dict, alpha: float = DEFAULT_ALPHA,
                 descriptions: dict[str, str] | None = None) -> list[KeyChange]:
    """Every key whose value differs (exactly: same inputs give byte-identical results), added or removed.

    Flagged changes come first (p crossed alpha, sign flipped, text value changed, became or stopped being a
    number), then the others; by key within each group.
    """
    descriptions = descriptions or {}
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, MISSING), new.get(key, MISSING)
        if key in old and key in new and _same(a, b):
            continue
        change = KeyChange(key, a, b, descriptions.get(key, ""))
        if key not in old:
            change.flags.append("added")
        elif key not in new:
            change.flags.append("removed")
        elif _number(a) and _number(b):
            if is_p_key(key) and (a < alpha) != (b < alpha):
                change.flags.append(f"p crossed {alpha:g}: {'now significant' if b < alpha else 'no longer significant'}")
            if a * b < 0:
                change.flags.append("sign flipped")
        elif isinstance(a, str) or isinstance(b, str) or isinstance(a, bool) or isinstance(b, bool):
            change.flags.append("text value changed")
        else:
            change.flags.append("became a number" if _number(b) else "no longer a number")
        changes.append(change)
    return sorted(changes, key=lambda c: (not c.flags or c.flags in (["added"], ["removed"]), c.key))


# --------------------------------------------------------------------------------------------------------------
# the article's sentences
# --------------------------------------------------------------------------------------------------------------
SKIPPED = ("table", "pre", "code", "script", "style", "nav", "svg", "img")


def article_paragraphs(path: Path) -> list[str]:
    """Text blocks of a rendered Quarto article's body (paragraphs, list items, headings, captions), in order.

    Tables are left out (compared cell by cell), and so are code, navigation, the reference list and the outputs
    embedded from the notebooks (``quarto-embed-nb-cell``: tables with their notes and figures, compared from the
    build's ``tables/`` and figures, which for a variant are its own while the article embeds the default build's
    notebooks); the title block (date, authors) lies outside the body Quarto writes in
    ``<main id="quarto-document-content">``.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    body = soup.find(id="quarto-document-content") or soup.find("main") or soup.body or soup
    for tag in body.find_all(SKIPPED):
        tag.decompose()
    for tag in body.find_all(id="refs") + body.find_all(class_="quarto-embed-nb-cell"):
        tag.decompose()
    blocks = []
    for tag in body.find_all(["p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "dt", "dd"]):
        if tag.find(["p", "li"]):  # a list item holding paragraphs: its paragraphs are taken one by one
            continue
        text = re.sub(r"\s+", " ", tag.get_text("")).strip()
        if text:
            blocks.append(text)
    return blocks


def split_sentences(text: str) -> list[str]:
    """A paragraph's sentences: a split after . ! ? (and closing quotes or brackets) followed by white space and
    an upper-case letter, a digit or an opening bracket, unless the word before the stop is an abbreviation
    (:data:`ABBREVIATIONS`) or a single letter (an initial). A run-in heading of at most three words ("Results.")
    stays with the sentence after it."""
    sentences, start = [], 0
    for match in re.finditer(r"[.!?][\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])", text):
        before = text[start:match.start()].rsplit(None, 1)
        word = before[-1].lower().lstrip("([\"“") if before else ""
        if text[match.start()] == "." and (word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue
        sentences.append(text[start:match.end()].strip())
        start = match.end()
    if text[start:].strip():
        sentences.append(text[start:].strip())
    if len(sentences) > 1 and len(sentences[0].split()) <= 3:  # a run-in heading ("Results. ...") stays with
        sentences[:2] = [f"{sentences[0]} {sentences[1]}"]  # the sentence it introduces
    return sentences


def article_sentences(path: Path) -> list[str]:
    return [s for block in article_paragraphs(path) for s in split_sentences(block)]


@dataclass
class SentenceChange:
    old: str  # "" when the sentence is new
    new: str  # "" when the sentence was removed
    old_marked: list[tuple[str, bool]] = field(default_factory=list)  # (token run, changed?)
    new_marked: list[tuple[str, bool]] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (old, new) changed runs holding a number
    flipped: list[tuple[str, str]] = field(default_factory=list)  # (old, new) changed runs with a conclusion word

    @property
    def kind(self) -> str:
        if self.flipped:
            return "conclusion"
        if self.numbers:
            return "number"
        return "text"


def _words(run: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d]+", run)}


def _conclusion_words(sentence: str) -> str:
    """The sentence's conclusion words in order, e.g. "not significant", "rose"."""
    return " ".join(w for w in re.findall(r"[^\W\d]+(?:-[^\W\d]+)*", sentence) if w.lower() in CONCLUSION_WORDS)


def compare_sentences(old: str, new: str) -> SentenceChange:
    """Token-level difference of two sentences: which runs changed, which of them hold numbers or conclusion words."""
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    change = SentenceChange(old, new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = "".join(a[i1:i2]), "".join(b[j1:j2])
        changed = op != "equal"
        if left:
            change.old_marked.append((left, changed))
        if right:
            change.new_marked.append((right, changed))
        if not changed:
            continue
        if any(NUMBER.match(t) for t in a[i1:i2] + b[j1:j2]):
            change.numbers.append((left, right))
        if (_words(left) ^ _words(right)) & CONCLUSION_WORDS:
            change.flipped.append((left, right))
    return change


def diff_sentences(old: list[str], new: list[str]) -> list[SentenceChange]:
    """Changed, added and removed sentences (aligned with difflib); conclusion flips first, then number changes,
    then other text, each in article order."""
    changes = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        left, right = old[i1:i2], new[j1:j2]
        pairs = max(len(left), len(right))
        for k in range(pairs):  # a replaced block pairs sentence by sentence; the longer side's tail is unpaired
            changes.append(compare_sentences(left[k] if k < len(left) else "", right[k] if k < len(right) else ""))
    order = {"conclusion": 0, "number": 1, "text": 2}
    return sorted(changes, key=lambda c: order[c.kind])  # stable: article order within a kind


# --------------------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------------------
@dataclass
class CellChange:
    table: str
    row: str
    column: str
    old: str
    new: str


@dataclass
class TableChange:
    """A table's changes: printed cells, rows or columns that appeared or went, full-precision cells."""

    table: str
    cells: list[CellChange] = field(default_factory=list)
    rows_added: list[str] = field(default_factory=list)
    rows_removed: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    columns_renamed: list[str] = field(default_factory=list)  # "old header → new header", compared cell by cell
    status: str = "changed"  # changed | added | removed
    precise_cells: int = 0  # full-precision (parquet) cells that differ
    precise_note: str = ""
    notes: list[SentenceChange] = field(default_factory=list)  # changed sentences of the notes below the table

    @property
    def empty(self) -> bool:
        return (self.status == "changed" and not (self.cells or self.rows_added or self.rows_removed or self.columns_added
                                                  or self.columns_removed or self.columns_renamed or self.notes)
                and not self.precise_cells and not self.precise_note)


def read_markdown_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows of cell texts) of the first pipe table in a Markdown file (rendered with mistune, read with
    BeautifulSoup, so escaping and inline markup are handled as a Markdown reader would)."""
    import mistune
    from bs4 import BeautifulSoup

    rendered = mistune.create_markdown(escape=True, plugins=["table"])(path.read_text(encoding="utf-8"))
    table = BeautifulSoup(rendered, "html.parser").find("table")
    if table is None:
        raise ValueError(f"{_shown(path)}: no Markdown pipe table in it")
    header = [th.get_text(" ", strip=True) for th in table.find("thead").find_all("th")] if table.find("thead") else []
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")] \
        if table.find("tbody") else []
    return header, rows


def table_notes(path: Path) -> list[str]:
    """Sentences of the text around a Markdown table (its notes), Markdown emphasis removed."""
    text = "\n".join(ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("|"))
    paragraphs = [re.sub(r"\s+", " ", re.sub(r"[*_`]", "", p)).strip() for p in re.split(r"\n\s*\n", text)]
    return [s for p in paragraphs if p for s in split_sentences(p)]


def _column_names(header: list[str]) -> list[str]:
    """Header texts made unique and non-empty (blank headers, e.g. a stars column, get their position)."""
    names, seen = [], {}
    for i, name in enumerate(header):
        name = name or f"(column {i + 1})"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def row_labels(rows: list[list[str]]) -> list[str]:
    """A label per row: its first cell; in a grouped table (a blank first cell continues the group above) the group
    and the second cell, e.g. "Oxytocin (pg/mL) / WL". Repeated labels get their occurrence number."""
    grouped = any(r and not r[0] for r in rows[1:]) and all(len(r) > 1 for r in rows)
    labels, group, seen = [], "", {}
    for row in rows:
        first = row[0] if row else ""
        group = first or group
        label = f"{group} / {row[1]}" if grouped and row[1] else group
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return labels


def diff_markdown_table(name: str, old_path: Path, new_path: Path) -> TableChange:
    change = TableChange(name)
    old_header, old_rows = read_markdown_table(old_path)
    new_header, new_rows = read_markdown_table(new_path)
    old_cols, new_cols = _column_names(old_header), _column_names(new_header)
    columns = []  # (index in old, index in new, name shown): same header, or renamed in place (e.g. a new correction)
    matcher = difflib.SequenceMatcher(None, old_cols, new_cols, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        paired = (i2 - i1) if op == "equal" else (min(i2 - i1, j2 - j1) if op == "replace" else 0)
        for k in range(paired):
            o, n = old_cols[i1 + k], new_cols[j1 + k]
            columns.append((i1 + k, j1 + k, n if o == n else f"{o} → {n}"))
            if o != n:
                change.columns_renamed.append(f"{o} → {n}")
        change.columns_removed += old_cols[i1 + paired:i2]
        change.columns_added += new_cols[j1 + paired:j2]
    old_labels, new_labels = row_labels(old_rows), row_labels(new_rows)
    matcher = difflib.SequenceMatcher(None, old_labels, new_labels, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        paired = min(i2 - i1, j2 - j1) if op == "replace" else (i2 - i1 if op == "equal" else 0)
        for k in range(paired):  # equal labels, or a replaced block paired position by position
            orow, nrow = old_rows[i1 + k], new_rows[j1 + k]
            label = new_labels[j1 + k] if op == "equal" else f"{old_labels[i1 + k]} → {new_labels[j1 + k]}"
            for oi, ni, col in columns:
                o = orow[oi] if oi < len(orow) else ""
                n = nrow[ni] if ni < len(nrow) else ""
                if o != n:
                    change.cells.append(CellChange(name, label, col, o, n))
        change.rows_removed += old_labels[i1 + paired:i2]
        change.rows_added += new_labels[j1 + paired:j2]
    change.notes = diff_sentences(table_notes(old_path), table_notes(new_path))
    return change


def diff_precise_table(old_path: Path, new_path: Path) -> tuple[int, str]:
    """(number of full-precision cells that differ, note) for two parquet tables; NaN equals NaN."""
    import pandas as pd

    old, new = pd.read_parquet(old_path), pd.read_parquet(new_path)
    if list(old.columns) != list(new.columns) or old.shape != new.shape:
        return 0, f"full-precision table reshaped: {old.shape[0]}×{old.shape[1]} → {new.shape[0]}×{new.shape[1]}"
    differs = ~((old == new) | (old.isna() & new.isna()))
    return int(differs.to_numpy().sum()), ""


def diff_tables(old_dir: Path, new_dir: Path) -> list[TableChange]:
    """Every table (``<label>.md``) added, removed or with changed cells, by label."""
    names = sorted({p.stem for p in old_dir.glob("*.md")} | {p.stem for p in new_dir.glob("*.md")})
    changes = []
    for name in names:
        old_md, new_md = old_dir / f"{name}.md", new_dir / f"{name}.md"
        if not old_md.is_file() or not new_md.is_file():
            changes.append(TableChange(name, status="added" if new_md.is_file() else "removed"))
            continue
        if old_md.read_bytes() == new_md.read_bytes():
            change = TableChange(name)
        else:
            change = diff_markdown_table(name, old_md, new_md)
        old_pq, new_pq = old_dir / f"{name}.parquet", new_dir / f"{name}.parquet"
        if old_pq.is_file() and new_pq.is_file() and old_pq.read_bytes() != new_pq.read_bytes():
            change.precise_cells, change.precise_note = diff_precise_table(old_pq, new_pq)
        if not change.empty:
            changes.append(change)
    return changes


# --------------------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------------------
@dataclass
class FigureChange:
    name: str
    status: str  # changed | resized | added | removed
    changed_share: float | None = None  # share of pixels that differ (0-1), same-size images only
    old_size: tuple[int, int] | None = None
    new_size: tuple[int, int] | None = None
    picture: str = ""  # file name of the old | new | difference picture in the report folder


def _rgba(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGBA"))


def diff_figures(old_dir: Path | None, new_dir: Path | None, out_dir: Path | None = None) -> list[FigureChange]:
    """PNG figures whose pixels differ (files whose bytes differ but pixels agree, e.g. new metadata, are equal).

    With ``out_dir``, each changed figure gets ``<name>.png`` there: old, new and the changed pixels (red over a
    faded copy of the new image), side by side, at most 1800 pixels wide.
    """
    old = {p.name: p for p in sorted(old_dir.glob("*.png"))} if old_dir else {}
    new = {p.name: p for p in sorted(new_dir.glob("*.png"))} if new_dir else {}
    changes = []
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            changes.append(FigureChange(name, "added" if name in new else "removed"))
            continue
        if old[name].read_bytes() == new[name].read_bytes():
            continue
        a, b = _rgba(old[name]), _rgba(new[name])
        if a.shape != b.shape:
            changes.append(FigureChange(name, "resized", old_size=a.shape[1::-1], new_size=b.shape[1::-1]))
            continue
        mask = (a != b).any(axis=-1)
        if not mask.any():
            continue
        change = FigureChange(name, "changed", float(mask.mean()), a.shape[1::-1], b.shape[1::-1])
        if out_dir is not None:
            change.picture = _difference_picture(a, b, mask, out_dir / name)
        changes.append(change)
    return changes


def _difference_picture(a, b, mask, path: Path) -> str:
    import numpy as np
    from PIL import Image

    faded = (255 - (255 - b[..., :3].astype(np.uint16)) // 4).astype(np.uint8)
    faded[mask] = (220, 0, 0)
    gap = np.full((a.shape[0], max(8, a.shape[1] // 50), 3), 255, np.uint8)
    strip = np.concatenate([a[..., :3], gap, b[..., :3], gap, faded], axis=1)
    img = Image.fromarray(strip)
    img.thumbnail((1800, 1800))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    return path.name


# --------------------------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Report:
    base: str
    new: str
    alpha: float
    keys: list[KeyChange] = field(default_factory=list)
    sentences: list[SentenceChange] | None = None  # None: the article was not compared (see notes)
    tables: list[TableChange] = field(default_factory=list)
    figures: list[FigureChange] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.keys or self.sentences or self.tables or self.figures)

    @property
    def cells(self) -> list[CellChange]:
        return [c for t in self.tables for c in t.cells]

    @property
    def flagged_keys(self) -> list[KeyChange]:
        """Keys whose change may change a conclusion (p crossed alpha, sign flipped, text changed, NaN)."""
        return [k for k in self.keys if k.flags and k.flags not in (["added"], ["removed"])]

    @property
    def flipped_sentences(self) -> list[SentenceChange]:
        return [s for s in self.sentences or [] if s.kind == "conclusion"]

    def conclusions(self) -> list[str]:
        """One line per flagged key and per sentence whose conclusion word flipped (the report's first section)."""
        lines = [f"{k.key}: {_fmt(k.old)} → {_fmt(k.new)} ({'; '.join(k.flags)})" for k in self.flagged_keys]
        for s in self.flipped_sentences:
            lines.append(f"article: “{_conclusion_words(s.old)}” → “{_conclusion_words(s.new)}” in “{s.new or s.old}”")
        return lines

    def summary(self) -> str:
        if self.empty:
            return "No differences: every results key, table cell" + (
                ", article sentence" if self.sentences is not None else "") + (
                " and figure" if self.figures is not None else "") + " compared is the same."
        parts = [f"{_n(len(self.keys), 'results key')} ({len(self.flagged_keys)} flagged)"]
        if self.sentences is not None:
            parts.append(f"{_n(len(self.sentences), 'article sentence')} ({len(self.flipped_sentences)} with a "
                         "flipped conclusion word)")
        parts.append(f"{_n(len(self.cells), 'printed table cell')} in {_n(len(self.tables), 'table')}")
        if self.figures is not None:
            parts.append(_n(len(self.figures), "figure"))
        return "Changed: " + "; ".join(parts) + "."


def build_alpha(folder: Path) -> float:
    """The significance level the build's notebooks ran with (papermill's record of the ``alpha`` parameter)."""
    for path in sorted((folder / "notebooks").glob("*.ipynb")):
        params = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        value = (params.get("parameters") or {}).get("alpha")
        if isinstance(value, (int, float)):
            return float(value)
    return DEFAULT_ALPHA


def compare(base: Build, new: Build, alpha: float | None = None, out_dir: Path | None = None) -> Report:
    """The report of what changed from ``base`` to ``new``. ``alpha`` defaults to the new build's ``alpha``."""
    alpha = build_alpha(new.folder) if alpha is None else alpha
    report = Report(base.label, new.label, alpha, notes=base.notes + new.notes)
    descriptions = {**load_descriptions(base.folder), **load_descriptions(new.folder)}
    report.keys = diff_results(load_results(base.results), load_results(new.results), alpha, descriptions)
    if base.article and new.article:
        report.sentences = diff_sentences(article_sentences(base.article), article_sentences(new.article))
    else:
        missing = [b.label for b in (base, new) if not b.article]
        report.notes.append(f"article sentences not compared: no current rendered article for {', '.join(missing)} "
                            "(rendering needs Quarto on PATH; `make report` renders the default build)")
    report.tables = diff_tables(base.tables, new.tables)
    if base.figures or new.figures:
        report.figures = diff_figures(base.figures, new.figures, out_dir)
    else:
        report.notes.append("figures not compared: neither build has a figures folder")
    return report


def _fmt(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, float):
        return f"{x:.6g}" if math.isfinite(x) else str(x)
    return str(x)


def _rel(change: KeyChange) -> str:
    """Relative change in per cent, three significant digits (+2.54%, -0.0297%)."""
    rel = change.relative_change
    return "" if rel is None else f"{rel * 100:+.3g}%"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_marked(runs: list[tuple[str, bool]]) -> str:
    """Changed runs in bold (white space kept outside the markers, which Markdown needs)."""
    out = []
    for text, changed in runs:
        if changed and text.strip():
            lead, core, trail = re.match(r"(\s*)(.*?)(\s*)$", text, re.S).groups()
            out.append(f"{lead}**{core}**{trail}")
        else:
            out.append(text)
    return _md_escape("".join(out))


def to_markdown(report: Report) -> str:
    """The report as Markdown (for a terminal, or a reply to a reviewer)."""
    lines = [f"# What changed: {report.base} → {report.new}", "", report.summary(), ""]
    lines += [f"> Note: {n}" for n in report.notes] + ([""] if report.notes else [])
    if not report.empty:
        conclusions = report.conclusions()
        lines += ["## Conclusions that may have changed", ""]
        lines += [f"- {_md_escape(c)}" for c in conclusions] or [
            f"None: no p-value crossed α = {report.alpha:g}, no value changed sign, no text value or conclusion "
            "word changed."]
        lines.append("")
    if report.keys:
        lines += [f"## Results keys ({len(report.keys)})", "", "| key | old | new | change | flag | description |",
                  "|---|---:|---:|---:|---|---|"]
        lines += [f"| `{k.key}` | {_md_escape(_fmt(k.old))} | {_md_escape(_fmt(k.new))} | {_rel(k)} | "
                  f"{_md_escape('; '.join(k.flags))} | {_md_escape(k.description)} |" for k in report.keys]
        lines.append("")
    if report.sentences:
        lines += [f"## Article sentences ({len(report.sentences)})", ""]
        for s in report.sentences:
            tag = {"conclusion": "conclusion word flipped", "number": "numbers changed", "text": "text changed"}[s.kind]
            lines += [f"- *{tag}*", f"  - old: {_md_marked(s.old_marked) if s.old else '(none)'}",
                      f"  - new: {_md_marked(s.new_marked) if s.new else '(none)'}"]
        lines.append("")
    if report.tables:
        lines += [f"## Tables ({len(report.tables)})", ""]
        for t in report.tables:
            if t.status != "changed":
                lines += [f"- `{t.table}`: table {t.status}", ""]
                continue
            lines.append(f"### `{t.table}`")
            lines += [f"- rows added: {', '.join(t.rows_added)}"] if t.rows_added else []
            lines += [f"- rows removed: {', '.join(t.rows_removed)}"] if t.rows_removed else []
            lines += [f"- columns added: {', '.join(t.columns_added)}"] if t.columns_added else []
            lines += [f"- columns removed: {', '.join(t.columns_removed)}"] if t.columns_removed else []
            lines += [f"- columns renamed: {', '.join(t.columns_renamed)}"] if t.columns_renamed else []
            lines += [f"- {_n(t.precise_cells, 'full-precision cell')} changed (parquet)"] if t.precise_cells else []
            lines += [f"- {t.precise_note}"] if t.precise_note else []
            for n in t.notes:
                lines += [f"- note, old: {_md_marked(n.old_marked) if n.old else '(none)'}",
                          f"- note, new: {_md_marked(n.new_marked) if n.new else '(none)'}"]
            if t.cells:
                lines += ["", "| row | column | old | new |", "|---|---|---|---|"]
                lines += [f"| {_md_escape(c.row)} | {_md_escape(c.column)} | {_md_escape(c.old)} | "
                          f"{_md_escape(c.new)} |" for c in t.cells]
            lines.append("")
    if report.figures:
        lines += [f"## Figures ({len(report.figures)})", ""]
        for f in report.figures:
            share = f" ({f.changed_share:.2%} of pixels)" if f.changed_share is not None else ""
            lines.append(f"- `{f.name}`: {f.status}{share}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# The diff page's own rules, on top of the supplementary's page style (helpers.supplementary.CSS).
DIFF_CSS = """
tr.flag td { background: #fff3e0; } .flag-text { color: #b35900; font-weight: 600; }
mark.old { background: #ffd7d5; } mark.new { background: #c9f2d0; }
table.sentences td { width: 50%; } img { max-width: 100%; border: 1px solid #ddd; }
"""


def _esc(x) -> str:
    return html.escape(str(x))


def _html_marked(runs: list[tuple[str, bool]], side: str) -> str:
    return "".join(f'<mark class="{side}">{_esc(t)}</mark>' if changed and t.strip() else _esc(t)
                   for t, changed in runs)


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (figure pictures next to it)."""
    parts = [f"<h1>What changed: {_esc(report.base)} → {_esc(report.new)}</h1>", f"<p>{_esc(report.summary())}</p>",
             f'<p class="muted">Significance level used for the flags: α = {report.alpha:g}. Flagged rows first.</p>']
    parts += [f'<p class="notice">{_esc(n)}</p>' for n in report.notes]
    if not report.empty:
        conclusions = report.conclusions()
        parts.append('<h2 id="conclusions">Conclusions that may have changed</h2>')
        parts.append("<ul>" + "".join(f'<li class="flag-text">{_esc(c)}</li>' for c in conclusions) + "</ul>"
                     if conclusions else f"<p>None: no p-value crossed α = {report.alpha:g}, no value changed sign, "
                     "no text value or conclusion word changed.</p>")
    if report.keys:
        rows = "\n".join(
            f'<tr class="{"flag" if k.flags else ""}"><td><code>{_esc(k.key)}</code></td>'
            f'<td class="num">{_esc(_fmt(k.old))}</td><td class="num">{_esc(_fmt(k.new))}</td>'
            f'<td class="num">{_esc(_rel(k))}</td><td class="flag-text">{_esc("; ".join(k.flags))}</td>'
            f"<td>{_esc(k.description)}</td></tr>" for k in report.keys)
        parts.append(f'<h2 id="keys">Results keys ({len(report.keys)})</h2><table><thead><tr><th>key</th><th>old</th>'
                     f"<th>new</th><th>change</th><th>flag</th><th>description</th></tr></thead><tbody>{rows}"
                     "</tbody></table>")
    if report.sentences:
        rows = "\n".join(
            f'<tr class="{"flag" if s.kind == "conclusion" else ""}"><td>{_html_marked(s.old_marked, "old") or "<em>(none)</em>"}</td>'
            f'<td>{_html_marked(s.new_marked, "new") or "<em>(none)</em>"}</td></tr>' for s in report.sentences)
        parts.append(f'<h2 id="sentences">Article sentences ({len(report.sentences)})</h2>'
                     '<table class="sentences"><thead><tr><th>before</th><th>after</th></tr></thead>'
                     f"<tbody>{rows}</tbody></table>")
    if report.tables:
        parts.append(f'<h2 id="tables">Tables ({len(report.tables)})</h2>')
        for t in report.tables:
            parts.append(f"<h3><code>{_esc(t.table)}</code>{'' if t.status == 'changed' else ': ' + t.status}</h3>")
            items = [(f"rows added: {', '.join(t.rows_added)}", t.rows_added),
                     (f"rows removed: {', '.join(t.rows_removed)}", t.rows_removed),
                     (f"columns added: {', '.join(t.columns_added)}", t.columns_added),
                     (f"columns removed: {', '.join(t.columns_removed)}", t.columns_removed),
                     (f"columns renamed: {', '.join(t.columns_renamed)}", t.columns_renamed),
                     (f"{_n(t.precise_cells, 'full-precision cell')} changed (parquet)", t.precise_cells),
                     (t.precise_note, t.precise_note)]
            shown = [f"<li>{_esc(text)}</li>" for text, present in items if present]
            shown += [f"<li>note: {_html_marked(n.old_marked, 'old') or '<em>(none)</em>'} → "
                      f"{_html_marked(n.new_marked, 'new') or '<em>(none)</em>'}</li>" for n in t.notes]
            if shown:
                parts.append(f"<ul>{''.join(shown)}</ul>")
            if t.cells:
                rows = "".join(f"<tr><td>{_esc(c.row)}</td><td>{_esc(c.column)}</td><td><mark class='old'>{_esc(c.old)}"
                               f"</mark></td><td><mark class='new'>{_esc(c.new)}</mark></td></tr>" for c in t.cells)
                parts.append("<table><thead><tr><th>row</th><th>column</th><th>old</th><th>new</th></tr></thead>"
                             f"<tbody>{rows}</tbody></table>")
    if report.figures:
        parts.append(f'<h2 id="figures">Figures ({len(report.figures)})</h2>')
        for f in report.figures:
            share = f" ({f.changed_share:.2%} of pixels)" if f.changed_share is not None else ""
            parts.append(f"<h3><code>{_esc(f.name)}</code>: {_esc(f.status)}{_esc(share)}</h3>")
            if f.picture:
                parts.append(f'<p class="muted">before | after | changed pixels in red</p>'
                             f'<img src="{_esc(f.picture)}" alt="{_esc(f.name)}: before, after, difference">')
    body = "\n".join(parts)
    from helpers.supplementary import CSS  # here, not at the top: `mbpm snapshot` runs on every make report

    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>What changed: {_esc(report.base)} → {_esc(report.new)}</title>\n<style>{CSS}{DIFF_CSS}</style>\n"
            f"</head>\n<body>\n{body}\n</body>\n</html>\n")


def to_json(report: Report) -> dict:
    """The report as plain data (``changes.json``), for scripts and tests."""
    return {
        "base": report.base, "new": report.new, "alpha": report.alpha, "empty": report.empty, "notes": report.notes,
        "conclusions": report.conclusions(),
        "keys": [{"key": k.key, "old": k.old, "new": k.new, "relative_change": k.relative_change, "flags": k.flags}
                 for k in report.keys],
        "sentences": None if report.sentences is None else [
            {"old": s.old, "new": s.new, "kind": s.kind, "numbers": s.numbers, "flipped": s.flipped}
            for s in report.sentences],
        "cells": [c.__dict__ for c in report.cells],
        "tables": [{"table": t.table, "status": t.status, "rows_added": t.rows_added, "rows_removed": t.rows_removed,
                    "columns_added": t.columns_added, "columns_removed": t.columns_removed,
                    "columns_renamed": t.columns_renamed,
                    "precise_cells": t.precise_cells, "precise_note": t.precise_note,
                    "notes": [{"old": n.old, "new": n.new, "kind": n.kind} for n in t.notes]} for t in report.tables],
        "figures": None if report.figures is None else [f.__dict__ for f in report.figures],
    }


def clear_report(out: Path) -> None:
    """Remove an earlier report's files from ``out`` (only when it holds one: never a folder's other files)."""
    if not (out / "changes.json").is_file():
        return
    for path in [out / "index.html", out / "report.md", out / "changes.json", *out.glob("*.png")]:
        path.unlink(missing_ok=True)


def write_report(report: Report, out_dir: str | Path) -> Path:
    """Write ``index.html``, ``report.md`` and ``changes.json`` into ``out_dir``; returns the HTML page's path."""
    out = project_path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(to_markdown(report), encoding="utf-8")
    (out / "changes.json").write_text(json.dumps(to_json(report), indent=1, ensure_ascii=False, default=str) + "\n",
                                      encoding="utf-8")
    page = out / "index.html"
    page.write_text(to_html(report), encoding="utf-8")
    return page


# --------------------------------------------------------------------------------------------------------------
# builds to compare: snapshots, git refs, rendered articles
# --------------------------------------------------------------------------------------------------------------
def snapshot(build_dir: str | Path = "build", dest: str | Path = SNAPSHOT_DIR, kind: str = "author") -> Path:
    """Keep the current build as the default BASE of the next diff: results, key table, tables, figures (PNG) and
    the rendered article are copied into ``dest`` (replacing what was there), with a record of what it is
    (``kind``: "author" for `make snapshot`, "auto" for the rotation), when it was made, and from which commit.
    Returns ``dest``."""
    build = locate(build_dir)
    dest = project_path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("results.json", "results_keys.csv"):
        if (build.folder / name).is_file():
            shutil.copy2(build.folder / name, dest / name)
    if build.tables.is_dir():
        shutil.copytree(build.tables, dest / "tables")
    if build.figures:
        (dest / "figures").mkdir()
        for png in sorted(build.figures.glob("*.png")):
            shutil.copy2(png, dest / "figures" / png.name)
    if build.article:
        (dest / "_manuscript").mkdir()
        shutil.copy2(build.article, dest / "_manuscript" / "index.html")
    for name in ("notebooks",):  # the executed notebooks record the parameters (alpha) the build ran with
        if (build.folder / name).is_dir():
            shutil.copytree(build.folder / name, dest / name)
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=project_root(), capture_output=True,
                            text=True).stdout.strip()
    when = dt.datetime.fromtimestamp(build.results.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    about = {"build": build.label, "results_written": when, "commit": commit or "unknown", "kind": kind,
             "made": made}
    (dest / SNAPSHOT_INFO).write_text(json.dumps(about, indent=1) + "\n", encoding="utf-8")
    return dest


def _git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip()


def is_git_ref(ref: str, root: Path | None = None) -> bool:
    root = root or project_root()
    return subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root,
                          capture_output=True).returncode == 0


def quarto_available() -> bool:
    from helpers import pipeline

    return pipeline.quarto_ok(pipeline.quarto_version())


def render_article(project: Path, build_folder: Path) -> Path:
    """Render ``index.qmd`` of ``project`` to HTML for the build in ``build_folder`` (Quarto, ``MBPM_BUILD_DIR``),
    into ``<build_folder>/_article/index.html``; the project's own ``_manuscript/`` is left alone."""
    with tempfile.TemporaryDirectory(prefix=".article-", dir=build_folder) as tmp:
        env = {**os.environ, "MBPM_BUILD_DIR": str(build_folder), "QUARTO_PYTHON": sys.executable,
               "MBPM_PROJECT_ROOT": str(project)}
        cmd = ["quarto", "render", "index.qmd", "--to", "html", "--output-dir", str(Path(tmp).relative_to(project))]
        gitignore = project / ".gitignore"
        kept = gitignore.read_bytes() if gitignore.is_file() else None
        out = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
        if kept is not None and gitignore.read_bytes() != kept:  # Quarto appends "/.quarto/" to it: a diff must
            gitignore.write_bytes(kept)  # not leave a change in a tracked file
        if out.returncode != 0 or not (Path(tmp) / "index.html").is_file():
            raise RuntimeError(f"quarto render failed for {_shown(build_folder)}:\n{out.stderr[-3000:]}")
        dest = build_folder / ARTICLE_DIR
        dest.mkdir(exist_ok=True)
        shutil.copy2(Path(tmp) / "index.html", dest / "index.html")
    return dest / "index.html"


def build_ref(ref: str, *, cores: str = "all", render: bool = True, root: Path | None = None) -> Build:
    """Build the committed sources of git ``ref`` with the pipeline, in ``build/.diff-base/<sha>/`` (reused when
    already built), and return that build.

    The sources are the commit's files (``git archive``), raw data included; the pipeline runs with this
    environment's Python, the commit's own ``helpers`` first on the path (``PYTHONPATH``) so its code, not the
    working tree's, computes the numbers. The article is rendered when Quarto is on PATH and ``render`` is true.
    """
    root = root or project_root()
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}", cwd=root)
    scratch = root / SCRATCH_DIR / sha[:12]
    when = _git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d %H:%M UTC", sha, cwd=root)
    label = f"git {ref} ({sha[:12]}, committed {when})"
    if not (scratch / "build" / "results.json").is_file():
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(parents=True)
        archive = scratch / ".source.tar"
        _git("archive", "--format=tar", "-o", str(archive), sha, cwd=root)
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        archive.unlink()
        # its provenance is the commit's (the folder sits inside the project's checkout, whose HEAD, date and
        # uncommitted changes are not the ref's)
        env = {**os.environ, "MBPM_PROJECT_ROOT": str(scratch), SOURCE_COMMIT_ENV: sha,
               "SOURCE_DATE_EPOCH": _git("log", "-1", "--format=%ct", sha, cwd=root),
               "PYTHONPATH": os.pathsep.join([str(scratch / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        print(f"diff: building {label} in {_shown(scratch)} (the pipeline, once; kept for the next diff)", flush=True)
        out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "rules"],
                             cwd=scratch, env=env, capture_output=True, text=True)
        if out.returncode != 0 or not (scratch / "build" / "results.json").is_file():
            raise RuntimeError(f"building {label} failed (its sources are in {_shown(scratch)}):\n"
                               f"{out.stderr[-4000:]}")
    build = locate(scratch / "build", label)
    if build.article is None and render and quarto_available():
        print(f"diff: rendering the article of {label}", flush=True)
        render_article(scratch, scratch / "build")
        build = locate(scratch / "build", label)
    return build


def resolve(spec: str, *, render: bool = True, cores: str = "all", role: str = "BASE") -> Build:
    """A build folder (``build``, ``build/variants/holm``, ``build/previous``) or a git ref (``HEAD~1``, a tag)."""
    root = project_root()
    folder = project_path(spec)
    if folder.is_dir():
        build = locate(folder)
    elif is_git_ref(spec, root):
        return build_ref(spec, cores=cores, render=render, root=root)
    else:
        hint = "; a variant is built by `make variants`" if "/variants/" in spec else ""
        raise FileNotFoundError(f"{role} {spec!r} is neither a build folder (no folder {_shown(folder)}) nor a git ref "
                                f"(`git rev-parse` does not know it){hint}")
    if build.article is None and render and quarto_available():
        project = _project_of(build.folder)
        print(f"diff: rendering the article of {build.label}", flush=True)
        render_article(project[0] if project else root, build.folder)
        build = locate(build.folder, build.label)
        if project is None:  # a snapshot or a variant: its numbers, the working tree's prose
            build.notes.append(f"{build.label}: article rendered now from the working tree's index.qmd with this "
                               "build's results")
    return build


def default_base(variant: str | None) -> str:
    """BASE when none is given: the default build when comparing a variant; else the author's snapshot
    (``build/snapshot``, `make snapshot`), else the build before the last change (``build/previous``, kept by
    `make report`), else the last commit (``HEAD``)."""
    if variant:
        return "build"
    for folder in (SNAPSHOT_DIR, AUTO_DIR):
        if (project_path(folder) / "results.json").is_file():
            return folder
    return "HEAD"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbpm diff", description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=None, help="build folder or git ref (default: build/snapshot, else "
                        "build/previous, else HEAD; with --variant: build)")
    parser.add_argument("--new", default="build", help="build folder or git ref of the revision (default: build; "
                        "e.g. build/overrides/correction-holm)")
    parser.add_argument("--variant", default=None, help="compare with <NEW>/variants/<VARIANT> as the revision")
    parser.add_argument("--out", default=None, help="report folder (default: <new build>/diff)")
    parser.add_argument("--alpha", type=float, default=None, help="significance level for the flags "
                                                                  "(default: the new build's alpha parameter)")
    parser.add_argument("--no-render", action="store_true", help="never render an article with Quarto")
    parser.add_argument("--cores", default="all", help="Snakemake cores when a git ref is built")
    parser.add_argument("--no-supplementary", action="store_true",
                        help="do not rebuild the supplementary (which links the report) afterwards")
    args = parser.parse_args(argv)
    render = not args.no_render
    new_spec = f"{args.new.rstrip('/')}/variants/{args.variant}" if args.variant else args.new
    base_spec = args.base or default_base(args.variant)
    try:
        new = resolve(new_spec, render=render, cores=args.cores, role="the revision (--new/--variant)")
        base = resolve(base_spec, render=render and new.article is not None, cores=args.cores)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"diff: {exc}", file=sys.stderr)
        return 2
    print(f"Base: {base.label}{'' if args.base else ' (the default BASE; BASE= chooses another)'}")
    print(f"New:  {new.label}")
    out = project_path(args.out) if args.out else new.folder / REPORT_DIR
    clear_report(out)
    report = compare(base, new, args.alpha, out_dir=out)
    page = write_report(report, out)
    print(to_markdown(report))
    print(f"Report: {_shown(page)} (Markdown: {_shown(out / 'report.md')})")
    main = main_build()
    if not args.no_supplementary and (main / "supplementary" / "index.qmd").is_file() and page.is_relative_to(main):
        from helpers import supplementary

        supplementary.build_supplementary(main)  # its "Revision reports" section now links the report
        print(f"Linked from the supplementary's variants page ({_shown(main / 'supplementary' / 'variants.qmd')}; "
              "`make publish` renders it)")
    return 0


def main_build() -> Path:
    """The project's default build folder (``build_dir`` of config/params.yaml)."""
    params = project_path("config/params.yaml")
    config = yaml.safe_load(params.read_text(encoding="utf-8")) if params.is_file() else {}
    return project_path((config or {}).get("build_dir", "build")).resolve()


def rotate(build_dir: str | Path = "build", last: str | Path = LAST_DIR, previous: str | Path = AUTO_DIR) -> str:
    """After a build, keep the build before the last change as ``previous`` (what `make report` calls, so that
    ``make diff`` needs no preparation): the build is kept in ``last``; when it differs from what ``last`` held
    (any results key, printed table cell, figure or article sentence), that older build becomes ``previous``.
    The author's snapshot (``build/snapshot``) is another slot: rotation never touches it.
    Returns "first", "unchanged" or "rotated"."""
    last_path, previous_path = project_path(last), project_path(previous)
    if not (last_path / "results.json").is_file():
        snapshot(build_dir, last_path, kind="auto")
        return "first"
    if compare(locate(last_path), locate(build_dir)).empty:
        return "unchanged"
    if previous_path.exists():
        shutil.rmtree(previous_path)
    last_path.rename(previous_path)
    snapshot(build_dir, last_path, kind="auto")
    return "rotated"


def rotate_message(outcome: str, previous: str = AUTO_DIR) -> str:
    """The line `make report` prints after :func:`rotate`."""
    return {"first": f"snapshot: first build kept in {LAST_DIR}",
            "unchanged": "snapshot: the build did not change; nothing rotated",
            "rotated": f"snapshot: the build changed; the one before is now {previous} (the BASE of `make diff` when "
                       f"there is no {SNAPSHOT_DIR} of yours)"}[outcome]


def snapshot_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbpm snapshot",
                                     description="keep the current build as the default BASE of `make diff`")
    parser.add_argument("--build", default="build")
    parser.add_argument("--to", default=None, help=f"where (default {SNAPSHOT_DIR}; with --rotate {AUTO_DIR})")
    parser.add_argument("--rotate", action="store_true", help=f"after a build: keep it in {LAST_DIR}; when it "
                        f"changed, the build before the change becomes {AUTO_DIR} (see helpers.diff.rotate); "
                        f"{SNAPSHOT_DIR} is never touched")
    args = parser.parse_args(argv)
    if args.rotate:
        previous = args.to or AUTO_DIR
        print(rotate_message(rotate(args.build, previous=previous), previous))
        return 0
    to = project_path(args.to or SNAPSHOT_DIR)
    replaced = f" (replacing the one made {json.loads((to / SNAPSHOT_INFO).read_text())['made']})" \
        if (to / SNAPSHOT_INFO).is_file() and "made" in json.loads((to / SNAPSHOT_INFO).read_text()) else ""
    dest = snapshot(args.build, to)
    print(f"snapshot: {_shown(project_path(args.build))} kept in {_shown(dest)}{replaced}: the default BASE of "
          "`make diff` until you run `make snapshot` again (`make report` never replaces it)")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
