"""helpers.stats.robustness: hand-checkable properties, then agreement with R (lme4, cor.test) on stored output."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.stats import robustness as rb


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


def test_survival_table():
    disp, long = rb.survival_table([
        {"finding": "up", "checks": {"paper": (0.01, True), "log": (0.2, True), "mlm": None}},
        {"finding": "down", "checks": {"paper": (0.01, False), "log": (0.0001, True)}},
    ])
    assert list(disp.columns) == ["Finding", "paper", "log", "mlm"]
    assert disp.iloc[0].tolist() == ["up", "yes (p = 0.010)", "no (p = 0.200)", "n/a"]
    assert disp.iloc[1].tolist() == ["down", "no (p = 0.010)", "yes (p < 0.001)", "n/a"]
    assert long["survives"].tolist()[:2] == [True, False]
