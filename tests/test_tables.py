"""Table formatting, and agreement of every Table 1 / Table 2 / clinical / robustness / association statistic with R.

The R reference (tests/reference/tables.R) ran on the study data exported by tests/reference/export_tables_data.py;
both its input CSVs and its outputs are committed, so these tests need neither R nor the pipeline. Tolerance 1e-6
(relative to max(1, |value|)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import tables
from helpers.formatting import p_value
from helpers.stats import group_tests as gt
from helpers.stats import mixed_anova
from helpers.stats import robustness as rb

REF = Path(__file__).resolve().parent / "reference"
TOL = 1e-6
MV = {"pillai": "Pillai", "wilks": "Wilks", "hotelling": "Hotelling-Lawley", "roy": "Roy"}


def close(got, want, tol=TOL):
    if np.isnan(float(got)) and np.isnan(float(want)):  # neither could compute it (e.g. Welch with a constant group)
        return True
    return abs(float(got) - float(want)) <= tol * max(1.0, abs(float(want)))


def _bad(rows):
    return [r for r in rows if not close(r[-2], r[-1])]


# --- formatting ------------------------------------------------------------------------------------------------------

def test_table1_and_save(tmp_path):
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"cohort": ["CP"] * 12 + ["HC"] * 6, "bdi_total": rng.normal(10, 3, 18),
                      "il8": rng.lognormal(5, 1, 18), "gender": ["female", "male"] * 9})
    comp = gt.compare_groups_many(d, ["bdi_total", "il8"], "cohort", ["CP", "HC"])
    cat = [("gender", *gt.crosstab_test(d, "gender", "cohort", ["CP", "HC"]))]
    disp = tables.table1(comp, cat, sections={"Demographics": ["gender"], "Scores": ["bdi_total"],
                                              "Analytes": ["il8", "absent"]})
    assert disp["Measure"].tolist()[:2] == ["**Demographics**", "\u2003Gender, n (%)"]
    row = disp[disp["Measure"] == "\u2003BDI-II total"].iloc[0]
    assert row["CP n"] == "12" and row["p"] == p_value(comp.iloc[0]["pval"])
    md = tables.save_table(disp, "tbl-x", str(tmp_path), data=comp, notes=tables.table1_notes(disp, "mean", 0.05))
    assert (tmp_path / "tables" / "tbl-x.md").read_text() == md and md.startswith("| Measure")
    back = pd.read_parquet(tmp_path / "tables" / "tbl-x.parquet")
    assert back["pval"].tolist() == comp["pval"].tolist()


# --- agreement with R on the study data ------------------------------------------------------------------------------

needs_ref = pytest.mark.skipif(not (REF / "tables_ref_baseline.csv").exists(), reason="R reference not generated")


@pytest.fixture(scope="module")
def base():
    return pd.read_csv(REF / "tables_baseline_data.csv")


@pytest.fixture(scope="module")
def trial():
    return pd.read_csv(REF / "tables_trial_data.csv")


def _numeric(df, exclude=("record_id", "cohort", "arm", "visit")):
    return [c for c in df.select_dtypes("number").columns if c not in exclude]


@pytest.mark.slow  # every measure against R's output (about a second)
@needs_ref
def test_baseline_agrees_with_r(base):
    ref = pd.read_csv(REF / "tables_ref_baseline.csv")
    dvs = list(dict.fromkeys(ref["dv"]))
    assert set(dvs) == set(_numeric(base))
    py_mean = gt.compare_groups_many(base, dvs, "cohort", ["CP", "HC"], center="mean").set_index("dv")
    py_med = gt.compare_groups_many(base, dvs, "cohort", ["CP", "HC"], center="median").set_index("dv")
    rename = {"levene_mean_W": "levene_W", "levene_mean_df1": "levene_df1", "levene_mean_df2": "levene_df2",
              "levene_mean_p": "levene_p"}
    rows = []
    for r in ref.itertuples(index=False):
        if r.statistic.startswith("levene_median"):
            got = py_med.loc[r.dv, r.statistic.replace("levene_median", "levene")]
        else:
            got = py_mean.loc[r.dv, rename.get(r.statistic, r.statistic)]
        rows.append((r.dv, r.statistic, got, r.value))
    assert len(rows) == len(ref) and not _bad(rows), _bad(rows)[:10]


@needs_ref
def test_categorical_agrees_with_r(base):
    ref = pd.read_csv(REF / "tables_ref_categorical.csv")
    rows = []
    for var, sub in ref.groupby("var"):
        _, test = gt.crosstab_test(base, var, "cohort", ["CP", "HC"])
        for r in sub.itertuples(index=False):
            rows.append((var, r.statistic, test.iloc[0][r.statistic], r.value))
    assert rows and not _bad(rows), _bad(rows)


def _paired(trial, family):
    analytes = [a for a in tables.ANALYTES if a in trial]
    # clinical family: every score except the analytes, PAM-13 once (pam_raw = 13 x pam_mean), as tables.R
    dvs = analytes if family == "biomarkers" else [c for c in _numeric(trial) if c not in analytes + ["pam_raw"]]
    out = {m: gt.posthoc_paired(trial, dvs, "record_id", "visit", "arm", ["MBPM", "WL"], correction=m,
                                family=family) for m in ("bonferroni", "holm")}
    both = out["bonferroni"].rename(columns={"p_adj": "p_bonferroni"})
    both["p_holm"] = out["holm"]["p_adj"].to_numpy()
    return both.dropna(subset=["pval"])


@pytest.mark.slow  # every measure against R's output (about a second)
@needs_ref
@pytest.mark.parametrize("family", ["biomarkers", "clinical"])
def test_paired_agrees_with_r(trial, family):
    ref = pd.read_csv(REF / "tables_ref_paired.csv")
    ref = ref[ref["family"] == family]
    py = _paired(trial, family).set_index(["group", "dv"])
    assert len(py) == ref.groupby(["group", "dv"]).ngroups  # same family size as R
    rows = [(r.group, r.dv, r.statistic, py.loc[(r.group, r.dv), r.statistic], r.value)
            for r in ref.itertuples(index=False)]
    assert not _bad(rows), _bad(rows)[:10]


@needs_ref
def test_clinical_time_group_agrees_with_r(trial):
    from helpers.stats import time_group_anova

    ref = pd.read_csv(REF / "tables_ref_clinical.csv")
    effect = {"arm": "arm", "visit": "visit", "arm:visit": "arm:visit"}
    rows = []
    for dv, sub in ref.groupby("dv"):
        long = trial[["record_id", "arm", "visit", dv]]
        py = time_group_anova(long, dv, "record_id", time="visit", group="arm").set_index("effect")
        for r in sub.itertuples(index=False):
            rows.append((dv, r.effect, r.statistic, py.loc[effect[r.effect], r.statistic], r.value))
    assert len(rows) == len(ref) and not _bad(rows), _bad(rows)[:10]


@needs_ref
def test_mixedlm_agrees_with_lme4(trial):
    ref = pd.read_csv(REF / "tables_ref_mixedlm.csv")
    analytes = list(dict.fromkeys(ref["analyte"]))
    long = trial.melt(id_vars=["record_id", "arm", "visit"], value_vars=analytes, var_name="analyte")
    py = rb.mixedlm_per_analyte(long, analytes, log=True).set_index(["analyte", "contrast"])
    # variance components come from an optimiser on both sides (lme4: bobyqa; here: Brent on the profiled REML
    # criterion); measured agreement ~2e-7 for them, ~1e-10 for the cell-mean contrasts
    rows = [(r.analyte, r.contrast, r.statistic, py.loc[(r.analyte, r.contrast), r.statistic], r.value)
            for r in ref.itertuples(index=False)]
    bad = [r for r in rows if not close(r[-2], r[-1], TOL)]
    assert not bad, bad[:10]


@needs_ref
def test_change_correlations_agree_with_r(trial):
    ref = pd.read_csv(REF / "tables_ref_assoc.csv")
    cols = ["oxytocin", *[y.removesuffix("_change") for y in ref["y"].unique()]]
    ch = rb.change_scores(trial, cols)
    py = rb.change_correlations(ch, "oxytocin_change", list(ref["y"].unique())).set_index(["y", "method"])
    rows = [(r.y, r.method, r.statistic, py.loc[(r.y, r.method), r.statistic], r.value)
            for r in ref.itertuples(index=False)]
    assert not _bad(rows), _bad(rows)


def _rm_rows(res, ref, between=("arm",)):
    uni = res.univariate.set_index("effect")
    mv = res.multivariate.set_index(["effect", "test"])
    sph = res.sphericity.set_index("effect")
    strip = lambda e: ":".join(p for p in e.split(":") if p not in between)  # noqa: E731
    rows = []
    for r in ref.itertuples(index=False):
        if r.table == "univariate":
            got = uni.loc[r.effect, r.statistic]
        elif r.table == "sphericity":
            got = sph.loc[strip(r.effect), r.statistic]
        elif r.table == "multivariate":
            prefix, stat = r.statistic.split("_", 1)
            if not strip(r.effect) or r.effect == "(Intercept)":
                continue
            got = mv.loc[(r.effect, MV[prefix]), stat]
        elif r.table == "design":
            got = {"n_subjects": res.n_subjects, "n_groups": len(res.n_per_group),
                   "n_dropped": res.n_dropped}[r.statistic]
        else:
            continue
        rows.append((r.table, r.effect, r.statistic, got, r.value))
    return rows


@needs_ref
@pytest.mark.parametrize("scale", ["raw", "log"])
@pytest.mark.parametrize("convention", ["spss", "car"])
def test_trial_rm_anova_agrees_with_r(scale, convention):
    cc = pd.read_csv(REF / "tables_biomarkers_cc.csv")
    ref = pd.read_csv(REF / f"tables_ref_rm_{scale}.csv")
    ref = ref[ref["convention"].isin(["both", convention])]
    if scale == "raw":
        res = mixed_anova(cc, "value", "record_id", within=["visit", "analyte"], between="arm",
                          convention=convention)
    else:
        res = rb.log_rm_anova(cc, convention=convention)
    rows = _rm_rows(res, ref)
    assert len(rows) > 100 and not _bad(rows), _bad(rows)[:10]


def test_arm_ages_of_the_analysed_patients_only():
    roster = pd.DataFrame({
        "record_id": range(7),
        "arm": ["MBPM", "MBPM", "MBPM", "WL", "WL", "WL", "none"],
        "age": [30.0, 40.0, 99.0, 20.0, 24.0, 28.0, 60.0],
        "analysed": [True, True, False, True, True, True, False],
    })
    ages = tables.arm_ages(roster)
    assert list(ages.index) == ["MBPM", "WL"]
    assert ages.loc["MBPM", "n"] == 2 and ages.loc["MBPM", "mean"] == 35.0
    assert ages.loc["MBPM", "sd"] == pytest.approx(50 ** 0.5)  # (30, 40): SD with n - 1
    assert ages.loc["WL", "mean"] == 24.0 and ages.loc["WL", "sd"] == pytest.approx(4.0)


# --- degenerate input in the displayed tables -------------------------------------------------------------------------

def test_table1_names_a_measure_without_a_test_and_the_rule_fallback():
    d = pd.DataFrame({"cohort": ["CP"] * 4 + ["HC"] * 2, "bdi_total": [4.0] * 6,
                      "pcs_total": [1.0, 5, 9, 12, 3, 4]})
    with pytest.warns(RuntimeWarning):
        comp = gt.compare_groups_many(d, ["bdi_total", "pcs_total"], "cohort", ["CP", "HC"])
    disp = tables.table1(comp).set_index("Measure")
    assert disp.loc["BDI-II total", "Test"] == "not computed" and disp.loc["BDI-II total", "p"] == ""
    pcs = disp.loc["Pain Catastrophizing Scale total"]
    assert pcs["Test"] == "Kruskal-Wallis" and pcs["Statistic"].endswith("†")  # HC has n = 2
    notes = tables.table1_notes(disp.reset_index(), "mean", 0.05, comparisons=comp)
    assert notes[-1].startswith("† ") and "n <= 2 in a group" in notes[-1] and "constant in every group" in notes[-1]


def test_table1_notes_refer_only_to_rows_present():
    d = pd.DataFrame({"cohort": ["CP"] * 4 + ["HC"] * 3, "bdi_total": [4.0, 6, 9, 3, 2, 5, 1],
                      "pcs_total": [1.0, 5, 9, 12, 3, 4, np.nan]})
    with pytest.warns(RuntimeWarning, match="pcs_total"):
        comp = gt.compare_groups_many(d, ["bdi_total", "pcs_total"], "cohort", ["CP", "HC"])
    assert comp.set_index("dv").loc["pcs_total", "rule_note"]  # the PCS test departs from the rule (HC n = 2)...
    shown = tables.table1(comp, sections={"Scores": ["bdi_total"]})  # ...but the table shows BDI-II only
    notes = tables.table1_notes(shown, "mean", 0.05, min_expected=1.2, comparisons=comp)
    text = " ".join(notes)
    assert "†" not in text and "Catastrophizing" not in text
    assert "χ²" not in text  # no categorical row: neither the χ² sentence nor the expected-count warning
    assert "Hedges' g" in text
    both = tables.table1(comp)
    assert "Pain Catastrophizing Scale total: " in tables.table1_notes(both, "mean", 0.05, comparisons=comp)[-1]


def test_table1_indents_levels_under_their_variable_and_markdown_keeps_the_indent():
    d = pd.DataFrame({"cohort": ["CP"] * 6 + ["HC"] * 4, "bdi_total": [4.0, 6, 9, 3, 2, 5, 1, 2, 3, 1],
                      "gender": ["female", "male"] * 5})
    comp = gt.compare_groups_many(d, ["bdi_total"], "cohort", ["CP", "HC"])
    cat = [("gender", *gt.crosstab_test(d, "gender", "cohort", ["CP", "HC"]))]
    disp = tables.table1(comp, cat, sections={"Demographics": ["gender"], "Scores": ["bdi_total"]})
    em = "\u2003"
    assert disp["Measure"].tolist() == ["**Demographics**", f"{em}Gender, n (%)", f"{em}{em}female", f"{em}{em}male",
                                        "**Scores**", f"{em}BDI-II total"]
    assert disp.iloc[1]["CP n"] == "6" and disp.iloc[2]["CP n"] == ""  # the variable's n, its levels' n (%)
    assert disp.iloc[2]["CP mean (SD) or n (%)"] == "3\u00a0(50.0%)"
    md = tables.to_markdown(disp)
    assert f"| {em}{em}female" in md
    # numeric columns right-aligned, the labels left
    separator = md.splitlines()[1].split("|")[1:-1]
    assert separator[0].startswith(":") and separator[2].rstrip().endswith(":")


def test_table2_marks_a_test_that_could_not_be_computed():
    pre = [1.0, 2, 3, 4]
    d = pd.DataFrame({"record_id": list(range(4)) * 2 + list(range(10, 14)) * 2,
                      "visit": (["pre"] * 4 + ["post"] * 4) * 2,
                      "arm": ["MBPM"] * 8 + ["WL"] * 8,
                      "bdi_total": pre + [0.5, 2.5, 1.0, 3.0] + pre + [p + 2.0 for p in pre]})  # WL: constant +2
    with pytest.warns(RuntimeWarning, match="essentially constant"):
        ph = gt.posthoc_paired(d, ["bdi_total"], "record_id", "visit", "arm", ["MBPM", "WL"],
                               family="clinical scores")
    disp = tables.table2(ph)
    assert disp["t"].tolist()[1] == "n.c.‡"
    notes = tables.table2_notes(ph)
    assert "clinical scores: 2 tests = 2 arms × 1 measures (PAM-13 enters once" in notes[0]
    assert notes[1].startswith("‡ Not computed") and "BDI-II total in WL" in notes[1]


def test_clinical_family_counts_pam_once():
    trial = pd.DataFrame({"pam_raw": [30.0], "pam_mean": [2.3], "bdi_total": [4.0], "pcs_total": [np.nan]})
    assert tables.clinical_family(trial) == ["pam_mean", "bdi_total"]


def test_welch_table_beside_the_rule(base):
    comp = gt.compare_groups_many(base, ["il8", "bdi_total"], "cohort", ["CP", "HC"])
    disp = tables.welch_table(comp).set_index("Measure")
    il8 = comp.set_index("dv").loc["il8"]
    assert disp.loc["IL-8 (pg/mL)", "p (Welch)"] == p_value(il8["welch_p"])
    assert disp.loc["IL-8 (pg/mL)", "Rule's test"] == il8["test"]
    assert set(disp["Same verdict at 0.05"]) <= {"yes", "no"}
