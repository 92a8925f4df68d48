"""Each bad input in tests/bad_inputs/ fails with a message naming file, row, column, value and rule.

``cases.csv`` lists, per bad file, the raw file it replaces (a companion file may replace a second one, e.g. a
small manifest that the bad lab file refers to) and the row, column, value and rule the message must name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers import ingest
from helpers.validation import DataValidationError

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "bad_inputs"
CASES = pd.read_csv(BAD / "cases.csv", dtype=str, keep_default_na=False)
COMPANION_TARGET = {"sample_manifest_small.csv": "sample_manifest.csv"}


def _raw_with(tmp_path: Path, case: pd.Series) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw", raw)
    shutil.copy(BAD / case["bad_file"], raw / case["replaces"])
    if case["companion"]:
        shutil.copy(BAD / "companions" / case["companion"], raw / COMPANION_TARGET[case["companion"]])
    return raw


def test_every_bad_file_has_a_case():
    files = {p.name for p in BAD.glob("*.csv")} - {"cases.csv"}
    assert files == set(CASES["bad_file"])


@pytest.mark.parametrize("case", [row for _, row in CASES.iterrows()], ids=list(CASES["bad_file"]))
def test_bad_input_is_named(tmp_path, case):
    raw = _raw_with(tmp_path, case)
    with pytest.raises(DataValidationError) as err:
        ingest.load_raw(raw)
    message = str(err.value)
    assert message.startswith(f"{case['replaces']} failed validation")
    lines = [line for line in message.splitlines() if f"row {case['row']}," in line or f"row {case['row']} " in line]
    assert lines, f"no line names row {case['row']}:\n{message}"
    matching = [line for line in lines
                if case["column"] in line and case["value"] in line and case["rule"] in line]
    assert matching, f"no line names column {case['column']!r}, value {case['value']!r}, rule {case['rule']!r}:\n{message}"


def test_missing_file_is_named(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw", raw)
    (raw / "roster.csv").unlink()
    with pytest.raises(DataValidationError, match="roster.csv: file not found"):
        ingest.load_raw(raw)


def test_shipped_data_validate():
    raw = ingest.load_raw(ROOT / "data" / "raw")
    assert len(raw.roster) == 65
    assert set(raw.items["redcap_event_name"]) == {"baseline_arm_1", "post_arm_1"}


def test_companion_manifest_is_valid_on_its_own(tmp_path):
    case = pd.Series({"bad_file": "roster_unknown_column.csv", "replaces": "roster.csv", "companion": ""})
    raw = _raw_with(tmp_path, case)
    shutil.copy(ROOT / "data" / "raw" / "roster.csv", raw / "roster.csv")
    shutil.copy(BAD / "companions" / "sample_manifest_small.csv", raw / "sample_manifest.csv")
    with pytest.raises(DataValidationError) as err:
        ingest.load_raw(raw)
    # the full lab file then refers to samples the small manifest lacks: reported, not the manifest itself
    assert str(err.value).startswith("salivalab_results.csv failed validation")
    assert "a sample listed in sample_manifest.csv" in str(err.value)


def test_dictionary_documents_every_contract_column():
    """data/dictionary.csv names exactly the columns the schemas accept (items come from the REDCap dictionary)."""
    from helpers import validation

    doc = pd.read_csv(ROOT / "data" / "dictionary.csv")
    documented = {f: set(g["field"]) for f, g in doc.groupby("file")}
    assert documented["roster.csv"] == set(validation.roster_schema().columns)
    assert documented["sample_manifest.csv"] == set(validation.manifest_schema([]).columns)
    assert documented["salivalab_results.csv"] == set(validation.results_schema([], {}).columns)
