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

from helpers import ingest, plausibility, synthetic

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


@pytest.mark.slow  # ingests the shipped study more than once
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


@pytest.mark.slow  # ingests the shipped study more than once
def test_cv_threshold_is_a_parameter(tmp_path):
    strict = ingest.ingest(RAW, tmp_path / "s", cv_threshold_cytokines_pct=1.0)
    loose = ingest.ingest(RAW, tmp_path / "l")
    n = lambda r: r.data_quality["rule"].str.startswith("replicate CV above").sum()  # noqa: E731
    assert n(strict) > n(loose)


# ------------------------------------------------------------------------- issue 12: faults from the real world
def _copy_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    for f in RAW.iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    return raw


def _edit(raw: Path, name: str, edit) -> None:
    frame = pd.read_csv(raw / name, dtype=str, keep_default_na=False)
    frame = edit(frame)
    frame.to_csv(raw / name, index=False, lineterminator="\n")


def _lab_rows(result, record_id: str, visit: str, analyte: str) -> pd.Index:
    """0-based rows of salivalab_results.csv holding one participant's result (from the shipped ingest)."""
    m = result.biomarkers
    rows = m.loc[(m["record_id"] == record_id) & (m["visit"] == visit) & (m["analyte"] == analyte), "file_row"]
    return pd.Index(rows.astype(int) - 2)


def _mbpm_oxytocin_p(result) -> tuple[int, float]:
    """n and p of the paired t-test of oxytocin (pre vs post) in analysed MBPM patients (the paper's headline)."""
    from scipy import stats

    ids = result.roster.loc[result.roster["analysed"] & (result.roster["arm"] == "MBPM"), "record_id"]
    m = result.biomarkers[(result.biomarkers["analyte"] == "oxytocin") & result.biomarkers["record_id"].isin(ids)]
    wide = m.pivot(index="record_id", columns="visit", values="value").dropna()
    return len(wide), float(stats.ttest_rel(wide["pre"], wide["post"]).pvalue)


def _analysed_mbpm(result) -> str:
    ids = result.roster.loc[result.roster["analysed"] & (result.roster["arm"] == "MBPM"), "record_id"]
    m = result.biomarkers
    full = m[(m["analyte"] == "oxytocin") & m["reported"] & m["record_id"].isin(ids)].groupby("record_id").size()
    return str(full[full == 2].index[0])


@pytest.mark.slow  # ingests the shipped study more than once
def test_a_failed_assay_coded_999_is_not_a_value(tmp_path, result):
    """Issue 12: 999 for a failed oxytocin assay was used as 999 pg/mL (MBPM n 14 -> 15, headline p 0.039 -> 0.287).

    The same failure written as the lab writes it (empty replicates, 'Assay failure') and written as 999 must give
    the same analysis data; the 999 is listed in the data-quality table.
    """
    rid = _analysed_mbpm(result)
    rows = _lab_rows(result, rid, "post", "oxytocin")
    reps = ["rep1", "rep2", "rep3", "mean", "cv_pct"]
    failed, coded = _copy_raw(tmp_path / "a"), _copy_raw(tmp_path / "b")
    _edit(failed, "salivalab_results.csv", lambda f: f.assign(**{c: f[c].where(~f.index.isin(rows), "")
                                                                 for c in reps})
          .assign(flags=f["flags"].where(~f.index.isin(rows), "Assay failure")))
    _edit(coded, "salivalab_results.csv", lambda f: f.assign(**{c: f[c].where(~f.index.isin(rows), "999")
                                                                for c in reps[:4]})
          .assign(cv_pct=f["cv_pct"].where(~f.index.isin(rows), ""), flags=f["flags"].where(~f.index.isin(rows), "")))
    a = ingest.ingest(failed, tmp_path / "ba")
    b = ingest.ingest(coded, tmp_path / "bb")
    assert _mbpm_oxytocin_p(a) == _mbpm_oxytocin_p(b)
    assert _mbpm_oxytocin_p(b)[0] == _mbpm_oxytocin_p(result)[0] - 1
    pd.testing.assert_series_equal(a.biomarkers["value"], b.biomarkers["value"])
    assert a.flow.equals(b.flow.assign(n=b.flow["n"].where(b.flow["key"] != "n_results_excluded", 0)))
    coded_rows = b.data_quality[b.data_quality["rule"].str.startswith("missing_code:")]
    assert set(coded_rows["row"]) == {rows[0] + 2} and set(coded_rows["column"]) == {"rep1", "rep2", "rep3", "mean"}
    assert (b.flow.set_index("key").loc["n_results_excluded", "n"]) == 1


def test_a_value_far_above_the_range_is_excluded(tmp_path, result):
    """Issue 12: oxytocin 45,433 pg/mL (range 8-1000) without a '>' was used (p 0.039 -> 0.335); now excluded."""
    rid = _analysed_mbpm(result)
    rows = _lab_rows(result, rid, "post", "oxytocin")
    raw = _copy_raw(tmp_path)
    _edit(raw, "salivalab_results.csv", lambda f: f.assign(**{c: f[c].where(~f.index.isin(rows), "45433.00")
                                                              for c in ("rep1", "rep2", "rep3", "mean")}))
    r = ingest.ingest(raw, tmp_path / "b")
    n_before, _ = _mbpm_oxytocin_p(result)
    n_after, _ = _mbpm_oxytocin_p(r)
    assert n_after == n_before - 1
    row = r.biomarkers.loc[r.biomarkers["file_row"] == rows[0] + 2].iloc[0]
    assert math.isnan(row["value"]) and row["excluded"] == "far_above_range" and "excluded" in row["flags"]
    dq = r.data_quality[r.data_quality["rule"].str.startswith("far_above_range:")]
    assert len(dq) == 1 and dq.iloc[0]["value"] == "45433.00, 45433.00, 45433.00" and dq.iloc[0]["record_id"] == rid
    flow = r.flow.set_index("key")["n"]
    assert flow["n_results_excluded"] == 1
    assert flow["n_mbpm_analysed_oxytocin"] == result.flow.set_index("key")["n"]["n_mbpm_analysed_oxytocin"] - 1


def test_a_participant_without_questionnaires_is_counted(tmp_path, result):
    """Issue 12: a CP patient with no questionnaire rows silently shrank the CP group (50 -> 49)."""
    cp = result.roster.loc[result.roster["cohort"] == "CP", "record_id"].iloc[0]
    raw = _copy_raw(tmp_path)
    _edit(raw, "redcap_export.csv", lambda f: f[f["record_id"] != cp])
    r = ingest.ingest(raw, tmp_path / "b")
    flow = r.flow.set_index("key")["n"]
    assert flow["n_cp"] == 50 and flow["n_questionnaire_missing_pre"] == 1
    expected_post = bool(r.roster.set_index("record_id").loc[cp, "allocated"] == 1
                         and r.roster.set_index("record_id").loc[cp, "dropout"] == 0)
    assert flow["n_questionnaire_missing_post"] == int(expected_post)
    dq = r.data_quality[r.data_quality["rule"].str.startswith("absent_from_export:")]
    assert set(dq["record_id"]) == {cp} and set(dq["file"]) == {"roster.csv"}
    assert dq["row"].iloc[0] == int(r.roster.index[r.roster["record_id"] == cp][0]) + 2


def _without_wl_oxytocin(raw: Path, result) -> None:
    ids = result.roster.loc[result.roster["analysed"] & (result.roster["arm"] == "WL"), "record_id"]
    m = result.biomarkers
    rows = pd.Index(m.loc[(m["analyte"] == "oxytocin") & m["record_id"].isin(ids), "file_row"].astype(int) - 2)
    _edit(raw, "salivalab_results.csv", lambda f: f.assign(
        **{c: f[c].where(~f.index.isin(rows), "") for c in ("rep1", "rep2", "rep3", "mean", "cv_pct")},
        flags=f["flags"].where(~f.index.isin(rows), "Assay failure")))


@pytest.mark.slow  # ingests the shipped study more than once
def test_an_empty_design_cell_is_rejected_before_anything_is_written(tmp_path, result):
    """Issue 12: every wait-list oxytocin sample failed -> 04 stopped ('arm' has fewer than 2 levels) after 01-03 had
    rewritten build/data. Now ingest stops first, naming the cell, and an existing build folder is left as it was."""
    raw = _copy_raw(tmp_path)
    _without_wl_oxytocin(raw, result)
    build = tmp_path / "build"
    ingest.ingest(RAW, build)
    before = {p.name: p.read_bytes() for p in (build / "data").iterdir()}
    with pytest.raises(ingest.DataValidationError) as err:
        ingest.ingest(raw, build)
    message = str(err.value)
    assert message.startswith("salivalab_results.csv failed validation")
    assert "empty_design_cell: arm WL has 0 analysed patients with oxytocin at both visits" in message
    assert "Assay failure x" in message and "column 'analyte', value 'Oxytocin'" in message
    assert {p.name: p.read_bytes() for p in (build / "data").iterdir()} == before


def test_the_empty_design_cell_rule_is_the_table_parameter(tmp_path, result):
    """One wait-list patient with oxytocin left: below min_pairs (2) still rejected; the count is in the message."""
    raw = _copy_raw(tmp_path)
    _without_wl_oxytocin(raw, result)
    keep = result.roster.loc[result.roster["analysed"] & (result.roster["arm"] == "WL"), "record_id"].iloc[0]
    original = pd.read_csv(RAW / "salivalab_results.csv", dtype=str, keep_default_na=False)
    restore = _lab_rows(result, keep, "pre", "oxytocin").append(_lab_rows(result, keep, "post", "oxytocin"))

    def put_back(f: pd.DataFrame) -> pd.DataFrame:
        f.loc[restore] = original.loc[restore]
        return f

    _edit(raw, "salivalab_results.csv", put_back)
    assert int(plausibility.parameter("empty_design_cell")["min_pairs"]) == 2
    with pytest.raises(ingest.DataValidationError, match="arm WL has 1 analysed patients with oxytocin"):
        ingest.ingest(raw, tmp_path / "b")


def test_data_quality_counts_every_rule(tmp_path, result):
    """results.json gets one dq.n_<rule> per listing rule (zero on the shipped data)."""
    from helpers import io

    res = io.Results("01_ingest", tmp_path)
    ingest.record_results(res, result, "half")
    for rule, row in plausibility.rules().iterrows():
        key = f"dq.n_{rule}"
        assert (key in res.values) == (row["action"] != "reject")
        if key in res.values:
            assert res.values[key] == 0


def test_a_participant_without_a_baseline_sample_is_counted(tmp_path, result):
    """A participant the roster expects at baseline with no saliva sample (and so no lab rows) is listed and counted."""
    hc = result.roster.loc[result.roster["cohort"] == "HC", "record_id"].iloc[0]
    samples = result.biomarkers.loc[result.biomarkers["record_id"] == hc, "sample_id"].unique()
    raw = _copy_raw(tmp_path)
    _edit(raw, "sample_manifest.csv", lambda f: f[f["record_id"] != hc])
    _edit(raw, "salivalab_results.csv", lambda f: f[~f["sample_id"].isin(samples)])
    r = ingest.ingest(raw, tmp_path / "b")
    flow = r.flow.set_index("key")["n"]
    assert flow["n_hc"] == 15 and flow["n_saliva_missing_pre"] == 1 and flow["n_saliva_missing_post"] == 0
    dq = r.data_quality[r.data_quality["rule"].str.startswith("absent_from_manifest:")]
    assert list(dq["record_id"]) == [hc] and list(dq["visit"]) == ["pre"]
    assert dq["action"].iloc[0] == plausibility.ACTIONS["exclude_and_flag"]
