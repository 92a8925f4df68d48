"""helpers.stats.mixed_anova against R (car::Anova type III + afex), stored in tests/reference/.

The reference CSVs are written by tests/reference/rmanova.R (R is not needed to run these tests). Each holds, per
effect, the statistics car/afex report (convention "car"), the SPSS definitions computed by hand in R (convention
"spss") and those identical in both ("both"). Every reference value is compared, to 1e-6 (relative to the value
when its magnitude exceeds 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.stats import CONVENTIONS, mixed_anova, time_group_anova
from helpers.validation import DataValidationError

REF = Path(__file__).parent / "reference"
TOL = 1e-6

# case name -> (input data, dv, subject, within, between, transform of dv)
CASES = {
    "obk_long": ("rmanova_obk_long_data.csv", "value", "id", ["phase", "hour"], ["treatment"], None),
    "obk_long_2between": (
        "rmanova_obk_long_data.csv",
        "value",
        "id",
        ["phase", "hour"],
        ["treatment", "gender"],
        None,
    ),
    "obk_long_within": ("rmanova_obk_long_data.csv", "value", "id", ["phase", "hour"], [], None),
    "obk_long_phase": (
        "rmanova_obk_long_data.csv",
        "value",
        "id",
        ["phase"],
        ["treatment"],
        "mean_over_hour",
    ),
    "synthetic_biomarkers": (
        "rmanova_synthetic_biomarkers_data.csv",
        "value",
        "record_id",
        ["visit", "analyte"],
        ["group"],
        None,
    ),
    "synthetic_biomarkers_log": (
        "rmanova_synthetic_biomarkers_data.csv",
        "value",
        "record_id",
        ["visit", "analyte"],
        ["group"],
        "log",
    ),
    "study_biomarkers": (
        "rmanova_study_biomarkers_data.csv",
        "value",
        "record_id",
        ["visit", "analyte"],
        ["arm"],
        None,
    ),
    "study_biomarkers_log": (
        "rmanova_study_biomarkers_data.csv",
        "value",
        "record_id",
        ["visit", "analyte"],
        ["arm"],
        "log",
    ),
    "synthetic_clinical": (
        "rmanova_synthetic_clinical_data.csv",
        "value",
        "record_id",
        ["visit"],
        ["group"],
        None,
    ),
}

MV_PREFIX = {"pillai": "Pillai", "wilks": "Wilks", "hotelling": "Hotelling-Lawley", "roy": "Roy"}


def _load(case: str) -> tuple[pd.DataFrame, dict]:
    fname, dv, subject, within, between, transform = CASES[case]
    data = pd.read_csv(REF / fname)
    if transform == "log":
        data[dv] = np.log(data[dv])
    elif transform == "mean_over_hour":
        data = data.groupby([subject, *between, *within], as_index=False, sort=False)[dv].mean()
    # the study snapshot has two patients with a missing analyte: complete cases, as the R script does
    return data, {
        "dv": dv,
        "subject": subject,
        "within": within,
        "between": between or None,
        "complete_cases": True,
    }


def _reference(case: str) -> pd.DataFrame:
    ref = pd.read_csv(REF / f"rmanova_{case}.csv")
    assert len(ref) > 0
    return ref


def _strip_between(effect: str, between: list[str]) -> str:
    return ":".join(p for p in effect.split(":") if p not in between and p != "(Intercept)")


def _compare(case: str, convention: str) -> list[tuple[str, str, str, float, float]]:
    """Return (table, effect, statistic, python value, R value) for every reference value of this convention."""
    data, kw = _load(case)
    res = mixed_anova(data, convention=convention, **kw)
    between = kw["between"] or []
    ref = _reference(case)
    ref = ref[ref["convention"].isin(["both", convention])]
    uni = res.univariate.set_index("effect")
    mv = res.multivariate.set_index(["effect", "test"])
    sph = res.sphericity.set_index("effect")
    out = []
    for row in ref.itertuples(index=False):
        if row.table == "univariate":
            got = uni.loc[row.effect, row.statistic]
        elif row.table == "sphericity":
            got = sph.loc[_strip_between(row.effect, between), row.statistic]
        elif row.table == "multivariate":
            prefix, stat = row.statistic.split("_", 1)
            stat = {"value": "value", "f": "f", "df1": "df1", "df2": "df2", "p": "p", "pes": "pes"}[stat]
            effect_within = _strip_between(row.effect, between)
            if not effect_within:
                # between-only terms: car's multivariate test on the subject totals equals the univariate F
                u = uni.loc[row.effect]
                got = {"f": u["f"], "df1": u["df"], "df2": u["df_error"], "p": u["p"]}.get(stat)
                if got is None:
                    continue
            else:
                got = mv.loc[(row.effect, MV_PREFIX[prefix]), stat]
        elif row.table == "design":
            got = {
                "n_subjects": res.n_subjects,
                "n_groups": len(res.n_per_group),
                "n_dropped": res.n_dropped,
            }[row.statistic]
        else:  # pragma: no cover - unknown table in the reference
            raise AssertionError(f"unknown reference table {row.table}")
        out.append((row.table, row.effect, row.statistic, float(got), float(row.value)))
    return out


@pytest.mark.parametrize("convention", ["spss", "car"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_agrees_with_r(case, convention):
    rows = _compare(case, convention)
    bad = [
        (t, e, s, got, want)
        for t, e, s, got, want in rows
        if not (abs(got - want) <= TOL * max(1.0, abs(want)))
    ]
    assert not bad, f"{len(bad)} of {len(rows)} values differ from R: {bad[:10]}"
    # every table family is covered
    tables = {t for t, *_ in rows}
    assert {"univariate", "multivariate", "design"} <= tables


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_python_number_has_a_reference(case):
    """No statistic the function reports for a within effect escapes comparison with R."""
    data, kw = _load(case)
    res = mixed_anova(data, **kw)
    ref = _reference(case)
    effects = set(ref.loc[ref["table"] == "univariate", "effect"])
    assert set(res.univariate["effect"]) == effects
    mv_effects = set(ref.loc[ref["table"] == "multivariate", "effect"])
    assert set(res.multivariate["effect"]) <= mv_effects
    sph_effects = set(ref.loc[ref["table"] == "sphericity", "effect"])
    assert set(res.sphericity["effect"]) <= sph_effects
    n_d_gt_1 = sum(
        1
        for e in res.univariate.loc[res.univariate["kind"] == "within", "effect"]
        if _strip_between(e, kw["between"] or []) == e
        and res.univariate.set_index("effect").loc[e, "eps_lb"] < 1
    )
    assert len(res.sphericity) == n_d_gt_1


def test_obk_long_known_values():
    """Spot values of the afex vignette / car output for obk.long (O'Brien & Kaiser 1985), read from the R file."""
    ref = _reference("obk_long").set_index(["table", "effect", "statistic", "convention"])["value"]
    data, kw = _load("obk_long")
    res = mixed_anova(data, convention="car", **kw)
    u = res.univariate.set_index("effect")
    assert u.loc["treatment", "f"] == pytest.approx(ref["univariate", "treatment", "f", "both"], rel=1e-10)
    assert u.loc["phase", "eps_gg"] == pytest.approx(ref["univariate", "phase", "eps_gg", "both"], rel=1e-10)
    # group sizes 5, 4, 7: unequal, so type III matters
    assert sorted(res.n_per_group["n"]) == [4, 5, 7]


def test_conventions_differ_only_where_documented():
    data, kw = _load("obk_long")
    spss = mixed_anova(data, convention="spss", **kw)
    car = mixed_anova(data, convention="car", **kw)
    same = ["ss", "df", "ss_error", "df_error", "f", "p", "pes", "ges", "eps_gg", "p_gg", "eps_lb"]
    pd.testing.assert_frame_equal(spss.univariate[same], car.univariate[same])
    pd.testing.assert_frame_equal(spss.multivariate, car.multivariate)
    assert not np.allclose(spss.univariate["eps_hf"].dropna(), car.univariate["eps_hf"].dropna())
    assert spss.footnote == CONVENTIONS["spss"] and "SPSS" in spss.footnote
    assert car.footnote == CONVENTIONS["car"] and "Lecoutre" in car.footnote
    assert (spss.univariate["eps_hf"].dropna() <= 1).all()


def test_time_group_path_matches_r():
    data, kw = _load("synthetic_clinical")
    out = time_group_anova(data, "value", "record_id", time="visit", group="group")
    ref = _reference("synthetic_clinical")
    ref = ref[(ref["table"] == "univariate") & (ref["convention"] == "both")].set_index(
        ["effect", "statistic"]
    )
    assert out["effect"].tolist() == ["group", "visit", "group:visit"]
    for r in out.itertuples(index=False):
        for stat in ["f", "df", "df_error", "p", "pes", "ges", "ss", "ss_error"]:
            want = ref.loc[(r.effect, stat), "value"]
            assert getattr(r, stat) == pytest.approx(want, rel=TOL, abs=TOL)
    assert (out["n"] == 28).all() and (out["n_dropped"] == 0).all()


# ---- behaviour: input checks, complete cases, determinism ------------------------------------------------------


@pytest.fixture
def bio():
    data, kw = _load("synthetic_biomarkers")
    return data, {**kw, "complete_cases": False}


def test_missing_cell_raises_with_subject_and_cell(bio):
    data, kw = bio
    data = data.drop(
        index=data.index[
            (data["record_id"] == "S03") & (data["visit"] == "post") & (data["analyte"] == "il6")
        ]
    )
    with pytest.raises(DataValidationError, match=r"S03.*visit=post, analyte=il6"):
        mixed_anova(data, **kw)


def test_nan_dv_counts_as_missing(bio):
    data, kw = bio
    data = data.copy()
    data.loc[(data["record_id"] == "S20") & (data["analyte"] == "oxytocin"), "value"] = np.nan
    with pytest.raises(DataValidationError, match="S20"):
        mixed_anova(data, **kw)


def test_complete_cases_drops_and_reports(bio):
    data, kw = bio
    holed = data.drop(index=data.index[(data["record_id"] == "S03") & (data["analyte"] == "il6")][:1])
    holed.loc[(holed["record_id"] == "S20") & (holed["analyte"] == "tnfa"), "value"] = np.nan
    res = mixed_anova(holed, **{**kw, "complete_cases": True})
    assert res.n_dropped == 2
    assert res.dropped_subjects == ["S03", "S20"]
    assert res.n_subjects == 24
    direct = mixed_anova(data[~data["record_id"].isin(["S03", "S20"])], **kw)
    pd.testing.assert_frame_equal(res.univariate, direct.univariate)
    assert dict(zip(res.n_per_group["group"], res.n_per_group["n"], strict=True)) == {"MBPM": 13, "WL": 11}


def test_duplicate_rows_raise(bio):
    data, kw = bio
    data = pd.concat([data, data.iloc[[5]]])
    with pytest.raises(DataValidationError, match="more than one row"):
        mixed_anova(data, **kw)


def test_between_not_constant_raises(bio):
    data, kw = bio
    data = data.copy()
    data.loc[(data["record_id"] == "S01") & (data["visit"] == "post"), "group"] = "WL"
    with pytest.raises(DataValidationError, match="not constant within subject.*S01"):
        mixed_anova(data, **kw)


def test_bad_arguments(bio):
    data, kw = bio
    with pytest.raises(ValueError, match="convention"):
        mixed_anova(data, convention="sas", **kw)
    with pytest.raises(DataValidationError, match="nope"):
        mixed_anova(data, dv="nope", subject="record_id", within=["visit"], between="group")
    with pytest.raises(DataValidationError, match="numeric"):
        mixed_anova(data.assign(value=data["value"].astype(str)), **kw)
    with pytest.raises(ValueError, match="within"):
        mixed_anova(data, dv="value", subject="record_id", within=[], between="group")


def test_order_of_rows_and_levels_does_not_matter(bio):
    data, kw = bio
    a = mixed_anova(data, **kw)
    shuffled = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled["analyte"] = pd.Categorical(shuffled["analyte"], categories=sorted(shuffled["analyte"].unique()))
    b = mixed_anova(shuffled, **kw)
    cols = ["effect", "ss", "f", "p", "eps_gg", "eps_hf"]
    pd.testing.assert_frame_equal(a.univariate[cols], b.univariate[cols], rtol=1e-10)
    pd.testing.assert_frame_equal(a.sphericity, b.sphericity, rtol=1e-10)
    # deterministic: same input, same output bit for bit
    c = mixed_anova(data, **kw)
    pd.testing.assert_frame_equal(a.univariate, c.univariate, check_exact=True)
    pd.testing.assert_frame_equal(a.multivariate, c.multivariate, check_exact=True)


def test_cell_means_table(bio):
    data, kw = bio
    res = mixed_anova(data, **kw)
    cm = res.cell_means
    assert len(cm) == 2 * 2 * 6
    m = cm[(cm["group"] == "WL") & (cm["visit"] == "pre") & (cm["analyte"] == "il8")]["mean"].item()
    raw = data[(data["group"] == "WL") & (data["visit"] == "pre") & (data["analyte"] == "il8")]["value"]
    assert m == pytest.approx(raw.mean())


def test_study_snapshot_design():
    """The shipped study's trial biomarkers: 26 complete cases (df 5, 20 as the paper), 2 patients dropped."""
    data, kw = _load("study_biomarkers")
    with pytest.raises(DataValidationError, match="P057|P062"):
        mixed_anova(data, **{**kw, "complete_cases": False})
    res = mixed_anova(data, **kw)
    assert (res.n_subjects, res.n_dropped, sorted(res.dropped_subjects)) == (26, 2, ["P057", "P062"])
    mv = res.multivariate.set_index(["effect", "test"])
    assert tuple(mv.loc[("analyte", "Pillai"), ["df1", "df2"]]) == (5.0, 20.0)
    assert tuple(mv.loc[("arm:visit:analyte", "Wilks"), ["df1", "df2"]]) == (5.0, 20.0)


def test_singular_error_matrix_gives_nan_not_garbage():
    """Fewer error df than effect df (car: 'singular'): no Mauchly, epsilons or multivariate tests."""
    rng = np.random.default_rng(7)
    d = pd.DataFrame(
        [{"id": i, "g": "A" if i < 2 else "B", "t": t, "y": rng.normal()} for i in range(4) for t in "abcd"]
    )
    with pytest.warns(RuntimeWarning, match="only 2 error df.*singular"):
        res = mixed_anova(d, "y", "id", "t", "g")
    assert res.sphericity[["w", "chi2", "p", "eps_gg"]].isna().all().all()
    assert res.multivariate[["value", "f", "p"]].isna().all().all()
    u = res.univariate.set_index("effect")
    assert np.isfinite(u.loc["t", "f"]) and np.isnan(u.loc["t", "p_gg"])


# ---- degenerate input: what R does (tests/reference/rmanova_degenerate.R) and what we do -----------------------
#
# The cases' data and R's output (afex::aov_ez, car::Anova type III, car's multivariate tests) are stored in
# tests/reference/rmanova_degenerate{_data,}.csv by the R script; R is not needed to run these tests.


def _degenerate(case):
    d = pd.read_csv(REF / "rmanova_degenerate_data.csv")
    return d[d["case"] == case].drop(columns="case").reset_index(drop=True)


def _r_degenerate(case):
    r = pd.read_csv(REF / "rmanova_degenerate.csv", dtype={"value": str}, keep_default_na=False)
    return r[r["case"] == case].set_index(["source", "effect", "statistic"])["value"]


def _r_messages(r):
    return " | ".join(r.xs("message", level="statistic").tolist()) if "message" in r.index.get_level_values(2) else ""


def _fit_quietly(d, **kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-defined case must not warn
        return mixed_anova(d, "y", "id", "t", "g", convention="car", **kw)


def test_constant_dv_gives_nan_with_warning_where_r_gives_residue_ratios():
    d = _degenerate("constant")  # y = 5 everywhere
    r = _r_degenerate("constant")
    # R: car flags every error SSP matrix singular and refuses the multivariate tests; afex's within F is NaN,
    # but its between F is the ratio of two rounding residues (~1e-30 / ~1e-30 = 1, p = 0.37)
    assert "singular error SSP matrix; multivariate tests unavailable" in _r_messages(r)
    assert all(r["car_multivariate", e, "singular"] == "TRUE" for e in ["(Intercept)", "g", "t", "g:t"])
    assert r["afex", "t", "f"] == "NaN" and r["afex", "g:t", "f"] == "NaN"
    assert float(r["car_univariate", "g", "ss_error"]) < 1e-20 and float(r["afex", "g", "f"]) == pytest.approx(1)
    with pytest.warns(RuntimeWarning, match="no residual variation in 'y'") as rec:
        res = mixed_anova(d, "y", "id", "t", "g")
    messages = " | ".join(str(m.message) for m in rec)
    assert "between-subject effects" in messages and "for 't'" in messages
    u = res.univariate.set_index("effect")
    assert u[["f", "p", "pes", "ges", "p_gg", "p_hf", "p_lb"]].isna().all().all()
    assert (u["ss_error"] == 0).all()
    assert u.loc["(Intercept)", "ss"] == pytest.approx(12 * 25 / 1)  # sum of 5^2 over 12 cells (on the y scale)
    assert res.multivariate[["value", "f", "p", "pes"]].isna().all().all()


def test_constant_change_gives_nan_not_3e15():
    """post - pre = 1 for every subject: the time contrast has no residual, F = x / 0."""
    d = _degenerate("constant_change")
    r = _r_degenerate("constant_change")
    assert float(r["afex", "t", "f"]) > 1e15  # afex: F = 3.4e15, p = 5e-31 from a residual SS of 3.6e-15
    assert r["car_multivariate", "t", "singular"] == "TRUE" and r["car_multivariate", "g", "singular"] == "FALSE"
    with pytest.warns(RuntimeWarning, match="no residual variation in 'y' for 't'"):
        res = mixed_anova(d, "y", "id", "t", "g", convention="car")
    u = res.univariate.set_index("effect")
    assert u.loc[["t", "g:t"], ["f", "p", "pes", "p_gg"]].isna().all().all()
    assert u.loc["t", "ss_error"] == 0
    # time SS by hand: mean change 1 in both groups, SS = N * (1 / sqrt 2)^2 = 6 / 2 = 3
    assert u.loc["t", "ss"] == pytest.approx(3.0, rel=1e-12)
    # ges stays defined (the between error is not zero) and equals afex's: 3 / (3 + 124/3) = 9/133
    assert u.loc["t", "ges"] == pytest.approx(9 / 133, rel=1e-12)
    assert u.loc["t", "ges"] == pytest.approx(float(r["afex", "t", "ges"]), rel=1e-9)
    # the between effects are untouched and agree with car
    for e in ["(Intercept)", "g"]:
        for stat in ["ss", "ss_error", "f", "p"]:
            assert u.loc[e, stat] == pytest.approx(float(r["car_univariate", e, stat]), rel=1e-9)
    assert res.multivariate[["value", "f", "p"]].isna().all().all()


def test_constant_change_detected_at_any_scale():
    """The rank rule is relative to the data: the same degenerate case shifted by 1e6 or shrunk by 1e-9 is still
    degenerate, and a non-degenerate case shrunk by 1e-9 keeps its F (car's absolute sqrt(eps) rule would call it
    singular)."""
    d = _degenerate("constant_change")
    for y in (d["y"] + 1e6, d["y"] * 1e-9):
        with pytest.warns(RuntimeWarning, match="no residual variation"):
            res = mixed_anova(d.assign(y=y), "y", "id", "t", "g")
        assert np.isnan(res.univariate.set_index("effect").loc["t", "f"])
    ok = _degenerate("two_per_group")
    a = _fit_quietly(ok).univariate.set_index("effect")
    b = _fit_quietly(ok.assign(y=ok["y"] * 1e-9)).univariate.set_index("effect")
    np.testing.assert_allclose(b.loc[["g", "t"], "f"], a.loc[["g", "t"], "f"], rtol=1e-9)


def test_rank_deficient_error_matrix_keeps_univariate_drops_multivariate():
    """Three times, b - a = 1 for everyone while c varies: E for t has rank 1 of 2. car reports the univariate F
    (tr E > 0) and refuses sphericity corrections and multivariate tests; so do we."""
    d = _degenerate("rank_deficient")
    r = _r_degenerate("rank_deficient")
    assert r["car_multivariate", "t", "singular"] == "TRUE"
    assert "non-sphericity tests and corrections not available" in _r_messages(r)
    with pytest.warns(RuntimeWarning, match=r"'t' has 2 df but numerical rank 1.*singular"):
        res = mixed_anova(d, "y", "id", "t", "g", convention="car")
    u = res.univariate.set_index("effect")
    for e in ["(Intercept)", "g", "t", "g:t"]:
        for stat in ["ss", "ss_error", "f", "p"]:
            assert u.loc[e, stat] == pytest.approx(float(r["car_univariate", e, stat]), rel=1e-9), (e, stat)
    assert u.loc[["t", "g:t"], ["eps_gg", "p_gg", "eps_hf", "p_hf"]].isna().all().all()
    assert res.sphericity[["w", "chi2", "p", "eps_gg", "eps_hf"]].isna().all().all()
    assert res.multivariate[["value", "f", "p"]].isna().all().all()


@pytest.mark.parametrize("case", ["constant_in_one_group", "two_per_group", "one_and_two"])
def test_small_or_partly_constant_groups_agree_with_r(case):
    """A group with no variance among varying groups, two subjects per group, or one subject in a group (1 error
    df): the pooled error is defined and R computes every number; ours agree, without a warning."""
    d = _degenerate(case)
    r = _r_degenerate(case)
    assert _r_messages(r) == ""
    res = _fit_quietly(d)
    u = res.univariate.set_index("effect")
    for e in ["(Intercept)", "g", "t", "g:t"]:
        for stat in ["ss", "ss_error", "f", "p"]:
            assert u.loc[e, stat] == pytest.approx(float(r["car_univariate", e, stat]), rel=1e-9, abs=1e-12)
    for e in ["g", "t", "g:t"]:
        assert u.loc[e, "ges"] == pytest.approx(float(r["afex", e, "ges"]), rel=1e-9, abs=1e-12)
    mv = res.multivariate.set_index(["effect", "test"])
    for e in ["t", "g:t"]:
        assert mv.loc[(e, "Pillai"), "value"] == pytest.approx(float(r["car_multivariate", e, "pillai_value"]),
                                                               rel=1e-9, abs=1e-12)
        assert mv.loc[(e, "Pillai"), "p"] == pytest.approx(float(r["car_multivariate", e, "pillai_p"]), rel=1e-9)


def test_constant_in_one_group_by_hand():
    """Group A = (5, 5) x 3, group B = (1, 3), (2, 2), (4, 7): the time error SS is B's alone. By hand: the
    changes b - a in B are 2, 0, 3 (mean 5/3); on the orthonormal contrast (a - b)/sqrt 2,
    SS_error(t) = sum (change - 5/3)^2 / 2 = (1/9 + 25/9 + 16/9) / 2 = 7/3."""
    res = _fit_quietly(_degenerate("constant_in_one_group"))
    u = res.univariate.set_index("effect")
    assert u.loc["t", "ss_error"] == pytest.approx(7 / 3, rel=1e-12)
    # SS_t: unweighted mean change (0 + 5/3) / 2 = 5/6, SS = N * (5/6)^2 / 2 = 6 * 25/36 / 2 = 25/12
    assert u.loc["t", "ss"] == pytest.approx(25 / 12, rel=1e-12)
    assert u.loc["t", "f"] == pytest.approx((25 / 12) / (7 / 3 / 4), rel=1e-12)


def test_no_error_df_raises():
    """One subject per group (R: afex F = NaN, ges = 1) or a single subject: no error df, a clear error."""
    r = _r_degenerate("one_per_group")
    assert r["afex", "t", "f"] == "NaN"
    with pytest.raises(DataValidationError, match="2 subjects in 2 group.*no error df"):
        mixed_anova(_degenerate("one_per_group"), "y", "id", "t", "g")
    single = _degenerate("two_per_group").query("id == 1")
    with pytest.raises(DataValidationError, match="1 subjects in 1 group.*no error df"):
        mixed_anova(single, "y", "id", "t")
    with pytest.raises(DataValidationError, match="fewer than 2 levels"):
        mixed_anova(single, "y", "id", "t", "g")


def test_level_emptied_by_complete_cases_raises():
    """Three groups; every subject of C misses a cell: complete cases would silently analyse a two-group design."""
    d = _degenerate("two_per_group")
    c = pd.DataFrame({"id": [7, 8], "g": ["C", "C"], "t": ["a", "a"], "y": [1.0, 2.0]})
    d = pd.concat([d, c], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"level\(s\) \['C'\] of between factor 'g' have no complete"):
        mixed_anova(d, "y", "id", "t", "g", complete_cases=True)


def test_empty_between_cell_raises():
    """g x h with no subject in g = B, h = y: afex stops ("Rank deficient model matrix ... Likely empty cells");
    we name the cell."""
    r = _r_degenerate("empty_between_cell")
    assert "Rank deficient model matrix" in _r_messages(r)
    with pytest.raises(DataValidationError, match=r"cell\(s\) with no complete subject: \['g=B, h=y'\]"):
        mixed_anova(_degenerate("empty_between_cell"), "y", "id", "t", ["g", "h"])


def test_time_group_anova_constant_change_is_nan():
    """The clinical path: a score that moved by exactly 1 in every patient has no Time error; Time and
    Group x Time are NaN with a warning, the Group row is computed."""
    with pytest.warns(RuntimeWarning, match="no residual variation in 'y' for 't'"):
        out = time_group_anova(_degenerate("constant_change"), "y", "id", time="t", group="g").set_index("effect")
    assert out.loc[["t", "g:t"], ["f", "p", "pes"]].isna().all().all()
    assert out.loc["g", "f"] == pytest.approx(float(_r_degenerate("constant_change")["car_univariate", "g", "f"]),
                                              rel=1e-9)
