"""helpers.stats.robustness: hand-checkable properties, then agreement with R (lme4, cor.test) on stored output."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.stats import robustness as rb
from helpers.validation import DataValidationError

REF = Path(__file__).parent / "reference"


def _trial(seed=0, drop_post=(), n_a=8, n_b=6):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_a + n_b):
        arm = "MBPM" if s < n_a else "WL"
        u = rng.normal()
        for t in ("pre", "post"):
            if t == "post" and s in drop_post:
                continue
            rows.append((s, t, arm, math.exp(2 + u + (0.4 if arm == "MBPM" and t == "post" else 0)
                                             + rng.normal(0, 0.3))))
    return pd.DataFrame(rows, columns=["record_id", "visit", "arm", "value"])


def test_log_values():
    np.testing.assert_allclose(rb.log_values([1, math.e, np.nan]), [0, 1, np.nan])
    np.testing.assert_allclose(rb.log_values([10, 100], base="10"), [1, 2])
    with pytest.raises(ValueError, match="positive"):
        rb.log_values([1.0, 0.0])


def test_log_values_names_bad_positions_and_values():
    """R's log gives -Inf for 0 and NaN (with a warning) for negatives; we refuse, naming index labels and values.
    NaN (missing) passes through as NaN."""
    s = pd.Series([2.0, 0.0, np.nan, -3.5, np.inf], index=["a", "b", "c", "d", "e"], name="il6")
    with pytest.raises(ValueError, match=r"3 value\(s\) of 'il6'.*b: 0\.0, d: -3\.5, e: inf$"):
        rb.log_values(s)
    out = rb.log_values(pd.Series([1.0, np.nan]))
    assert out[0] == 0.0 and np.isnan(out[1])
    with pytest.raises(ValueError, match="base"):
        rb.log_values([1.0], base="2")


def test_mixedlm_log_names_the_row_of_a_zero_concentration():
    d = _trial().set_axis([f"r{i}" for i in range(28)])
    d.loc["r5", "value"] = 0.0
    with pytest.raises(ValueError, match=r"1 value\(s\) of 'value'.*\) r5: 0\.0$"):
        rb.mixedlm_time_group(d, "value", "record_id", "visit", "arm", log=True)


def test_log_rm_anova_refuses_zero_concentration():
    d = _trial().assign(analyte="a")
    d.loc[3, "value"] = 0.0
    with pytest.raises(ValueError, match=r"1 value\(s\) of 'value'.*\) 3: 0\.0$"):
        rb.log_rm_anova(d, within=("visit",))


def test_mixedlm_balanced_equals_observed_changes():
    # complete, balanced within each arm: GLS cell means are the observed cell means, so the change contrasts
    # are the observed mean changes, and the SE of a within-arm change is sqrt(2 sigma2 / n)
    d = _trial()
    out = rb.mixedlm_time_group(d, "value", "record_id", "visit", "arm", log=True).set_index("contrast")
    d["y"] = np.log(d["value"])
    m = d.groupby(["arm", "visit"])["y"].mean()
    ch_a, ch_b = m["MBPM", "post"] - m["MBPM", "pre"], m["WL", "post"] - m["WL", "pre"]
    assert out.loc["change_a", "estimate"] == pytest.approx(ch_a, abs=1e-6)
    assert out.loc["change_b", "estimate"] == pytest.approx(ch_b, abs=1e-6)
    assert out.loc["interaction", "estimate"] == pytest.approx(ch_a - ch_b, abs=1e-6)
    s2 = out.loc["change_a", "var_residual"]
    assert out.loc["change_a", "se"] == pytest.approx(math.sqrt(2 * s2 / 8), rel=1e-9)
    assert out.loc["change_b", "se"] == pytest.approx(math.sqrt(2 * s2 / 6), rel=1e-9)
    z = out.loc["interaction", "z"]
    assert out.loc["interaction", "pval"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert set(out["n_obs"]) == {28}


def test_mixedlm_uses_incomplete_subjects():
    d = _trial(drop_post=(0, 9))
    out = rb.mixedlm_time_group(d, "value", "record_id", "visit", "arm")
    assert set(out["n_subjects"]) == {14} and set(out["n_obs"]) == {26}


# ---- degenerate input: R's behaviour recorded by tests/reference/robustness_degenerate.R ---------------------------


def _degenerate(case):
    d = pd.read_csv(REF / "robustness_degenerate_data.csv")
    return d[d["case"] == case].drop(columns="case").reset_index(drop=True)


def _r(case):
    r = pd.read_csv(REF / "robustness_degenerate.csv", dtype={"value": str}, keep_default_na=False)
    return r[r["case"] == case]


def _r_value(case, call, statistic):
    r = _r(case)
    return r.loc[(r["call"] == call) & (r["statistic"] == statistic), "value"].item()


def _r_messages(case):
    r = _r(case)
    return " | ".join(r.loc[r["statistic"] == "message", "value"])


def _mlm(case):
    return rb.mixedlm_time_group(_degenerate(case), "value", "record_id", "visit", "arm")


def test_mixedlm_well_defined_case_agrees_with_lme4():
    """The contrast case beside the degenerate ones: lme4's variance components and cell means to 1e-6."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _mlm("lmm_ok").set_index("contrast")
    assert _r_messages("lmm_ok") == ""
    assert out.loc["change_a", "var_subject"] == pytest.approx(float(_r_value("lmm_ok", "lmer", "var_subject")),
                                                               rel=1e-6)
    assert out.loc["change_a", "var_residual"] == pytest.approx(
        float(_r_value("lmm_ok", "lmer", "var_residual")), rel=1e-6)
    cell = {k: float(_r_value("lmm_ok", "lmer", f"cell{k}")) for k in ["MBPM_pre", "MBPM_post", "WL_pre", "WL_post"]}
    assert out.loc["change_a", "estimate"] == pytest.approx(cell["MBPM_post"] - cell["MBPM_pre"], abs=1e-6)
    assert out.loc["interaction", "estimate"] == pytest.approx(
        cell["MBPM_post"] - cell["MBPM_pre"] - cell["WL_post"] + cell["WL_pre"], abs=1e-6)
    assert out["converged"].all()


def test_mixedlm_constant_response_raises():
    assert "ERROR: missing value where TRUE/FALSE needed" in _r_messages("lmm_constant")  # lme4 stops
    with pytest.raises(DataValidationError, match=r"mixedlm_time_group\('value'\): the response is fitted exactly"):
        _mlm("lmm_constant")


@pytest.mark.parametrize("case", ["lmm_no_within", "lmm_no_within_beyond_cells"])
def test_mixedlm_no_within_subject_variation_raises(case):
    """Each subject's values equal (or differing only by the cell means): lme4 warns that it failed to converge
    and reports a residual variance of ~1e-16 / ~1e-10; the REML criterion is unbounded, so we refuse."""
    assert "WARNING:" in _r_messages(case)
    assert float(_r_value(case, "lmer", "var_residual")) < 1e-9
    with pytest.raises(DataValidationError, match="no within-subject variation beyond the fixed effects"):
        _mlm(case)


def test_mixedlm_one_observation_per_subject_raises():
    assert "number of levels of each grouping factor must be < number of observations" in _r_messages(
        "lmm_one_obs_per_subject")
    with pytest.raises(DataValidationError, match="16 subjects for 16 observations"):
        _mlm("lmm_one_obs_per_subject")


def test_mixedlm_empty_cell_raises_naming_it():
    """Nobody in WL came back: lme4 fits the three cells it has; our contrasts need the fourth."""
    assert _r_messages("lmm_empty_cell") == ""
    with pytest.raises(DataValidationError, match=r"cell\(s\) \['arm=WL, visit=post'\]"):
        _mlm("lmm_empty_cell")


def test_mixedlm_per_analyte_names_the_failing_analyte():
    d = pd.concat([_trial(seed=1).assign(analyte="il6"), _trial(seed=2).assign(analyte="il8", value=3.0)])
    with pytest.raises(DataValidationError, match=r"analyte 'il8'.*fitted exactly"):
        rb.mixedlm_per_analyte(d, ["il6", "il8"])


def test_random_intercept_reml_refuses_rank_deficient_and_missing():
    y, X, subjects = _design(_trial(seed=3))
    X0 = X.copy()
    X0[:, 3] = 0.0
    with pytest.raises(ValueError, match=r"rank 3 < 4 columns \(column\(s\) \[3\] all zero"):
        rb.random_intercept_reml(y, X0, subjects)
    y1 = y.copy()
    y1[0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        rb.random_intercept_reml(y1, X, subjects)


def test_random_intercept_reml_flags_theta_at_its_bound():
    """Within-subject noise 1e-7 of the subject spread: theta = sd ratio ~1e7 lies beyond the search bound 1e3;
    the fit is reported as not converged, with a warning."""
    n = 30
    subjects = np.repeat(np.arange(n), 2)
    X = np.ones((2 * n, 1))
    u = np.linspace(-1, 1, n)
    y = np.repeat(u, 2) + np.tile([1e-7, -1e-7], n)
    with pytest.warns(RuntimeWarning, match="bound"):
        fit = rb.random_intercept_reml(y, X, subjects)
    assert not fit["converged"]


def _design(d):
    cells = [(g, t) for g in ("MBPM", "WL") for t in ("pre", "post")]
    X = np.column_stack([((d["arm"] == g) & (d["visit"] == t)).to_numpy(float) for g, t in cells])
    return np.log(d["value"].to_numpy()), X, d["record_id"].to_numpy()


@pytest.mark.parametrize("drop_post", [(), (0, 3, 9, 12)])
def test_random_intercept_reml_matches_statsmodels_mixedlm(drop_post):
    """The closed-form profile reaches statsmodels' REML optimum (statsmodels stops ~1e-5 short of it, so its
    restricted log-likelihood may only be lower) and gives the same fixed effects and variance components."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    y, X, subjects = _design(_trial(seed=4, drop_post=drop_post, n_a=12, n_b=10))
    ours = rb.random_intercept_reml(y, X, subjects)
    sm = MixedLM(y, X, groups=subjects, exog_re=np.ones((len(y), 1))).fit(reml=True, method="bfgs", gtol=1e-10)
    assert -0.5 * ours["reml_criterion"] == pytest.approx(sm.llf, abs=1e-6)
    assert -0.5 * ours["reml_criterion"] >= sm.llf - 1e-9
    np.testing.assert_allclose(ours["beta"], sm.fe_params, rtol=1e-4)
    assert ours["var_residual"] == pytest.approx(sm.scale, rel=1e-3)
    assert ours["var_subject"] == pytest.approx(float(np.asarray(sm.cov_re)[0, 0]), rel=1e-3)
    assert ours["converged"]


def test_random_intercept_reml_gls_covariance_by_brute_force():
    """cov_beta = (X' V^-1 X)^-1 with V built densely from the fitted variance components."""
    y, X, subjects = _design(_trial(seed=2, drop_post=(1, 5)))
    fit = rb.random_intercept_reml(y, X, subjects)
    same = (subjects[:, None] == subjects[None, :]).astype(float)
    V = fit["var_residual"] * np.eye(len(y)) + fit["var_subject"] * same
    np.testing.assert_allclose(fit["cov_beta"], np.linalg.inv(X.T @ np.linalg.solve(V, X)), rtol=1e-10)
    beta_gls = np.linalg.solve(X.T @ np.linalg.solve(V, X), X.T @ np.linalg.solve(V, y))
    np.testing.assert_allclose(fit["beta"], beta_gls, rtol=1e-10)


def test_random_intercept_reml_boundary_when_subjects_share_nothing():
    """Subject means that vary less than chance: the REML estimate of the subject variance is 0 (as lme4's
    singular fit) and the fit is ordinary least squares."""
    rng = np.random.default_rng(7)
    n = 40
    subjects = np.repeat(np.arange(n), 2)
    X = np.column_stack([np.tile([1.0, 0.0], n), np.tile([0.0, 1.0], n)])
    e = rng.normal(size=(n, 2))
    y = (X @ np.array([1.0, 2.0])) + (e - e.mean(axis=1, keepdims=True)).ravel()  # pairs anti-correlated
    fit = rb.random_intercept_reml(y, X, subjects)
    assert fit["var_subject"] == 0.0
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(fit["beta"], ols, rtol=1e-12)
    assert fit["var_residual"] == pytest.approx(np.sum((y - X @ ols) ** 2) / (2 * n - 2), rel=1e-12)


def test_mixedlm_per_analyte_fdr():
    d = pd.concat([_trial(seed=i).assign(analyte=a) for i, a in enumerate(["a", "b", "c"])])
    out = rb.mixedlm_per_analyte(d, ["a", "b", "c"])
    assert len(out) == 12
    for _, sub in out.groupby("contrast"):
        p = sub["pval"].to_numpy()
        order = np.argsort(p)
        q = np.minimum.accumulate((p[order] * 3 / np.arange(1, 4))[::-1])[::-1]
        np.testing.assert_allclose(sub["qval"].to_numpy()[order], np.minimum(q, 1))


def test_change_scores():
    d = pd.DataFrame({"record_id": [1, 1, 2, 2, 3], "visit": ["pre", "post"] * 2 + ["pre"],
                      "x": [1.0, 3, 2, 1, 5]})
    out = rb.change_scores(d, ["x"]).set_index("record_id")
    assert out.loc[1, "x_change"] == 2 and out.loc[2, "x_change"] == -1 and np.isnan(out.loc[3, "x_change"])


def test_change_scores_keeps_subjects_without_values():
    """A subject whose values are all missing stays, with NaN changes (pivot_table would drop the row)."""
    d = pd.DataFrame({"record_id": [1, 1, 2, 2], "visit": ["pre", "post"] * 2, "x": [1.0, 3, np.nan, np.nan]})
    out = rb.change_scores(d, ["x"]).set_index("record_id")
    assert out.index.tolist() == [1, 2] and np.isnan(out.loc[2, "x_change"])


def test_change_scores_refuses_duplicates_and_empty_visits():
    d = pd.DataFrame({"record_id": [1, 1, 1, 2, 2], "visit": ["pre", "post", "post", "pre", "post"],
                      "x": [1.0, 3, 4, 2, 1], "y": [np.nan, 1.0, 1.0, np.nan, 2.0]})
    with pytest.raises(DataValidationError, match=r"record_id 1 at visit 'post': 2 rows"):
        rb.change_scores(d, ["x"])
    d = d.drop(index=2)
    with pytest.raises(DataValidationError, match=r"no value for y at 'pre'; a change"):
        rb.change_scores(d, ["x", "y"])
    with pytest.raises(DataValidationError, match=r"\['z'\] not in the data"):
        rb.change_scores(d, ["z"])


def test_change_correlations_fisher_ci():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"x": rng.normal(size=20)})
    d["y"] = d["x"] + rng.normal(size=20)
    d.loc[3, "y"] = np.nan
    out = rb.change_correlations(d, "x", ["y"]).set_index("method")
    sub = d.dropna()
    r = np.corrcoef(sub["x"], sub["y"])[0, 1]
    assert out.loc["pearson", "r"] == pytest.approx(r, abs=1e-12) and out.loc["pearson", "n"] == 19
    half = stats.norm.ppf(0.975) / math.sqrt(19 - 3)
    assert (out.loc["pearson", "ci_low"], out.loc["pearson", "ci_high"]) == pytest.approx(
        (math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)), abs=1e-12)
    assert out.loc["spearman", "r"] == pytest.approx(stats.spearmanr(sub["x"], sub["y"])[0], abs=1e-12)


@pytest.mark.parametrize("case", ["cor_constant", "cor_rounding_constant"])
def test_change_correlations_constant_variable_is_nan_with_warning(case):
    """y constant (R: NA, "the standard deviation is zero") or constant up to rounding (0.3 - 0.2, 0.4 - 0.3,
    ...: R's cor.test returns a spurious r = -0.35 from the residues): NaN with a warning, by R's t.test rule."""
    if case == "cor_constant":
        assert "the standard deviation is zero" in _r_messages(case)
        assert _r_value(case, "cor.test_pearson", "r") == "NA"
    else:
        assert abs(float(_r_value(case, "cor.test_pearson", "r")) + 0.3508) < 1e-4
    with pytest.warns(RuntimeWarning, match=r"correlation of 'x' with 'y' not computed \('y' essentially constant"):
        out = rb.change_correlations(_degenerate(case), "x", ["y"])
    assert out[["r", "ci_low", "ci_high", "pval"]].isna().all().all() and (out["n"] == 5).all()


def test_change_correlations_fewer_than_three_pairs_is_nan():
    """R's cor.test stops ("not enough finite observations"); Spearman returns rho = 1 with p NaN."""
    assert "not enough finite observations" in _r_messages("cor_two_pairs")
    d = _degenerate("cor_two_pairs")
    with pytest.warns(RuntimeWarning, match="only 2 complete pair"):
        out = rb.change_correlations(d, "x", ["y"])
    assert out[["r", "ci_low", "ci_high", "pval"]].isna().all().all() and (out["n"] == 2).all()


def test_change_correlations_three_pairs_no_interval():
    """n = 3: r and p as R's cor.test (r = -0.5, p = 2/3 by hand: t = -0.5 sqrt(1 / 0.75), 1 df); no interval."""
    assert _r_value("cor_three_pairs", "cor.test_pearson", "ci_low") == "none"
    with pytest.warns(RuntimeWarning, match="3 pairs, no Fisher-z interval"):
        out = rb.change_correlations(_degenerate("cor_three_pairs"), "x", ["y"]).set_index("method")
    assert out.loc["pearson", "r"] == pytest.approx(-0.5, abs=1e-12)
    assert out.loc["pearson", "pval"] == pytest.approx(2 / 3, abs=1e-12)
    assert out.loc["pearson", "pval"] == pytest.approx(float(_r_value("cor_three_pairs", "cor.test_pearson", "p")))
    assert out.loc["spearman", "pval"] == pytest.approx(float(_r_value("cor_three_pairs", "cor.test_spearman", "p")))
    assert out[["ci_low", "ci_high"]].isna().all().all()


def test_change_correlations_perfect_line_as_r():
    """y = 2x: R gives r = 1, p = 0 (t = Inf) and the interval (1, 1); so do we, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = rb.change_correlations(_degenerate("cor_perfect"), "x", ["y"]).set_index("method")
    assert _r_value("cor_perfect", "cor.test_pearson", "ci_low") == "1"
    assert out.loc["pearson", ["r", "ci_low", "ci_high", "pval"]].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_survival_table_nan_p_is_not_a_no():
    disp, long = rb.survival_table([{"finding": "f", "checks": {"a": (np.nan, True), "b": (0.2, True)}}])
    assert disp.iloc[0].tolist() == ["f", "n/a", "no (p =\u00a00.200)"]
    assert long["survives"].tolist() == [None, False]
    with pytest.raises(ValueError, match=r"p = 1\.5 for finding 'f', check 'a'"):
        rb.survival_table([{"finding": "f", "checks": {"a": (1.5, True)}}])


def test_survival_table():
    disp, long = rb.survival_table([
        {"finding": "up", "checks": {"paper": (0.01, True), "log": (0.2, True), "mlm": None}},
        {"finding": "down", "checks": {"paper": (0.01, False), "log": (0.0001, True)}},
    ])
    assert list(disp.columns) == ["Finding", "paper", "log", "mlm"]
    assert disp.iloc[0].tolist() == ["up", "yes (p =\u00a00.010)", "no (p =\u00a00.200)", "n/a"]
    assert disp.iloc[1].tolist() == ["down", "no (p =\u00a00.010)", "yes (p <\u00a00.001)", "n/a"]
    assert long["survives"].tolist()[:2] == [True, False]
