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
    with pytest.warns(UserWarning, match="singular"):
        res = mixed_anova(d, "y", "id", "t", "g")
    assert res.sphericity[["w", "chi2", "p", "eps_gg"]].isna().all().all()
    assert res.multivariate[["value", "f", "p"]].isna().all().all()
    u = res.univariate.set_index("effect")
    assert np.isfinite(u.loc["t", "f"]) and np.isnan(u.loc["t", "p_gg"])
