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
    p = [0.01, 0.04, 0.3]
    np.testing.assert_allclose(gt.adjust_pvalues(p, "bonferroni"), [0.03, 0.12, 0.9])
    np.testing.assert_allclose(gt.adjust_pvalues(p, "holm"), [0.03, 0.08, 0.3])
    with pytest.raises(ValueError):
        gt.adjust_pvalues(p, "sidak-ish")


def test_adjust_pvalues_keeps_a_missing_test_in_the_family():
    # R: p.adjust(c(0.01, 0.04, 0.3, NA), m) -> the family has 4 members (n = length(p))
    p = [0.01, 0.04, 0.3, float("nan")]
    np.testing.assert_allclose(gt.adjust_pvalues(p, "bonferroni")[:3], [0.04, 0.16, 1.0])
    np.testing.assert_allclose(gt.adjust_pvalues(p, "holm")[:3], [0.04, 0.12, 0.6])  # 4 p, 3 p, 2 p
    np.testing.assert_allclose(gt.adjust_pvalues(p, "fdr_bh")[:3], [0.04, 0.08, 0.4])  # 4/1 p, 4/2 p, 4/3 p
    assert np.isnan(gt.adjust_pvalues(p)[3])
    np.testing.assert_allclose(gt.adjust_pvalues([0.01], "bonferroni", n=12), [0.12])
    with pytest.raises(ValueError, match="smaller"):
        gt.adjust_pvalues([0.01, 0.02], n=1)


def _pairs(pre, post):
    return pd.DataFrame({"id": list(range(len(pre))) * 2, "visit": ["pre"] * len(pre) + ["post"] * len(post),
                         "y": list(pre) + list(post)})


def test_paired_ttest_constant_differences_are_not_a_number():
    # every difference is 0.1 up to rounding residue: a naive t is ~1e15; R's t.test stops ("essentially constant")
    pre = np.array([0.7, 1.3, 2.9, 5.1])
    post = pre + 0.1
    assert np.std(post - pre) > 0  # the residue the old check was fooled by
    with pytest.warns(RuntimeWarning, match="essentially constant"):
        r = gt.paired_ttest(_pairs(pre, post), "y", "id", "visit").iloc[0]
    assert np.isnan(r["T"]) and np.isnan(r["pval"]) and np.isnan(r["d_z"]) and "constant" in r["note"]
    assert r["n"] == 4 and r["mean_diff"] == pytest.approx(0.1)


def test_paired_ttest_zero_change_and_single_pair():
    with pytest.warns(RuntimeWarning):
        zero = gt.paired_ttest(_pairs([1.0, 2, 3], [1.0, 2, 3]), "y", "id", "visit").iloc[0]
    assert np.isnan(zero["pval"]) and zero["note"]
    with pytest.warns(RuntimeWarning, match="fewer than two"):
        one = gt.paired_ttest(_pairs([1.0], [2.0]), "y", "id", "visit").iloc[0]
    assert np.isnan(one["T"]) and one["dof"] == 0
    ok = gt.paired_ttest(_pairs([1.0, 2, 3], [2.0, 2, 5]), "y", "id", "visit").iloc[0]
    assert ok["note"] == "" and np.isfinite(ok["T"])


def test_posthoc_family_keeps_the_test_that_could_not_be_computed(paired):
    d = pd.concat([paired.assign(arm="MBPM"), paired.assign(arm="WL", id=paired["id"] + 10)])
    d["z"] = d["y"]
    d.loc[(d["arm"] == "WL") & (d["visit"] == "post"), "z"] = (
        d.loc[(d["arm"] == "WL") & (d["visit"] == "pre"), "z"].to_numpy() + 3.0)  # constant change in WL
    with pytest.warns(RuntimeWarning):
        out = gt.posthoc_paired(d, ["y", "z"], "id", "visit", "arm", ["MBPM", "WL"], family="toy")
    assert set(out["family_size"]) == {4} and set(out["n_computed"]) == {3}
    ok = out["pval"].notna()
    np.testing.assert_allclose(out.loc[ok, "p_adj"], np.minimum(out.loc[ok, "pval"] * 4, 1))
    assert out.loc[~ok, "note"].str.contains("constant").all()


def test_levene_undecidable_with_two_per_group():
    d = pd.DataFrame({"g": ["a"] * 2 + ["b"] * 3, "x": [1.0, 2, 3, 4, 5]})
    with pytest.warns(RuntimeWarning, match="n <= 2"):
        lev = gt.levene(d, "x", "g").iloc[0]
    assert np.isnan(lev["W"]) and np.isnan(lev["pval"]) and lev["undecidable"] == "n <= 2 in a group"
    with pytest.warns(RuntimeWarning, match="Kruskal-Wallis used"):
        r = gt.compare_groups(d, "x", "g", ["a", "b"]).iloc[0]
    # ranks a: 1, 2 (sum 3); b: 3, 4, 5 (sum 12); H = 12 / (5 * 6) * (3^2/2 + 12^2/3) - 3 * 6 = 3
    assert r["test"] == "Kruskal-Wallis" and r["stat"] == pytest.approx(3.0, abs=1e-12)
    assert "undecidable" in r["rule_note"] and np.isnan(r["levene_p"])


def test_zero_variance_in_one_group_is_named():
    # a: 2, 2, 2 (deviations 0, 0, 0); b: 1, 3, 5, 7 (mean 4, deviations 3, 1, 1, 3, mean 2)
    # z-bar = 8/7; SSB = 3 (0 - 8/7)^2 + 4 (2 - 8/7)^2 = 192/49 + 144/49 = 336/49; SSW = 0 + 4 = 4; W = SSB / (4/5)
    d = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 4, "x": [2.0, 2, 2, 1, 3, 5, 7]})
    r = gt.compare_groups(d, "x", "g", ["a", "b"]).iloc[0]
    assert r["levene_W"] == pytest.approx((336 / 49) / (4 / 5), abs=1e-12)
    assert "no variance in a" in r["rule_note"] and np.isnan(r["welch_p"])
    d2 = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "x": [1.0, 1, 1, 2, 2, 2]})
    with pytest.warns(RuntimeWarning, match="zero variance in every group"):
        r2 = gt.compare_groups(d2, "x", "g", ["a", "b"]).iloc[0]
    assert r2["test"] == "Kruskal-Wallis" and np.isnan(r2["levene_p"]) and "undecidable" in r2["rule_note"]
    assert np.isnan(r2["g"])  # pooled SD 0: no infinite effect size


def test_constant_measure_gets_no_test():
    d = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "x": [4.0] * 6})
    with pytest.warns(RuntimeWarning, match="constant"):
        r = gt.compare_groups(d, "x", "g", ["a", "b"]).iloc[0]
    assert r["test"] == "none" and np.isnan(r["pval"]) and r["stars"] == ""
    assert r["rule_note"] == "constant in every group: no test computed"


def test_welch_anova_by_hand(two_groups):
    # means 3 and 6, variances 2.5 and 10, n 5 each: s^2/n = 0.5 and 2; F = t^2 = 9 / 2.5 = 3.6;
    # Welch-Satterthwaite df = 2.5^2 / (0.5^2 / 4 + 2^2 / 4) = 6.25 / 1.0625
    from scipy import stats

    r = gt.welch_anova(two_groups, "x", "grp").iloc[0]
    df2 = 6.25 / 1.0625
    assert r["F"] == pytest.approx(3.6, abs=1e-12) and r["ddof2"] == pytest.approx(df2, abs=1e-12)
    assert r["pval"] == pytest.approx(stats.f.sf(3.6, 1, df2), abs=1e-12)
    row = gt.compare_groups(two_groups, "x", "grp", ["CP", "HC"]).iloc[0]
    assert row["welch_p"] == pytest.approx(r["pval"], abs=1e-15) and row["rule_note"] == ""


def test_posthoc_paired_family(paired):
    d = pd.concat([paired.assign(arm="MBPM"), paired.assign(arm="WL", id=paired["id"] + 10)])
    d["z"] = d["y"] * 2 + d["id"] % 3
    out = gt.posthoc_paired(d, ["y", "z"], "id", "visit", "arm", ["MBPM", "WL"], family="toy")
    assert len(out) == 4 and set(out["family_size"]) == {4} and set(out["n_computed"]) == {4}
    np.testing.assert_allclose(out["p_adj"], np.minimum(out["pval"] * 4, 1))
