"""The supplementary's pages (helpers.supplementary): Quarto Markdown written from a build.

Unit tests on a small planted build: what each page holds, that data values reach the page as literal text (no
HTML, no Markdown markup) and that participant-level rows stay hidden unless the build is a private review. Where
Quarto is installed, its pandoc reads the pages to check the escaping as a reader's browser would get it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess

import nbformat
import pandas as pd
import pytest

from helpers import render, supplementary

from .conftest import ROOT
from .test_privacy import leaks, planted_build  # noqa: F401, F811 (a fixture)


@pytest.fixture()
def planted(planted_build):  # noqa: F811
    """test_privacy's planted build, with Markdown in a free-text value, the notebook's papermill parameters and a
    result that the paper reports."""
    dq = pd.read_parquet(planted_build / "data" / "data_quality.parquet")
    dq.loc[2, "value"] = "moved <away> & \"busy\" *now* [x](y) $d_z$ @ref"
    dq.to_parquet(planted_build / "data" / "data_quality.parquet")
    path = planted_build / "notebooks" / "09_planted.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {"parameters": {"show_rows": False, "alpha": 0.05}}
    nbformat.write(nb, path)
    (planted_build / "results.json").write_text(json.dumps({"flow.n_total": 65, "t1.age.hc_sd": 10.472}))
    return planted_build


def pages(out):
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.qmd"))}


def test_every_page_is_written_with_a_title_in_words(planted, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "roster.csv").write_text("record_id\nP001\n")
    index = supplementary.build_supplementary(planted, tmp_path / "supp", raw_dir=raw, show_rows=False)
    got = pages(index.parent)
    assert sorted(got) == sorted(supplementary.PAGES)
    for stem, text in got.items():
        assert text.startswith(f"---\ntitle: {supplementary.PAGES[stem]}\n")
        assert not re.search(r"^#+ .*\btbl-", text, flags=re.M), f"{stem}: a heading is a raw label"
    # the first page links every notebook page (Quarto's notebook view) and every other page
    assert "(../notebooks/09_planted-preview.html)" in got["index"]
    for stem in supplementary.PAGES:
        assert stem == "index" or f"({stem}.qmd)" in got["index"]
    # provenance: the raw file's checksum and the parameters the notebook ran with
    assert supplementary.sha256(raw / "roster.csv") in got["provenance"]
    assert "`show_rows`" in got["provenance"] and "09\\_planted" in got["provenance"]
    # numbers carry a true minus (10.472 − 10.71 in the reproduction table), never a hyphen-minus
    assert "−0.238" in got["reproduction"]
    assert not re.search(r"(?<![\w.\\])-\d", got["reproduction"])


def test_data_values_hidden_by_default_and_literal_when_shown(planted, tmp_path):
    hidden = pages(supplementary.build_supplementary(planted, tmp_path / "a", raw_dir=tmp_path,
                                                     show_rows=False).parent)
    assert leaks([p for p in (tmp_path / "a").glob("*.qmd")], ["P001", "P002", "P010"]) == []
    assert "below LLOD" in hidden["data-quality"] and "<script>" not in hidden["data-quality"]
    shown = pages(supplementary.build_supplementary(planted, tmp_path / "b", raw_dir=tmp_path,
                                                    show_rows=True).parent)["data-quality"]
    assert "P001" in shown  # rows shown on request
    assert "<script>" not in shown and "\\<script\\>alert\\(\\'x\\'\\)\\</script\\>" in shown
    assert "\\$*d*~z~\\$" in shown and "\\@ref" in shown and "\\*now\\*" in shown


def test_markdown_escaping_as_pandoc_reads_it():
    exe = render.find_quarto()
    if not render.quarto_ok(render.quarto_version(exe)):
        pytest.skip("no Quarto (its pandoc reads the escaped text)")
    nasty = "<script>alert('x')</script> *a* _b_ [l](u) $x$ @key | `c` -0.45 IL-6 #h"
    out = subprocess.run([exe, "pandoc", "-f", "markdown", "-t", "plain"],
                         input=supplementary.md_text(nasty), capture_output=True, text=True, check=True).stdout
    assert " ".join(out.split()) == nasty.replace("-0.45", "−0.45")
    table = supplementary.md_table(pd.DataFrame({"what": [nasty], "n": [-3.5]}), numeric=("n",))
    html = subprocess.run([exe, "pandoc", "-f", "markdown", "-t", "html"], input=table, capture_output=True,
                          text=True, check=True).stdout
    assert "<script>" not in html and "&lt;script&gt;" in html and "<td style=\"text-align: right;\">−3.500</td>" in html


def test_effect_size_labels_are_subscripts():
    assert supplementary.md_text("this run's d_z, d_av and p_adj") == "this run\\'s *d*~z~, *d*~av~ and *p*~adj~"
    assert supplementary.md_text("t1.x_zz") == "t1.x\\_zz"


def test_claim_evidence_shows_keys_as_code_and_true_relations():
    got = supplementary.md_keys("t1.x.p = 0.2807 >= 0.05: true; t1.x.mean_diff = -2.9 <= 0: true")
    assert got == "`t1.x.p` = 0.2807 ≥ 0.05: true; `t1.x.mean_diff` = −2.9 ≤ 0: true"


def test_number_format():
    assert supplementary._fmt(-0.45) == "−0.450"
    assert supplementary._fmt(-0.0) == "0" and supplementary._fmt(-0.0004) == "−4.00 × 10^−4^"
    assert supplementary._fmt(12.0) == "12" and supplementary._fmt(float("nan")) == ""


def test_variants_comparison_and_no_clock_time(planted, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    (planted / "variants").mkdir()
    (planted / "variants" / "comparison.md").write_text(
        "# Analysis variants\n\n- **holm**: 1 of 2 headline statistics differ from `default`.\n\n"
        "| statistic | default | holm | differs | flags |\n|---|---:|---:|---|---|\n"
        "| `rm.x.p` | 0.040 | 0.060 | yes | p crosses α: holm <img src=x> |\n")
    raw = tmp_path / "raw"
    raw.mkdir()
    first = pages(supplementary.build_supplementary(planted, tmp_path / "a", raw_dir=raw, show_rows=False)
                  .parent)
    assert "p crosses α: holm" in first["variants"] and "\\<img src=x>" in first["variants"]
    assert "### Analysis variants" in first["variants"]  # its heading sits under the page's
    assert "1970\\-01\\-02 00:00:00 UTC \\(SOURCE\\_DATE\\_EPOCH\\)" in first["provenance"]
    second = pages(supplementary.build_supplementary(planted, tmp_path / "b", raw_dir=raw, show_rows=False)
                   .parent)
    assert second == first


def test_revision_reports_are_linked_relative_to_the_pages(tmp_path):
    build = tmp_path / "build"
    out = build / "supplementary"
    assert "No revision report yet" in supplementary.revision_section(build, out)
    page = build / "variants" / "holm" / "diff" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    assert "](../variants/holm/diff/index.html)" in supplementary.revision_section(build, out)


def test_publish_copies_the_revision_reports_beside_the_pages(planted, tmp_path, monkeypatch):
    """mbpm publish: pages written, the profile's render asked for, diff reports copied to the same relative place
    in the site, and Quarto's stray copy of the everyday render's notebooks left out (render stubbed: no Quarto)."""
    from helpers import publish

    project = planted.parent
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(project))
    shutil.copy2(ROOT / "requirements-lock.txt", project)  # the provenance page lists the locked versions
    for report in (planted / "diff", planted / "variants" / "holm" / "diff"):
        report.mkdir(parents=True)
        (report / "index.html").write_text("<html>report</html>")
        (report / "fig.png").write_bytes(b"png")
    asked = {}

    def fake_render(build_dir, log):
        asked["profile"] = os.environ.get("QUARTO_PROFILE")
        (project / "_publish" / "_manuscript" / "build").mkdir(parents=True)
        (project / "_publish" / "index.html").write_text("<html>article</html>")
        return 0

    monkeypatch.setattr(publish.render, "render", fake_render)
    monkeypatch.setattr(supplementary, "build_supplementary",
                        functools.partial(supplementary.build_supplementary, raw_dir=tmp_path))
    monkeypatch.delenv("QUARTO_PROFILE", raising=False)
    assert publish.publish(planted) == 0
    site = project / "_publish"
    assert asked["profile"] == "publish"
    assert (planted / "supplementary" / "variants.qmd").is_file()
    assert (site / "build" / "diff" / "fig.png").read_bytes() == b"png"
    assert (site / "build" / "variants" / "holm" / "diff" / "index.html").is_file()
    assert not (site / "_manuscript").exists()
    assert "QUARTO_PROFILE" not in os.environ  # the profile was for that render only
    # the variants page links both reports where the site now holds them
    text = (planted / "supplementary" / "variants.qmd").read_text(encoding="utf-8")
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert (site / "build" / "supplementary" / link).resolve().is_file(), link
