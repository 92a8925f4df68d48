"""`make diff` on a real revision: one raw value changed in a copy of the project, both builds made by the pipeline.

The expected changes are derived without helpers.diff: from the known edit (one healthy control's BDI-II item
+1 moves the controls' mean BDI-II total by 1/n), and from direct reads of the two builds (results.json values,
the tables' Markdown lines split at "|", PNG bytes, the article's text). The first build is a copy of the test
session's (``built_project`` in conftest.py). Marked ``notebooks`` and ``slow``: `make test` runs it, `make test-quick`
leaves it out. The article part needs Quarto on PATH (skipped otherwise).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from .conftest import copy_project

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
QUARTO = shutil.which("quarto") is not None


def run(project, *args, check=True):
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project), "QUARTO_PYTHON": sys.executable}
    out = subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, f"{args}:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out


def build(project):
    run(project, "-m", "snakemake", "--cores", "2", "--quiet", "rules")
    if QUARTO:
        env = {**os.environ, "MBPM_PROJECT_ROOT": str(project), "QUARTO_PYTHON": sys.executable}
        out = subprocess.run(["quarto", "render", "index.qmd", "--to", "html"], cwd=project, env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-4000:]


def edit_one_bdi_item(project) -> tuple[str, str, int]:
    """+1 on the first BDI-II item below 3 of the first healthy control with a complete BDI-II at baseline."""
    with open(project / "data" / "raw" / "roster.csv", newline="") as fh:
        controls = [r["record_id"] for r in csv.DictReader(fh) if r["cohort"] == "HC"]
    path = project / "data" / "raw" / "redcap_export.csv"
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    items = [f"bdi_{i}" for i in range(1, 22)]
    for row in rows:
        if row["record_id"] in controls and row["redcap_event_name"] == "baseline_arm_1" \
                and all(row[i] != "" for i in items):
            item = next(i for i in items if int(row[i]) < 3)
            row[item] = str(int(row[item]) + 1)
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
            return row["record_id"], item, int(row[item])
    raise AssertionError("no healthy control with a complete BDI-II")


@pytest.fixture(scope="module")
def revision(built_project, tmp_path_factory):
    """(project, old copies) after: build, snapshot, one raw value edited, rebuild, `helpers diff`."""
    project = copy_project(built_project, tmp_path_factory.mktemp("revision") / "project")  # built: build() renders
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sources as submitted"]):
        subprocess.run(git + cmd, cwd=project, check=True, capture_output=True)
    build(project)
    old = tmp_path_factory.mktemp("old")
    shutil.copytree(project / "build", old / "build", ignore=shutil.ignore_patterns("notebooks", "data", "logs"))
    shutil.copytree(project / "figures", old / "figures")
    if QUARTO:
        shutil.copy2(project / "_manuscript" / "index.html", old / "article.html")
    run(project, "-m", "helpers", "snapshot")
    edit = edit_one_bdi_item(project)
    build(project)
    run(project, "-m", "helpers", "diff", "--no-supplementary", "--cores", "2")  # default BASE: build/snapshot
    changes = json.loads((project / "build" / "diff" / "changes.json").read_text())
    return project, old, edit, changes


def test_report_lists_exactly_the_changed_results_keys(revision):
    project, old, (record, item, value), changes = revision
    before = json.loads((old / "build" / "results.json").read_text())
    after = json.loads((project / "build" / "results.json").read_text())
    expected = {k for k in before.keys() | after.keys() if before.get(k, "absent") != after.get(k, "absent")}
    assert {k["key"] for k in changes["keys"]} == expected
    # the known edit: one control's BDI-II total is 1 higher, so the controls' mean is 1/n higher
    n = before["t1.bdi_total.hc_n"]
    assert after["t1.bdi_total.hc_mean"] - before["t1.bdi_total.hc_mean"] == pytest.approx(1 / n, abs=1e-12)
    assert "t1.bdi_total.hc_mean" in expected
    assert not any(k.startswith(("rm.", "flow.")) for k in expected), "controls are not in the trial"
    reported = {k["key"]: k for k in changes["keys"]}
    assert reported["t1.bdi_total.hc_mean"]["old"] == before["t1.bdi_total.hc_mean"]
    assert reported["t1.bdi_total.hc_mean"]["new"] == after["t1.bdi_total.hc_mean"]


def _pipe_cells(path):
    """Rows of a Markdown pipe table split at "|" (no Markdown reader), header and rule line dropped."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("|")][2:]
    return [[c.strip().replace("**", "") for c in ln.strip().strip("|").split("|")] for ln in lines]


def test_report_lists_exactly_the_changed_table_cells(revision):
    project, old, _, changes = revision
    expected = Counter()
    for path in sorted((project / "build" / "tables").glob("*.md")):
        before, after = _pipe_cells(old / "build" / "tables" / path.name), _pipe_cells(path)
        assert len(before) == len(after), f"{path.name}: rows added or removed"
        for row_before, row_after in zip(before, after, strict=True):
            expected.update((path.stem, a, b) for a, b in zip(row_before, row_after, strict=True) if a != b)
    assert expected, "the edit changes no printed cell"
    assert Counter((c["table"], c["old"], c["new"]) for c in changes["cells"]) == expected
    assert "tbl-table1" in {c["table"] for c in changes["cells"]}


def test_report_lists_exactly_the_changed_figures(revision):
    project, old, _, changes = revision
    expected = {p.name for p in (project / "figures").glob("*.png")
                if p.read_bytes() != (old / "figures" / p.name).read_bytes()}  # deterministic PNGs
    assert {f["name"] for f in changes["figures"]} == expected


@pytest.mark.skipif(not QUARTO, reason="the article needs Quarto on PATH")
def test_report_lists_exactly_the_changed_sentences(revision):
    from bs4 import BeautifulSoup

    project, old, _, changes = revision
    before_results = json.loads((old / "build" / "results.json").read_text())
    after_results = json.loads((project / "build" / "results.json").read_text())

    def text(path):
        main = BeautifulSoup(path.read_text(), "html.parser").find(id="quarto-document-content")
        # tables and the notebook outputs embedded in the article are compared as tables and figures
        for tag in main.find_all(["table", "pre", "code"]) + main.find_all(class_="quarto-embed-nb-cell"):
            tag.decompose()
        return re.sub(r"\s+", " ", main.get_text("")).strip()

    article_after = project / "_manuscript" / "index.html"  # rendered again after the rebuild
    old_text, new_text = text(old / "article.html"), text(article_after)
    sentences = changes["sentences"]
    assert sentences, "the edit changes no sentence"
    # "nothing else": blanking the reported sentences leaves the same text on both sides
    for s in sentences:
        assert s["old"] != s["new"]
        old_text = old_text.replace(re.sub(r"\s+", " ", s["old"]), "§", 1) if s["old"] else old_text
        new_text = new_text.replace(re.sub(r"\s+", " ", s["new"]), "§", 1) if s["new"] else new_text
    assert _words(old_text) == _words(new_text)
    # the known change is among them: the controls' BDI-II mean as the article prints it (2 decimals)
    old_mean, new_mean = (f"{r['t1.bdi_total.hc_mean']:.2f}" for r in (before_results, after_results))
    assert any(old_mean in s["old"] and new_mean in s["new"] for s in sentences)


def _words(text):
    return re.sub(r"\s+", "", text)


def test_git_ref_of_the_submitted_sources(revision, built_project):
    """BASE=HEAD builds the committed sources (the raw value before the edit) in build/.diff-base/: against the
    revision it reports the same keys and cells as the snapshot; against the snapshot, nothing. That build is a
    clean run of the session's sources in another folder: byte for byte the session's own clean run."""
    project, _, _, changes = revision
    run(project, "-m", "helpers", "diff", "--base", "HEAD", "--no-render", "--no-supplementary", "--cores", "2",
        "--out", "build/diff-head")
    head = json.loads((project / "build" / "diff-head" / "changes.json").read_text())
    assert [k["key"] for k in head["keys"]] == [k["key"] for k in changes["keys"]]
    assert head["cells"] == changes["cells"]
    (scratch,) = (project / "build" / ".diff-base").iterdir()
    run(project, "-m", "helpers", "diff", "--base", "build/snapshot", "--new", str(scratch / "build"), "--no-render",
        "--no-supplementary", "--out", "build/diff-same")
    same = json.loads((project / "build" / "diff-same" / "changes.json").read_text())
    assert same["empty"] is True, same

    # two clean runs of the same sources, in two folders (the session's and HEAD's), are the same bytes
    files = [p.relative_to(built_project) for p in sorted((built_project / "build").rglob("*")) if p.is_file()
             and p.parts[len(built_project.parts) + 1] in ("notebooks", "results", "supplementary", "tables")]
    files += [Path("build/results.json"), Path("build/results_keys.csv"),
              *(p.relative_to(built_project) for p in sorted((built_project / "figures").iterdir()))]
    assert len(files) > 20
    provenance = Path("build/supplementary/provenance.qmd")
    files.remove(provenance)  # compared below, without the rows that say where each run's sources came from
    differ = [str(f) for f in files if (built_project / f).read_bytes() != (scratch / f).read_bytes()]
    assert not differ, f"differ between two clean runs: {differ}"
    session, head = _page_lines(built_project / provenance), _page_lines(scratch / provenance)
    assert [ln for ln in session if ln[0] not in SOURCE_ROWS] == [ln for ln in head if ln[0] not in SOURCE_ROWS]
    head = {ln[0]: ln[1].replace("\\", "") for ln in head if len(ln) > 1}  # Markdown escapes removed
    # HEAD's build names its commit and that commit's date, not the state of the checkout it was built inside
    # (whose working tree holds the edit)
    sha, date = subprocess.run(["git", "log", "-1", "--format=%H %cd", "--date=format-local:%Y-%m-%d %H:%M:%S", "HEAD"],
                               cwd=project, env={**os.environ, "TZ": "UTC"}, capture_output=True, text=True,
                               check=True).stdout.strip().split(" ", 1)
    assert head["git commit"] == f"{sha} (exported with git archive)"
    assert head["source date"] == f"{date} UTC (SOURCE_DATE_EPOCH)"


SOURCE_ROWS = ("git commit", "source date")


def _page_lines(path) -> list[tuple[str, ...]]:
    """Every line of a Markdown page, a table row as its cells: the padding that aligns a column, and the length of
    its rule, follow the column's widest value, which the rows compared apart from the rest may change."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = tuple(c.strip() for c in line.strip().strip("|").split("|"))
        cells = tuple(re.sub("-+", "-", c) if c and set(c) <= set(":-") else c for c in cells)  # a rule's dashes
        lines.append(cells if line.startswith("|") else (line,))
    return lines
