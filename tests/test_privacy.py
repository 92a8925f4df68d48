"""Privacy: by default no executed notebook, supplementary page or rendered manuscript shows a record id, and
free text from the data is HTML-escaped wherever it reaches HTML.

The scan of the real build skips (with a reason) when there is no build; the scanner and the supplementary's
escaping are tested on a small planted build so the checks are known to fail when they should.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from helpers import supplementary

ROOT = Path(__file__).resolve().parents[1]


def build_dir() -> Path:
    return Path(os.environ.get("MBPM_TEST_BUILD", ROOT / "build"))


def record_ids(build: Path) -> list[str]:
    """Every record id in the roster (the validated one in the build, else the raw file)."""
    parquet = build / "data" / "roster.parquet"
    if parquet.is_file():
        ids = pd.read_parquet(parquet)["record_id"]
    else:
        ids = pd.read_csv(ROOT / "data" / "raw" / "roster.csv", dtype=str)["record_id"]
    return sorted({str(i) for i in ids.dropna()})


def scanned_files(build: Path) -> list[Path]:
    files = sorted((build / "notebooks").glob("*.ipynb"))
    files += sorted((build / "supplementary").rglob("*.qmd"))
    for site in (ROOT / "_manuscript", ROOT / "_publish"):  # the everyday render and the published site
        if site.is_dir() and build == ROOT / "build":
            files += sorted(site.rglob("*.html")) + sorted(site.rglob("*.ipynb"))
    return files


def leaks(files: list[Path], ids: list[str]) -> list[tuple[str, str]]:
    """(file, record id) for every id that appears in a file as a whole token."""
    if not ids:
        return []
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(i) for i in ids) + r")(?![A-Za-z0-9])")
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for rid in sorted(set(pattern.findall(text))):
            found.append((str(path), rid))
    return found


def test_no_record_id_in_executed_notebooks_supplementary_or_manuscript():
    build = build_dir()
    files = scanned_files(build)
    if not any(p.suffix == ".ipynb" for p in files):
        pytest.skip(f"no executed notebooks in {build}: run `make report` first")
    params = build / "notebooks"
    shown = [p for p in params.glob("*.ipynb")
             if json.loads(p.read_text()).get("metadata", {}).get("papermill", {}).get("parameters", {}).get(
                 "show_rows")]
    if shown:
        pytest.skip(f"private-review build (show_rows true in {[p.name for p in shown]}): ids may be shown")
    ids = record_ids(build)
    assert ids, "no record ids to scan for"
    found = leaks(files, ids)
    assert not found, f"record ids visible in published outputs: {found[:20]}"


# ---------------------------------------------------------------------------------------------------------------
# the scanner and the supplementary on a planted build
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture()
def planted_build(tmp_path):
    build = tmp_path / "build"
    (build / "data").mkdir(parents=True)
    (build / "notebooks").mkdir()
    (build / "tables").mkdir()
    pd.DataFrame({"record_id": ["P001", "P002", "P010"], "cohort": ["CP", "CP", "HC"]}).to_parquet(
        build / "data" / "roster.parquet")
    pd.DataFrame({
        "file": ["salivalab_results.csv", "salivalab_results.csv", "roster.csv"],
        "row": [3, 4, 9], "record_id": ["P001", "P002", "P010"], "visit": ["pre", "post", "pre"],
        "column": ["oxytocin", "il6", "dropout_reason"],
        "value": ["<8.00", "<script>alert('x')</script>", "moved <away> & \"busy\""],
        "rule": ["below LLOD", "below LLOD", "free text"], "action": ["LLOD/2", "LLOD/2", "kept"],
    }).to_parquet(build / "data" / "data_quality.parquet")
    (build / "tables" / "robust_log_rmanova.md").write_text(
        "| Effect | F |\n|---|---:|\n| Biomarker <img src=x onerror=alert(1)> | 3.10 |\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 09 Planted"),
        nbformat.v4.new_code_cell("x = 1\nprint('aggregate only')", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="aggregate only\n")]),
    ])
    nbformat.write(nb, build / "notebooks" / "09_planted.ipynb")
    (build / "results.json").write_text(json.dumps({"flow.n_total": 65, "rm.biomarker.F": 20.5}))
    return build


def test_scanner_finds_a_planted_id(planted_build):
    page = planted_build / "leak.html"
    page.write_text("<td>P002</td><td>P0021</td>")
    assert leaks([page], ["P001", "P002"]) == [(str(page), "P002")]


def test_show_rows_follows_the_parameters_the_build_ran_with(planted_build, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("show_rows: false\n")
    assert supplementary.build_show_rows(planted_build, params) is False
    params.write_text("show_rows: true\n")
    assert supplementary.build_show_rows(planted_build, params) is True  # no notebook says otherwise
    nb_path = planted_build / "notebooks" / "09_planted.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata["papermill"] = {"parameters": {"show_rows": False, "build_dir": "build"}}
    nbformat.write(nb, nb_path)
    assert supplementary.build_show_rows(planted_build, params) is False  # what the notebooks ran with wins
