"""The revision diff (helpers.diff): unit tests on small hand-made build folders.

Every expected change below is written out by hand from the edit the test makes; the pipeline-running test on a
real revision is tests/test_diff_revision.py (marked ``notebooks``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image, PngImagePlugin

from helpers import diff

ARTICLE = """<!DOCTYPE html><html><body>
<header id="title-block-header"><p class="date">{date}</p></header>
<nav id="TOC"><ul><li>Methods 1.5</li></ul></nav>
<main id="quarto-document-content">
<section><h1>Results</h1>
<p>In total, 65 adults took part. Patients reported more pain than controls (<em>p</em> &lt; 0.001), e.g. on the
McGill scale.</p>
<p>The IL-8 difference was {sig} (<em>p</em> = {p}). Oxytocin {rose} after MBPM (d<sub>z</sub> = 0.62).</p>
<ul><li>Wait-list patients: 13 analysed.</li></ul>
<div class="cell-output"><table><tr><td>0.999</td></tr></table></div>
<div class="quarto-embed-nb-cell"><div class="cell-output"><p><em>Note.</em> Stars refer to p = 0.05.</p></div></div>
<pre><code>x = 0.123</code></pre>
<div id="refs"><p>Smith J et al. Pain 2020;12:1-9.</p></div>
</section></main></body></html>
"""

TABLE = """| Measure | CP mean (SD) | HC mean (SD) | p |  |
|:--|:--|:--|:--|:--|
| Age (years) | 38.90 (11.02) | 33.33 (10.47) | 0.088 |  |
| BDI-II | {bdi} | 2.57 (2.21) | {p} | {stars} |
"""

GROUPED = """| Measure | Group | n | p (Bonferroni) |
|:--|:--|:--|:--|
| Oxytocin | MBPM | 14 | 0.462 |
|  | WL | 13 | 1.000 |
| IL-1β | MBPM | 15 | 1.000 |
|  | WL | 13 | 0.108 |
"""


def png(path, pixels: np.ndarray, text: str | None = None):
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_text("Software", text)
    Image.fromarray(pixels).save(path, pnginfo=info)


def make_build(folder, results=None, *, bdi="13.70 (7.24)", p="0.018", stars="*", sig="significant", p_il8="0.015",
               rose="rose", figure=None, article=True, table_text=None):
    """A build folder as the pipeline writes one: results, key table, one table (md + parquet), a figure, an article."""
    results = {"t1.bdi_total.cp_mean": 13.7, "t1.bdi_total.p": 0.018, "t1.il8.p": 0.015, "t1.il8.test": "ANOVA",
               "rm.posthoc.oxytocin.mbpm.mean_diff": 7.0, "flow.n_total": 65} if results is None else results
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    (folder / "results_keys.csv").write_text("key,value,description,notebook\n" + "".join(
        f"{k},{v},description of {k},03_baseline\n" for k, v in sorted(results.items())))
    (folder / "tables").mkdir()
    (folder / "tables" / "tbl-table1.md").write_text(table_text or TABLE.format(bdi=bdi, p=p, stars=stars))
    pd.DataFrame({"dv": ["age", "bdi_total"], "p": [0.088, float(p)]}).to_parquet(folder / "tables" / "tbl-table1.parquet")
    (folder / "figures").mkdir()
    pixels = np.full((20, 30, 3), 255, np.uint8) if figure is None else figure
    png(folder / "figures" / "fig1.png", pixels)
    if article:
        (folder / "_manuscript").mkdir()
        (folder / "_manuscript" / "index.html").write_text(ARTICLE.format(date="2026-12-01", sig=sig, p=p_il8, rose=rose))
    return folder


@pytest.fixture
def builds(tmp_path):
    return tmp_path / "old", tmp_path / "new"


def report_of(old, new, **kw):
    return diff.compare(diff.locate(old), diff.locate(new), **kw)


# --- identical builds -----------------------------------------------------------------------------------------
def test_identical_builds_give_an_empty_report(builds, tmp_path):
    old, new = builds
    make_build(old)
    shutil.copytree(old, new)
    report = report_of(old, new)
    assert report.empty
    assert report.keys == [] and report.sentences == [] and report.tables == [] and report.figures == []
    page = diff.write_report(report, tmp_path / "out")
    assert "No differences" in page.read_text() and "No differences" in (tmp_path / "out" / "report.md").read_text()
    assert json.loads((tmp_path / "out" / "changes.json").read_text())["empty"] is True


# --- results keys ---------------------------------------------------------------------------------------------
def test_changed_added_removed_keys_and_relative_change(builds):
    old, new = builds
    make_build(old, {"a.x": 2.0, "a.gone": 1, "a.same": 0.5, "a.n": 10})
    make_build(new, {"a.x": 2.5, "a.new": 3, "a.same": 0.5, "a.n": 10.0})  # 10 == 10.0: the same number
    keys = {k.key: k for k in report_of(old, new).keys}
    assert set(keys) == {"a.x", "a.gone", "a.new"}
    assert keys["a.x"].relative_change == pytest.approx(0.25)
    assert keys["a.x"].flags == []
    assert keys["a.gone"].flags == ["removed"] and keys["a.gone"].new == diff.MISSING
    assert keys["a.new"].flags == ["added"] and keys["a.new"].old == diff.MISSING
    assert keys["a.x"].description == "description of a.x"


def test_p_crossing_alpha_sign_flip_and_text_changes_are_flagged_first(builds):
    old, new = builds
    make_build(old, {"a.mean_diff": 1.5, "b.p": 0.04, "c.p_adj": 0.30, "d.test": "ANOVA", "e.f": 3.0, "f.kw_p": 0.2})
    make_build(new, {"a.mean_diff": -0.5, "b.p": 0.06, "c.p_adj": 0.20, "d.test": "Kruskal-Wallis", "e.f": 3.5,
                     "f.kw_p": 0.01})
    keys = report_of(old, new, alpha=0.05).keys
    assert [k.key for k in keys] == ["a.mean_diff", "b.p", "d.test", "f.kw_p", "c.p_adj", "e.f"]
    flags = {k.key: k.flags for k in keys}
    assert flags["a.mean_diff"] == ["sign flipped"]
    assert flags["b.p"] == ["p crossed 0.05: no longer significant"]
    assert flags["f.kw_p"] == ["p crossed 0.05: now significant"]
    assert flags["d.test"] == ["text value changed"]
    assert flags["c.p_adj"] == [] and flags["e.f"] == []


def test_alpha_comes_from_the_new_builds_parameters(builds):
    old, new = builds
    make_build(old, {"b.p": 0.03})
    make_build(new, {"b.p": 0.005})
    (new / "notebooks").mkdir()
    (new / "notebooks" / "03_baseline.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {"papermill": {"parameters": {"alpha": 0.01}}}}))
    report = report_of(old, new)
    assert report.alpha == 0.01
    assert report.keys[0].flags == ["p crossed 0.01: now significant"]


@pytest.mark.parametrize("key, expected", [
    ("t1.il8.p", True), ("rm.posthoc.oxytocin.mbpm.p_adj", True), ("t1.age.levene_p", True), ("rm.x.p_gg", True),
    ("assoc.q", True), ("robust.p.il8_cp_hc.corrected", True), ("t1.il8.pes", False), ("p.x", False), ("flow.n_total", False), ("rm.posthoc.x.mbpm.pval_note", False),
])
def test_p_like_keys(key, expected):
    assert diff.is_p_key(key) is expected


def test_none_and_nan_values(builds):
    old, new = builds
    make_build(old, {"a": None, "b": None, "c": 1.0})
    make_build(new, {"a": None, "b": 2.0, "c": None})
    flags = {k.key: k.flags for k in report_of(old, new).keys}
    assert flags == {"b": ["became a number"], "c": ["no longer a number"]}


# --- the article ----------------------------------------------------------------------------------------------
def test_article_text_leaves_out_title_block_tables_code_and_references(tmp_path):
    path = tmp_path / "index.html"
    path.write_text(ARTICLE.format(date="2026-12-01", sig="significant", p="0.015", rose="rose"))
    assert diff.article_paragraphs(path) == [
        "Results",
        "In total, 65 adults took part. Patients reported more pain than controls (p < 0.001), e.g. on the McGill "
        "scale.",
        "The IL-8 difference was significant (p = 0.015). Oxytocin rose after MBPM (dz = 0.62).",
        "Wait-list patients: 13 analysed.",
    ]


def test_sentences_split_at_full_stops_but_not_at_abbreviations_or_decimals():
    text = ("Pain fell (p = 0.015). Smith et al. found it, e.g. in Fig. 2. J. Doe agreed! 12 patients "
            "dropped out? (Most did.) Ends here")
    assert diff.split_sentences(text) == [
        "Pain fell (p = 0.015).", "Smith et al. found it, e.g. in Fig. 2.", "J. Doe agreed!",
        "12 patients dropped out?", "(Most did.)", "Ends here",
    ]
    assert diff.split_sentences("Trial results. Oxytocin rose. It fell.") == [
        "Trial results. Oxytocin rose.", "It fell."]


def test_changed_sentences_side_by_side_with_numbers_and_flipped_words(builds):
    old, new = builds
    make_build(old)
    make_build(new, sig="not significant", p_il8="0.061", rose="fell")
    report = report_of(old, new)
    assert [(s.old, s.new) for s in report.sentences] == [
        ("The IL-8 difference was significant (p = 0.015).", "The IL-8 difference was not significant (p = 0.061)."),
        ("Oxytocin rose after MBPM (dz = 0.62).", "Oxytocin fell after MBPM (dz = 0.62)."),
    ]
    il8, oxt = report.sentences
    assert il8.kind == "conclusion" and oxt.kind == "conclusion"
    assert il8.numbers == [("0.015", "0.061")]
    assert [c for c, changed in oxt.new_marked if changed] == ["fell"]
    md = diff.to_markdown(report)
    assert "new: The IL-8 difference was **not** significant (p = **0.061**)." in md
    page = diff.to_html(report)
    assert '<mark class="old">rose</mark>' in page and '<mark class="new">fell</mark>' in page


def test_a_sentence_where_only_a_number_moved_is_a_number_change():
    change = diff.compare_sentences("Mean age was 38.9 (11.0) years.", "Mean age was 39.2 (11.0) years.")
    assert change.kind == "number"
    assert change.numbers == [("38.9", "39.2")]
    assert diff.compare_sentences("A b c.", "A d c.").kind == "text"


def test_added_and_removed_sentences(tmp_path):
    changes = diff.diff_sentences(["One.", "Two is 2.", "Three."], ["One.", "Three.", "Four is 4."])
    assert sorted((c.old, c.new) for c in changes) == [("", "Four is 4."), ("Two is 2.", "")]


def test_stale_article_is_not_compared(builds):
    old, new = builds
    make_build(old)
    make_build(new)
    article = new / "_manuscript" / "index.html"
    past = time.time() - 3600
    os.utime(article, (past, past))  # rendered before the results it should show
    build = diff.locate(new)
    assert build.article is None and "older than results.json" in build.notes[0]
    report = diff.compare(diff.locate(old), build)
    assert report.sentences is None
    assert any("article sentences not compared" in n for n in report.notes)


# --- tables ---------------------------------------------------------------------------------------------------
def test_changed_table_cells_exactly(builds):
    old, new = builds
    make_build(old)
    make_build(new, bdi="13.90 (7.24)", p="0.061", stars="")
    (table,) = report_of(old, new).tables
    assert [(c.table, c.row, c.column, c.old, c.new) for c in table.cells] == [
        ("tbl-table1", "BDI-II", "CP mean (SD)", "13.70 (7.24)", "13.90 (7.24)"),
        ("tbl-table1", "BDI-II", "p", "0.018", "0.061"),
        ("tbl-table1", "BDI-II", "(column 5)", "*", ""),
    ]
    assert table.precise_cells == 1  # the parquet's p of BDI-II


def test_grouped_table_rows_added_and_renamed_column(tmp_path):
    old = tmp_path / "a.md"
    new = tmp_path / "b.md"
    old.write_text(GROUPED)
    new.write_text(GROUPED.replace("p (Bonferroni)", "p (Holm)").replace("0.108", "0.099")
                   + "| IL-6 | MBPM | 15 | 0.500 |\n")
    old.write_text(GROUPED + "\n*Note.* Bonferroni-adjusted p within each family. Stars refer to it.\n")
    new.write_text(new.read_text() + "\n*Note.* Holm-adjusted p within each family. Stars refer to it.\n")
    change = diff.diff_markdown_table("tbl-table2", old, new)
    assert [(n.old, n.new) for n in change.notes] == [
        ("Note. Bonferroni-adjusted p within each family.", "Note. Holm-adjusted p within each family.")]
    assert diff.row_labels(diff.read_markdown_table(old)[1]) == [
        "Oxytocin / MBPM", "Oxytocin / WL", "IL-1β / MBPM", "IL-1β / WL"]
    assert change.columns_renamed == ["p (Bonferroni) → p (Holm)"]
    assert [(c.row, c.column, c.old, c.new) for c in change.cells] == [
        ("IL-1β / WL", "p (Bonferroni) → p (Holm)", "0.108", "0.099")]
    assert change.rows_added == ["IL-6 / MBPM"] and change.rows_removed == []


def test_table_added_or_removed(builds):
    old, new = builds
    make_build(old)
    make_build(new)
    (new / "tables" / "tbl-new.md").write_text("| a |\n|--|\n| 1 |\n")
    assert [(t.table, t.status) for t in report_of(old, new).tables] == [("tbl-new", "added")]


# --- figures --------------------------------------------------------------------------------------------------
def test_figures_compared_by_pixels_not_bytes(builds, tmp_path):
    old, new = builds
    make_build(old)
    make_build(new)
    png(new / "figures" / "fig1.png", np.full((20, 30, 3), 255, np.uint8), text="another matplotlib")
    assert (old / "figures" / "fig1.png").read_bytes() != (new / "figures" / "fig1.png").read_bytes()
    assert report_of(old, new).figures == []

    pixels = np.full((20, 30, 3), 255, np.uint8)
    pixels[3, 4] = (0, 0, 0)
    png(new / "figures" / "fig1.png", pixels)
    png(new / "figures" / "fig2.png", pixels)
    out = tmp_path / "out"
    figures = diff.compare(diff.locate(old), diff.locate(new), out_dir=out).figures
    assert [(f.name, f.status) for f in figures] == [("fig1.png", "changed"), ("fig2.png", "added")]
    assert figures[0].changed_share == pytest.approx(1 / 600)
    assert (out / "fig1.png").is_file()


def test_resized_figure(builds):
    old, new = builds
    make_build(old)
    make_build(new, figure=np.full((40, 30, 3), 255, np.uint8))
    (fig,) = report_of(old, new).figures
    assert (fig.status, fig.old_size, fig.new_size) == ("resized", (30, 20), (30, 40))


# --- locating builds, snapshots, the command line -------------------------------------------------------------
def test_not_a_build_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json"):
        diff.locate(tmp_path)
    with pytest.raises(FileNotFoundError, match="neither a build folder .* nor a git ref"):
        diff.resolve("no-such-build-or-ref-xyz", render=False)


def test_project_build_finds_figures_dir_and_manuscript(tmp_path):
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config" / "params.yaml").write_text("build_dir: build\nfigures_dir: figs\n")
    make_build(project / "build", article=False)
    shutil.rmtree(project / "build" / "figures")
    (project / "figs").mkdir()
    (project / "_manuscript").mkdir()
    (project / "_manuscript" / "index.html").write_text("<main></main>")
    build = diff.locate(project / "build")
    assert build.figures == project / "figs"
    assert build.article == project / "_manuscript" / "index.html"


def test_snapshot_keeps_what_the_report_compares(builds):
    old, new = builds
    make_build(old)
    diff.snapshot(old, new)
    assert sorted(p.name for p in new.iterdir()) == ["_manuscript", "figures", "results.json", "results_keys.csv",
                                                     "snapshot.json", "tables"]
    assert re.match(rf"^{re.escape(str(new))} \(your snapshot \(make snapshot\), made \d{{4}}-\d\d-\d\d \d\d:\d\d UTC: "
                    rf"{re.escape(str(old))} with results of ", diff.locate(new).label)
    assert report_of(old, new).empty
    diff.snapshot(old, new)  # replaces an earlier snapshot
    assert report_of(old, new).empty


def test_rotate_keeps_the_build_before_the_last_change(tmp_path):
    build, last, previous = tmp_path / "build", tmp_path / "last", tmp_path / "previous"
    make_build(build, {"a.x": 1.0})
    assert diff.rotate(build, last, previous) == "first" and not previous.exists()
    assert diff.rotate(build, last, previous) == "unchanged" and not previous.exists()  # a no-op rebuild
    (build / "results.json").write_text(json.dumps({"a.x": 2.0}))
    assert diff.rotate(build, last, previous) == "rotated"
    assert json.loads((previous / "results.json").read_text()) == {"a.x": 1.0}
    assert json.loads((last / "results.json").read_text()) == {"a.x": 2.0}
    assert diff.rotate(build, last, previous) == "unchanged"
    assert json.loads((previous / "results.json").read_text()) == {"a.x": 1.0}


def test_the_authors_snapshot_survives_report_rotations_and_diff_shows_every_change_since(tmp_path, monkeypatch,
                                                                                          capsys):
    """The audit's sequence: `make snapshot`, a prose edit, `make report` (rotates), a data fix, `make report`
    (rotates again): `make diff` still compares with the author's snapshot, says so, and shows both changes."""
    from helpers.__main__ import main

    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config" / "params.yaml").write_text("build_dir: build\nfigures_dir: build/figures\n")
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(project))
    monkeypatch.chdir(project)
    build = project / "build"
    make_build(build, article=False)
    article = project / "_manuscript" / "index.html"  # the project's rendered article
    article.parent.mkdir()

    def render(text):  # what `make report` does after the pipeline: the article is newer than results.json
        article.write_text(text)
        later = (build / "results.json").stat().st_mtime + 1
        os.utime(article, (later, later))

    render(ARTICLE.format(date="2026-12-01", sig="significant", p="0.015", rose="rose"))
    diff.rotate(build)  # the first `make report`
    assert main(["snapshot"]) == 0
    assert "until you run `make snapshot` again" in capsys.readouterr().out
    # a prose edit, then `make report` (the article re-rendered; its rotation keeps the build before in build/previous)
    render(article.read_text().replace("In total, 65 adults took part.", "Sixty-five adults took part."))
    assert diff.rotate(build) == "rotated"
    # a data fix (one BDI-II value), then `make report`
    results = json.loads((build / "results.json").read_text())
    (build / "results.json").write_text(json.dumps({**results, "t1.bdi_total.cp_mean": 13.9}))
    render(article.read_text())
    assert diff.rotate(build) == "rotated"
    assert json.loads((project / "build/snapshot/results.json").read_text())["t1.bdi_total.cp_mean"] == 13.7
    assert main(["diff", "--no-render", "--no-supplementary"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^Base: build/snapshot \(your snapshot \(make snapshot\), made \d{4}-\d\d-\d\d \d\d:\d\d UTC: "
                     r"build with results of .*\(the default BASE; BASE= chooses another\)$", printed, re.M), printed
    assert "| `t1.bdi_total.cp_mean` | 13.7 | 13.9 |" in printed  # the data fix
    assert re.search(r"- old: \*\*In total, 65\*\* adults took part\.\n  - new: \*\*Sixty-five\*\* adults took part\.",
                     printed), printed  # the prose edit
    # the automatic slot holds only the build before the data fix; BASE= and NEW= choose any two builds
    assert main(["diff", "--base", "build/previous", "--new", "build", "--no-render", "--no-supplementary"]) == 0
    printed = capsys.readouterr().out
    assert "Base: build/previous (kept automatically by make report, made " in printed
    assert "Sixty-five" not in printed and "| `t1.bdi_total.cp_mean` | 13.7 | 13.9 |" in printed
    assert main(["diff", "--base", "build/previous", "--new", "build/snapshot", "--no-render",
                 "--no-supplementary"]) == 0
    assert "**Sixty-five** adults took part." in capsys.readouterr().out


def test_command_line_writes_html_markdown_and_json(builds, capsys):
    from helpers.__main__ import main

    old, new = builds
    make_build(old)
    make_build(new, bdi="13.90 (7.24)", results={"t1.bdi_total.cp_mean": 13.9, "t1.bdi_total.p": 0.018,
                                                 "t1.il8.p": 0.015, "t1.il8.test": "ANOVA",
                                                 "rm.posthoc.oxytocin.mbpm.mean_diff": 7.0, "flow.n_total": 65})
    assert main(["diff", "--base", str(old), "--new", str(new), "--no-render", "--no-supplementary"]) == 0
    printed = capsys.readouterr().out
    assert "| `t1.bdi_total.cp_mean` | 13.7 | 13.9 | +1.46% |" in printed
    assert "Changed: 1 results key (0 flagged); 0 article sentences (0 with a flipped conclusion word); " \
        "1 printed table cell in 1 table; 0 figures." in printed
    changes = json.loads((new / "diff" / "changes.json").read_text())
    assert [k["key"] for k in changes["keys"]] == ["t1.bdi_total.cp_mean"]
    assert [(c["row"], c["column"]) for c in changes["cells"]] == [("BDI-II", "CP mean (SD)")]
    page = (new / "diff" / "index.html").read_text()
    assert "t1.bdi_total.cp_mean" in page and "13.90 (7.24)" in page
    (new / "diff" / "keep.txt").write_text("not the report's")
    assert main(["diff", "--base", str(old), "--new", str(new), "--no-render", "--no-supplementary"]) == 0
    assert (new / "diff" / "keep.txt").is_file()  # a second report replaces only the report's own files
    assert main(["diff", "--base", str(old / "nope"), "--new", str(new), "--no-render"]) == 2
    assert "neither a build folder" in capsys.readouterr().err


def test_supplementary_links_the_reports(tmp_path):
    from helpers.supplementary import revision_section

    build = tmp_path / "build"
    out = build / "supplementary"
    assert "No revision report yet" in revision_section(build, out)
    for page in (build / "diff" / "index.html", build / "variants" / "holm" / "diff" / "index.html"):
        page.parent.mkdir(parents=True)
        page.write_text("<html></html>")
    section = revision_section(build, out)
    assert "](../diff/index.html)" in section and "](../variants/holm/diff/index.html)" in section
    assert "older than these results" not in section
    (build / "variants" / "holm" / "results.json").write_text("{}")  # the variant was rebuilt after its report
    past = time.time() - 60
    os.utime(build / "variants" / "holm" / "diff" / "index.html", (past, past))
    assert revision_section(build, out).count("older than these results") == 1


def test_conclusions_that_may_have_changed_come_first(builds):
    old, new = builds
    make_build(old, {"t1.il8.p": 0.015, "t1.age.f": 3.0})
    make_build(new, {"t1.il8.p": 0.061, "t1.age.f": 3.1}, sig="not significant", p_il8="0.061")
    report = report_of(old, new)
    assert report.conclusions() == [
        "t1.il8.p: 0.015 → 0.061 (p crossed 0.05: no longer significant)",
        "article: “significant” → “not significant” in “The IL-8 difference was not significant (p = 0.061).”",
    ]
    md = diff.to_markdown(report)
    assert md.index("## Conclusions that may have changed") < md.index("## Results keys")
    make_build(new.with_name("quiet"), {"t1.il8.p": 0.015, "t1.age.f": 3.1})
    quiet = report_of(old, new.with_name("quiet"))
    assert quiet.conclusions() == [] and "None: no p-value crossed α = 0.05" in diff.to_markdown(quiet)
