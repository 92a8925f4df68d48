"""helpers.stats.group_tests: hand-worked values, then agreement with R (tests/reference/tables.R) on the study data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.stats import group_tests as gt

A = [1.0, 2, 3, 4, 5]
B = [2.0, 4, 6, 8, 10]


@pytest.fixture
def two_groups():
    return pd.DataFrame({"grp": ["CP"] * 5 + ["HC"] * 5, "x": A + B})


@pytest.fixture
def paired():
    pre, post = [1.0, 2, 3, 4, 5], [2.0, 2.5, 4, 6, 5.5]
    return pd.DataFrame({"id": list(range(5)) * 2, "visit": ["pre"] * 5 + ["post"] * 5, "y": pre + post})


def test_stars():
    assert [gt.stars(p) for p in (0.2, 0.05, 0.049, 0.009, 0.0009, float("nan"))] == ["", "", "*", "**", "***", ""]


def test_levene_mean_by_hand(two_groups):
    # |x - mean|: A 2,1,0,1,2 (mean 1.2), B 4,2,0,2,4 (mean 2.4); SSB = 3.6, SSW = 2.8 + 11.2 = 14; W = 3.6 / (14/8)
    r = gt.levene(two_groups, "x", "grp", center="mean").iloc[0]
    assert r["W"] == pytest.approx(3.6 / (14 / 8), abs=1e-12)
    assert (r["ddof1"], r["ddof2"]) == (1, 8)
    assert r["equal_var"]


def test_levene_median_differs_from_mean():
    d = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "x": [1.0, 1, 2, 10, 0, 5, 6, 7]})
    w_mean = gt.levene(d, "x", "g", center="mean").iloc[0]["W"]
    w_median = gt.levene(d, "x", "g", center="median").iloc[0]["W"]
    assert w_mean != pytest.approx(w_median)
    with pytest.raises(ValueError, match="center"):
        gt.levene(d, "x", "g", center="trimmed")


def test_anova_by_hand(two_groups):
    # means 3 and 6, grand 4.5: SSB = 22.5, SSW = 10 + 40 = 50; F = 22.5 / (50 / 8) = 3.6
    r = gt.anova_oneway(two_groups, "x", "grp").iloc[0]
    assert r["F"] == pytest.approx(3.6, abs=1e-12)
    assert r["np2"] == pytest.approx(22.5 / 72.5, abs=1e-12)


def test_kruskal_by_hand():
    d = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "x": [1.0, 2, 3, 4, 5, 6]})
    # ranks 1..6: H = 12 / (6 * 7) * (6^2/3 + 15^2/3) - 3 * 7 = 27/7
    r = gt.kruskal(d, "x", "g").iloc[0]
    assert r["H"] == pytest.approx(27 / 7, abs=1e-12)
    assert r["ddof1"] == 1


def test_hedges_g_by_hand(two_groups):
    # d = (3 - 6) / sqrt((10 + 40) / 8) = -1.2; J = 1 - 3 / (4 * 10 - 9)
    r = gt.hedges_g(two_groups, "x", "grp", ["CP", "HC"]).iloc[0]
    g = -1.2 * (1 - 3 / 31)
    assert r["hedges"] == pytest.approx(g, abs=1e-12)
    se = math.sqrt(10 / 25 + g**2 / 20)
    from scipy import stats

    crit = stats.t.ppf(0.975, 8)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((g - crit * se, g + crit * se), abs=1e-12)


def test_compare_groups_picks_test_by_levene():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"grp": ["CP"] * 30 + ["HC"] * 30,
                      "x": np.r_[rng.normal(0, 1, 30), rng.normal(0, 1, 30)],
                      "y": np.r_[rng.normal(0, 10, 30), rng.normal(0, 1, 30)]})
    out = gt.compare_groups_many(d, ["x", "y", "absent"], "grp", ["CP", "HC"])
    assert list(out["dv"]) == ["x", "y"]
    x, y = out.iloc[0], out.iloc[1]
    assert x["levene_p"] >= 0.05 and x["test"] == "ANOVA" and x["pval"] == x["anova_p"] and x["df2"] == 58
    assert y["levene_p"] < 0.05 and y["test"] == "Kruskal-Wallis" and y["pval"] == y["kw_p"]
    assert (x["n_cp"], x["n_hc"]) == (30, 30)
    # centring is a parameter: the median-centred test is recorded as such
    assert gt.compare_groups(d, "x", "grp", ["CP", "HC"], center="median").iloc[0]["levene_center"] == "median"


def test_compare_groups_drops_missing(two_groups):
    d = two_groups.copy()
    d.loc[0, "x"] = np.nan
    r = gt.compare_groups(d, "x", "grp", ["CP", "HC"]).iloc[0]
    assert r["n_cp"] == 4 and r["mean_cp"] == pytest.approx(3.5)


def test_crosstab_by_hand():
    d = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "sex": ["f", "f", "f", "m", "f", "m", "m", "m"]})
    counts, test = gt.crosstab_test(d, "sex", "g", ["a", "b"])
    assert counts.loc["f", "a"] == 3 and counts.loc["m", "b"] == 3
    # expected 2 in every cell: chi2 = 4 * (1^2 / 2) = 2
    assert test.iloc[0]["chi2"] == pytest.approx(2.0) and test.iloc[0]["dof"] == 1
    assert test.iloc[0]["min_expected"] == pytest.approx(2.0)


def test_paired_ttest_by_hand_spss_sign(paired):
    # changes 1, .5, 1, 2, .5: mean 1, SD sqrt(.375); t(pre - post) = -1 / (SD / sqrt 5)
    r = gt.paired_ttest(paired, "y", "id", "visit").iloc[0]
    sd = math.sqrt(0.375)
    assert r["T"] == pytest.approx(-1 / (sd / math.sqrt(5)), abs=1e-12)
    assert r["dof"] == 4 and r["n"] == 5
    assert r["d_z"] == pytest.approx(1 / sd, abs=1e-12)
    assert r["d_z"] == pytest.approx(abs(r["T"]) / math.sqrt(5), abs=1e-12)
    assert r["d_av"] == pytest.approx(1 / ((math.sqrt(2.5) + math.sqrt(3.125)) / 2), abs=1e-12)
    assert r["mean_diff"] == pytest.approx(1.0)


def test_paired_ttest_uses_complete_pairs(paired):
    d = paired.copy()
    d.loc[(d["id"] == 4) & (d["visit"] == "post"), "y"] = np.nan
    d = pd.concat([d, pd.DataFrame({"id": [9], "visit": ["pre"], "y": [100.0]})])
    r = gt.paired_ttest(d, "y", "id", "visit").iloc[0]
    assert r["n"] == 4 and r["mean_pre"] == pytest.approx(2.5)


def test_adjust_pvalues():
    p = [0.01, 0.04, 0.3, float("nan")]
    np.testing.assert_allclose(gt.adjust_pvalues(p, "bonferroni")[:3], [0.03, 0.12, 0.9])
    np.testing.assert_allclose(gt.adjust_pvalues(p, "holm")[:3], [0.03, 0.08, 0.3])
    assert np.isnan(gt.adjust_pvalues(p)[3])
    with pytest.raises(ValueError):
        gt.adjust_pvalues(p, "sidak-ish")


def test_posthoc_paired_family(paired):
    d = pd.concat([paired.assign(arm="MBPM"), paired.assign(arm="WL", id=paired["id"] + 10)])
    d["z"] = d["y"] * 2 + d["id"] % 3
    out = gt.posthoc_paired(d, ["y", "z"], "id", "visit", "arm", ["MBPM", "WL"], family="toy")
    assert len(out) == 4 and set(out["family_size"]) == {4}
    np.testing.assert_allclose(out["p_adj"], np.minimum(out["pval"] * 4, 1))
