"""Ingest of the shipped synthetic study: flow counts, data-quality table, detection limits, replicate statistics.

Expected flow counts are the published ones (paper Methods and Figure 1; STUDY.md); expected soft problems are
those the generator's design injects (synthetic_design.yaml), counted independently of the ingest code.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest

from helpers import ingest, synthetic

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return ingest.ingest(RAW, tmp_path_factory.mktemp("build"))


PUBLISHED_FLOW = {
    "n_total": 65, "n_cp": 50, "n_hc": 15, "n_cp_baseline_only": 12, "n_trial": 38,
    "n_mbpm_allocated": 24, "n_wl_allocated": 14, "n_mbpm_analysed": 15, "n_wl_analysed": 13,
    "n_mbpm_analysed_oxytocin": 14,  # paired t(13) for oxytocin in MBPM
    "n_wl_analysed_il1b": 13,        # paired t(12) for IL-1b in WL
    "n_complete_cases": 26,          # multivariate F(5, 20): 26 - 2 groups ... df 20
}


def test_flow_counts_match_the_paper(result):
    flow = dict(zip(result.flow["key"], result.flow["n"], strict=True))
    for key, n in PUBLISHED_FLOW.items():
        assert flow[key] == n, key
    assert flow["n_mbpm_lost"] == 24 - 15 and flow["n_wl_lost"] == 14 - 13


def test_flow_follows_the_roster(tmp_path):
    """Flow counts are computed: marking one more MBPM patient as a drop-out moves one from analysed to lost."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in RAW.iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    roster = pd.read_csv(raw / "roster.csv", dtype=str, keep_default_na=False)
    r = ingest.ingest(RAW, tmp_path / "b0")
    analysed = r.roster.loc[r.roster["analysed"] & (r.roster["arm"] == "MBPM"), "record_id"].iloc[0]
    roster.loc[roster["record_id"] == analysed, ["dropout", "dropout_reason"]] = ["1", "lost to follow-up"]
    roster.to_csv(raw / "roster.csv", index=False, lineterminator="\n")
    flow = dict(zip(*ingest.ingest(raw, tmp_path / "b1").flow[["key", "n"]].T.values, strict=True))
    assert flow["n_mbpm_analysed"] == 14 and flow["n_mbpm_dropout"] == 5


def test_data_quality_lists_the_injected_problems(result):
    soft = synthetic.design()["soft_problems"]
    rules = result.data_quality["rule"].value_counts()
    assert rules["below the lower limit of detection"] == soft["oxytocin_below_llod"] + soft["tnfa_below_llod"]
    assert rules["above the assay range"] == soft["dheas_above_uloq"]
    assert rules["item not answered"] <= soft["missing_items"]  # the same cell can be drawn twice
    assert rules["item not answered"] >= soft["missing_items"] - 2
    assert rules["answered 'not applicable'"] == soft["pam_not_applicable"]
    assert rules["form status Incomplete (not Complete)"] == soft["incomplete_forms"]
    high_cv = result.data_quality["rule"].str.startswith("replicate CV above").sum()
    assert high_cv >= soft["high_cv_replicates"]
    # lab failures: 2 MBPM post samples QNS (6 analytes each), one DHEA-S QNS, one oxytocin assay failure
    assert rules["no result from the lab (QNS)"] == 2 * 6 + 1
    assert rules["no result from the lab (Assay failure)"] == 1


def test_data_quality_rows_point_at_the_file(result):
    dq = result.data_quality
    raw = pd.read_csv(RAW / "redcap_export.csv", dtype=str, keep_default_na=False)
    for row in dq[dq["rule"] == "item not answered"].itertuples():
        record = raw.iloc[row.row - 2]
        assert record["record_id"] == row.record_id and record[row.column] == ""


def test_nothing_is_dropped(result):
    results = pd.read_csv(RAW / "salivalab_results.csv", dtype=str)
    assert len(result.biomarkers) == len(results)
    items = pd.read_csv(RAW / "redcap_export.csv", dtype=str)
    assert len(result.items) == len(items)


def test_ingest_writes_build_only(tmp_path):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in RAW.iterdir()}
    r = ingest.ingest(RAW, tmp_path / "build")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in RAW.iterdir()}
    assert before == after
    assert {p.name for p in (tmp_path / "build" / "data").iterdir()} >= {
        "roster.parquet", "items.parquet", "assay_replicates.parquet", "biomarkers.parquet", "data_quality.parquet"}
    assert all(p.is_relative_to(tmp_path) for p in r.paths.values())


def test_ingest_is_deterministic(tmp_path):
    a = ingest.ingest(RAW, tmp_path / "a").paths
    b = ingest.ingest(RAW, tmp_path / "b").paths
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


@pytest.mark.parametrize(("rule", "expected"), [("half", 4.0), ("sqrt2", 8 / math.sqrt(2)), ("lod", 8.0)])
def test_lod_rule_below_limit(rule, expected):
    value = ingest.lod_value(pd.Series([8.0]), pd.Series(["<LLOD"]), rule)
    assert value.iloc[0] == pytest.approx(expected)


def test_lod_rule_missing_and_above_range():
    assert math.isnan(ingest.lod_value(pd.Series([8.0]), pd.Series(["<LLOD"]), "missing").iloc[0])
    assert ingest.lod_value(pd.Series([1000.0]), pd.Series([">ULOQ"]), "half").iloc[0] == 1000.0
    with pytest.raises(ValueError, match="lod_rule"):
        ingest.lod_value(pd.Series([8.0]), pd.Series(["<LLOD"]), "zero")


def _lab(rows):
    results = pd.DataFrame(rows, columns=["sample_id", "analyte", "rep1", "rep2", "rep3", "mean", "cv_pct", "units",
                                          "flags"])
    manifest = pd.DataFrame({"sample_id": results["sample_id"].unique(), "record_id": "P001", "visit": "pre"})
    return results, manifest


def test_replicate_mean_and_cv_hand_worked():
    # duplicates 10 and 12: mean 11, SD sqrt(2) = 1.41421, CV 12.856 %
    results, manifest = _lab([["S1", "IL-6", "10.00", "12.00", None, "11.00", 12.86, "pg/mL", None]])
    row = ingest.biomarkers(results, manifest).iloc[0]
    assert row["value"] == pytest.approx(11.0)
    assert row["cv_pct"] == pytest.approx(100 * math.sqrt(2) / 11)
    assert row["n_replicates"] == 2


def test_partly_censored_replicates_hand_worked():
    # triplicate <8.00, 10, 12 under LLOD/2: (4 + 10 + 12) / 3; CV from the measured 10 and 12 only
    results, manifest = _lab([["S1", "Oxytocin", "<8.00", "10.00", "12.00", "11.00", 12.86, "pg/mL", "rep <LLOD"]])
    row = ingest.biomarkers(results, manifest, "half").iloc[0]
    assert row["value"] == pytest.approx(26 / 3)
    assert row["censored"] == "partly"
    assert row["cv_pct"] == pytest.approx(100 * math.sqrt(2) / 11)
    row = ingest.biomarkers(results, manifest, "missing").iloc[0]
    assert row["value"] == pytest.approx(11.0)


def test_fully_censored_and_failed_results():
    results, manifest = _lab([
        ["S1", "Oxytocin", "<8.00", "<8.00", "<8.00", "<8.00", None, "pg/mL", "<LLOD"],
        ["S1", "DHEA-S", None, None, None, None, None, "pg/mL", "QNS"],
    ])
    out = ingest.biomarkers(results, manifest, "half").set_index("analyte")
    assert out.loc["oxytocin", "value"] == pytest.approx(4.0) and out.loc["oxytocin", "censored"] == "<LLOD"
    assert not out.loc["dheas", "reported"] and math.isnan(out.loc["dheas", "value"])
    assert math.isnan(ingest.biomarkers(results, manifest, "missing").set_index("analyte").loc["oxytocin", "value"])


def test_cv_threshold_is_a_parameter(tmp_path):
    strict = ingest.ingest(RAW, tmp_path / "s", cv_threshold_cytokines_pct=1.0)
    loose = ingest.ingest(RAW, tmp_path / "l")
    n = lambda r: r.data_quality["rule"].str.startswith("replicate CV above").sum()  # noqa: E731
    assert n(strict) > n(loose)
