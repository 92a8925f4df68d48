"""Group comparisons of the report: baseline CP vs HC tests, within-group paired tests, effect sizes, corrections.

One function per test, each returning a tidy :class:`pandas.DataFrame` (pingouin style). The computing is done by
scipy, pingouin and statsmodels; the few formulas no library offers are written out here and say so, with their
source. Every statistic is checked against R (``tests/reference/tables.R``) in ``tests/test_group_tests.py``.

Conventions
-----------
* Levene's test is centred on the group **mean** by default, as SPSS does (Levene 1960); ``center="median"``
  gives the Brown-Forsythe variant (R ``car::leveneTest``'s default).
* Degenerate input never yields a silent number. A paired test whose differences are essentially constant (R's
  ``t.test`` rule: standard error < 10 machine epsilons x |mean difference|) or has fewer than two pairs gives NaN
  with a warning and a ``note``; Levene's test with two or fewer values in a group, or no variance in any group,
  is undecidable (NaN with a warning) and the baseline rule then says what it used instead (``rule_note``).
  A test that could not be computed stays in its correction family (the family size is the planned number).
* Paired tests follow SPSS's pair order ``pre - post``: an increase from pre to post gives a negative t.
* Cohen's :math:`d_z` divides the mean difference by the SD of the differences (= t / sqrt(n)); Cohen's
  :math:`d_{av}` divides it by the average of the two SDs (Lakens 2013, eq. 10). Both carry the sign of
  ``post - pre`` so that a positive d is an increase.

References
----------
* Levene, H. (1960). Robust tests for equality of variances. In *Contributions to Probability and Statistics*.
* Brown, M. B., & Forsythe, A. B. (1974). Robust tests for the equality of variances. *JASA*, 69, 364-367.
* Hedges, L. V., & Olkin, I. (1985). *Statistical Methods for Meta-Analysis*. Academic Press.
* Lakens, D. (2013). Calculating and reporting effect sizes to facilitate cumulative science: a practical primer
  for t-tests and ANOVAs. *Frontiers in Psychology*, 4, 863. https://doi.org/10.3389/fpsyg.2013.00863
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats
from statsmodels.stats.multitest import multipletests

__all__ = [
    "stars",
    "levene",
    "anova_oneway",
    "kruskal",
    "welch_anova",
    "hedges_g",
    "compare_groups",
    "compare_groups_many",
    "crosstab_test",
    "cohen_dz",
    "cohen_dav",
    "paired_ttest",
    "posthoc_paired",
    "adjust_pvalues",
]

CORRECTIONS = {"bonferroni": "bonferroni", "holm": "holm", "fdr_bh": "fdr_bh"}


def stars(p: float, levels: Sequence[float] = (0.05, 0.01, 0.001)) -> str:
    """Significance stars: ``*`` p < .05, ``**`` p < .01, ``***`` p < .001, ``""`` otherwise or when p is NaN."""
    if p is None or not np.isfinite(p):
        return ""
    return "*" * sum(p < level for level in levels)


def _groups(data: pd.DataFrame, dv: str, group: str, levels: Sequence | None) -> tuple[list, list[np.ndarray]]:
    """The non-missing values of ``dv`` per level of ``group`` (levels in the order given, else sorted)."""
    levels = list(levels) if levels is not None else sorted(data[group].dropna().unique())
    samples = [pd.to_numeric(data.loc[data[group] == lev, dv], errors="coerce").dropna().to_numpy(float)
               for lev in levels]
    return levels, samples


def levene(data: pd.DataFrame, dv: str, group: str, center: str = "mean", levels: Sequence | None = None,
           alpha: float = 0.05) -> pd.DataFrame:
    """Levene's test of equal variances (``scipy.stats.levene``).

    ``center="mean"`` is Levene's original test and SPSS's; ``"median"`` is Brown & Forsythe's (R ``car``'s
    default). Returns one row: ``center, W, ddof1, ddof2, pval, equal_var`` (``pval >= alpha``), ``undecidable``
    (:func:`levene_undecidable`; when not empty, W, p and equal_var are missing and a warning is issued).
    """
    if center not in ("mean", "median"):
        raise ValueError(f"levene center must be 'mean' or 'median', got {center!r}")
    _, samples = _groups(data, dv, group, levels)
    n = sum(len(s) for s in samples)
    why = levene_undecidable(samples)
    if why:
        warnings.warn(f"Levene's test of {dv!r} is undecidable ({why}): W and p are NaN", RuntimeWarning,
                      stacklevel=2)
        w, p = np.nan, np.nan
    else:
        w, p = stats.levene(*samples, center=center)
    return pd.DataFrame([{"center": center, "W": float(w), "ddof1": len(samples) - 1, "ddof2": n - len(samples),
                          "pval": float(p), "equal_var": bool(p >= alpha) if not why else None,
                          "undecidable": why}])


def levene_undecidable(samples: Sequence[np.ndarray]) -> str:
    """Why Levene's test cannot decide on these samples ("" when it can).

    With two values in a group both absolute deviations from the group mean are equal (one value: a single
    deviation of zero), so that group's deviations carry no information on its spread; with two per group the
    within-group variance of the deviations is zero and W is infinite or rounding residue (p ~ 1e-31). When every
    group is constant, W = 0 / 0. Returns "n <= 2 in a group", "zero variance in every group" or "".
    (A single constant group among varying ones leaves W well defined: see :func:`compare_groups`.)
    """
    if any(len(s) <= 2 for s in samples):
        return "n <= 2 in a group"
    if all(np.ptp(s) == 0 for s in samples):
        return "zero variance in every group"
    return ""


def anova_oneway(data: pd.DataFrame, dv: str, group: str, levels: Sequence | None = None) -> pd.DataFrame:
    """One-way between-subjects ANOVA (``scipy.stats.f_oneway``) with partial eta squared.

    Returns one row: ``F, ddof1, ddof2, pval, np2`` where ``np2 = F df1 / (F df1 + df2)``.
    """
    _, samples = _groups(data, dv, group, levels)
    n = sum(len(s) for s in samples)
    f, p = stats.f_oneway(*samples)
    df1, df2 = len(samples) - 1, n - len(samples)
    return pd.DataFrame([{"F": float(f), "ddof1": df1, "ddof2": df2, "pval": float(p),
                          "np2": float(f * df1 / (f * df1 + df2))}])


def kruskal(data: pd.DataFrame, dv: str, group: str, levels: Sequence | None = None) -> pd.DataFrame:
    """Kruskal-Wallis H test with the tie correction (``scipy.stats.kruskal``; same as R ``kruskal.test``).

    Returns one row: ``H, ddof1, pval``.
    """
    _, samples = _groups(data, dv, group, levels)
    h, p = stats.kruskal(*samples)
    return pd.DataFrame([{"H": float(h), "ddof1": len(samples) - 1, "pval": float(p)}])


def welch_anova(data: pd.DataFrame, dv: str, group: str, levels: Sequence | None = None) -> pd.DataFrame:
    """Welch's one-way ANOVA for unequal variances (``pingouin.welch_anova``; R ``oneway.test(var.equal = FALSE)``).

    Unlike Kruskal-Wallis, it tests equality of means without assuming equal variances (Welch 1951,
    Biometrika 38:330-336). Returns one row: ``F, ddof1, ddof2, pval`` (NaN when a group has fewer than two values
    or no variance, where the weights 1 / (s^2 / n) are undefined).
    """
    levels, samples = _groups(data, dv, group, levels)
    if any(len(s) < 2 or np.ptp(s) == 0 for s in samples):
        return pd.DataFrame([{"F": np.nan, "ddof1": len(samples) - 1, "ddof2": np.nan, "pval": np.nan}])
    long = pd.DataFrame({"y": np.concatenate(samples),
                         "g": np.repeat([str(lev) for lev in levels], [len(s) for s in samples])})
    w = pg.welch_anova(data=long, dv="y", between="g").iloc[0]
    pcol = "p_unc" if "p_unc" in w else "p-unc"
    return pd.DataFrame([{"F": float(w["F"]), "ddof1": float(w["ddof1"]), "ddof2": float(w["ddof2"]),
                          "pval": float(w[pcol])}])


def hedges_g(data: pd.DataFrame, dv: str, group: str, levels: Sequence, confidence: float = 0.95) -> pd.DataFrame:
    """Hedges' g of ``levels[0] - levels[1]`` with its parametric CI (pingouin ``compute_effsize``/``compute_esci``).

    The CI is Hedges & Olkin's (1985) normal-theory interval, g +/- t(n1 + n2 - 2) SE,
    SE = sqrt((n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2))). Returns one row: ``hedges, ci_low, ci_high`` (NaN with a
    warning when the pooled SD is zero or a group has fewer than two values).
    """
    _, (x, y) = _groups(data, dv, group, levels)
    if len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        warnings.warn(f"Hedges' g of {dv!r} undefined (pooled SD 0 or a group with fewer than two values): NaN",
                      RuntimeWarning, stacklevel=2)
        return pd.DataFrame([{"hedges": np.nan, "ci_low": np.nan, "ci_high": np.nan}])
    g = float(pg.compute_effsize(x, y, paired=False, eftype="hedges"))
    lo, hi = pg.compute_esci(stat=g, nx=len(x), ny=len(y), paired=False, eftype="cohen",
                             confidence=confidence, decimals=15)
    return pd.DataFrame([{"hedges": g, "ci_low": float(lo), "ci_high": float(hi)}])


def compare_groups(data: pd.DataFrame, dv: str, group: str, levels: Sequence, center: str = "mean",
                   alpha: float = 0.05) -> pd.DataFrame:
    """The paper's baseline rule for one measure: Levene first; one-way ANOVA if variances are homogeneous,
    else Kruskal-Wallis H. Both tests are computed; ``test``/``stat``/``df``/``pval`` hold the one the rule picks.

    Returns one row: ``dv``, per level ``n_<lev>, mean_<lev>, sd_<lev>`` (lower-case level names), Levene
    ``levene_W, levene_df1, levene_df2, levene_p, levene_center``, ``anova_F, anova_df1, anova_df2, anova_p, np2``,
    ``kw_H, kw_df, kw_p``, Welch's ANOVA ``welch_F, welch_df1, welch_df2, welch_p`` (robustness: the test for
    unequal variances, beside the rule), the chosen ``test`` (``"ANOVA"``, ``"Kruskal-Wallis"`` or ``"none"``),
    ``stat, df1, df2, pval, stars``, ``rule_note`` (why the rule departed from Levene's verdict, or why no test
    was computed; "" otherwise) and Hedges' ``g, g_ci_low, g_ci_high`` (``levels[0] - levels[1]``).

    When Levene's test is undecidable (:func:`levene_undecidable`: two or fewer values in a group, or no variance
    in any group) the rule uses Kruskal-Wallis, which makes no equal-variance assumption, and says so in
    ``rule_note``. A group without variance beside varying ones leaves Levene's W defined (the rule applies as
    stated) but is named in ``rule_note``. When every value is the same (or a group is empty) no test is computed:
    ``test`` is ``"none"`` and the statistics NaN.
    """
    levels = list(levels)
    _, samples = _groups(data, dv, group, levels)
    row: dict = {"dv": dv}
    for lev, s in zip(levels, samples, strict=True):
        key = str(lev).lower()
        row[f"n_{key}"] = len(s)
        row[f"mean_{key}"] = float(np.mean(s)) if len(s) else np.nan
        row[f"sd_{key}"] = float(np.std(s, ddof=1)) if len(s) > 1 else np.nan
    pooled = np.concatenate(samples) if samples else np.array([])
    if len(pooled) == 0 or np.ptp(pooled) == 0 or any(len(s) == 0 for s in samples):
        # nothing to compare: every value equal (or a group empty); no test is computed and none is named
        why = "a group has no values" if any(len(s) == 0 for s in samples) else "constant in every group"
        warnings.warn(f"{dv!r}: {why}; no group test computed", RuntimeWarning, stacklevel=2)
        n = len(pooled)
        row.update({"levene_center": center, "levene_W": np.nan, "levene_df1": len(samples) - 1,
                    "levene_df2": n - len(samples), "levene_p": np.nan, "anova_F": np.nan,
                    "anova_df1": len(samples) - 1, "anova_df2": n - len(samples), "anova_p": np.nan, "np2": np.nan,
                    "kw_H": np.nan, "kw_df": len(samples) - 1, "kw_p": np.nan, "welch_F": np.nan,
                    "welch_df1": float(len(samples) - 1), "welch_df2": np.nan, "welch_p": np.nan,
                    "test": "none", "stat": np.nan, "df1": len(samples) - 1, "df2": np.nan, "pval": np.nan,
                    "rule_note": f"{why}: no test computed", "stars": ""})
        if len(levels) == 2:
            row.update({"g": np.nan, "g_ci_low": np.nan, "g_ci_high": np.nan})
        return pd.DataFrame([row])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the undecidable case is reported in rule_note below
        lev_ = levene(data, dv, group, center=center, levels=levels, alpha=alpha).iloc[0]
        aov = anova_oneway(data, dv, group, levels=levels).iloc[0]
    kw = kruskal(data, dv, group, levels=levels).iloc[0]
    wel = welch_anova(data, dv, group, levels=levels).iloc[0]
    row.update({"levene_center": center, "levene_W": lev_["W"], "levene_df1": int(lev_["ddof1"]),
                "levene_df2": int(lev_["ddof2"]), "levene_p": lev_["pval"],
                "anova_F": aov["F"], "anova_df1": int(aov["ddof1"]), "anova_df2": int(aov["ddof2"]),
                "anova_p": aov["pval"], "np2": aov["np2"],
                "kw_H": kw["H"], "kw_df": int(kw["ddof1"]), "kw_p": kw["pval"],
                "welch_F": wel["F"], "welch_df1": wel["ddof1"], "welch_df2": wel["ddof2"], "welch_p": wel["pval"]})
    if lev_["undecidable"]:
        warnings.warn(f"{dv!r}: Levene's test undecidable ({lev_['undecidable']}); Kruskal-Wallis used",
                      RuntimeWarning, stacklevel=2)
        row["rule_note"] = (f"Levene's test undecidable ({lev_['undecidable']}): Kruskal-Wallis used, as it "
                            "assumes no equal variances")
        row.update({"test": "Kruskal-Wallis", "stat": kw["H"], "df1": int(kw["ddof1"]), "df2": np.nan,
                    "pval": kw["pval"]})
    elif bool(lev_["equal_var"]):
        row["rule_note"] = ""
        row.update({"test": "ANOVA", "stat": aov["F"], "df1": int(aov["ddof1"]), "df2": float(aov["ddof2"]),
                    "pval": aov["pval"]})
    else:
        row["rule_note"] = ""
        row.update({"test": "Kruskal-Wallis", "stat": kw["H"], "df1": int(kw["ddof1"]), "df2": np.nan,
                    "pval": kw["pval"]})
    constant = [str(lev) for lev, x in zip(levels, samples, strict=True) if np.ptp(x) == 0]
    if constant and not lev_["undecidable"]:
        row["rule_note"] = (f"no variance in {', '.join(constant)} (every value equal): Levene's test applied "
                            f"as stated ({row['test']}); Welch's ANOVA undefined")
    row["stars"] = stars(row["pval"])
    if len(levels) == 2:
        g = hedges_g(data, dv, group, levels).iloc[0]
        row.update({"g": g["hedges"], "g_ci_low": g["ci_low"], "g_ci_high": g["ci_high"]})
    return pd.DataFrame([row])


def compare_groups_many(data: pd.DataFrame, dvs: Sequence[str], group: str, levels: Sequence,
                        center: str = "mean", alpha: float = 0.05) -> pd.DataFrame:
    """:func:`compare_groups` for each of ``dvs`` present in ``data`` (absent or all-missing ones are skipped)."""
    rows = [compare_groups(data, dv, group, levels, center=center, alpha=alpha)
            for dv in dvs if dv in data and data[dv].notna().any()]
    return pd.concat(rows, ignore_index=True)


def crosstab_test(data: pd.DataFrame, var: str, group: str, levels: Sequence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts of a categorical variable per group and Pearson's chi-square test of independence
    (``scipy.stats.chi2_contingency`` without continuity correction, as R ``chisq.test(correct=FALSE)``).

    With small expected counts the chi-square approximation is poor: ``min_expected`` is returned so the table
    can say so. Returns ``(counts, test)``: counts has one row per category and one column per level; test has
    one row ``var, chi2, dof, pval, min_expected``.
    """
    sub = data[data[group].isin(levels)]
    counts = pd.crosstab(sub[var], sub[group]).reindex(columns=list(levels), fill_value=0)
    counts = counts.loc[counts.sum(axis=1) > 0]
    if counts.shape[0] < 2:
        test = {"var": var, "chi2": np.nan, "dof": 0, "pval": np.nan, "min_expected": np.nan}
    else:
        res = stats.chi2_contingency(counts.to_numpy(), correction=False)
        test = {"var": var, "chi2": float(res.statistic), "dof": int(res.dof), "pval": float(res.pvalue),
                "min_expected": float(res.expected_freq.min())}
    return counts, pd.DataFrame([test])


def cohen_dz(pre: np.ndarray, post: np.ndarray) -> float:
    """Cohen's d_z of ``post - pre``: mean difference / SD of the differences (pingouin ``cohen_dz``);
    equals |t| / sqrt(n) of the paired t-test (Lakens 2013, eq. 6)."""
    return float(pg.compute_effsize(np.asarray(post, float), np.asarray(pre, float), paired=True,
                                    eftype="cohen_dz"))


def cohen_dav(pre: np.ndarray, post: np.ndarray) -> float:
    """Cohen's d_av of ``post - pre``: mean difference / ((SD_pre + SD_post) / 2) (Lakens 2013, eq. 10).

    Hand-written: pingouin's paired ``cohen`` divides by sqrt((var_pre + var_post) / 2) instead, which is a
    different (root-mean-square) average of the two SDs.
    """
    pre, post = np.asarray(pre, float), np.asarray(post, float)
    return float(np.mean(post - pre) / ((np.std(pre, ddof=1) + np.std(post, ddof=1)) / 2))


def paired_ttest(data: pd.DataFrame, dv: str, subject: str, within: str, pre: str = "pre",
                 post: str = "post") -> pd.DataFrame:
    """Paired t-test of ``dv`` between two levels of ``within`` on complete pairs (``scipy.stats.ttest_rel``).

    ``data`` is long: one row per subject x ``within`` level. Sign as SPSS's pair order ``pre - post`` (an
    increase gives a negative t). Effect sizes :func:`cohen_dz` and :func:`cohen_dav` are signed ``post - pre``.
    Returns one row: ``dv, n, mean_pre, sd_pre, mean_post, sd_post, mean_diff`` (post - pre), ``sd_diff, T, dof,
    pval, d_z, d_av, note``; when :func:`paired_undefined` gives a reason, the test statistics are NaN, ``note``
    holds the reason and a warning is issued.
    """
    wide = (data[data[within].isin([pre, post])]
            .pivot_table(index=subject, columns=within, values=dv, aggfunc="first", observed=True))
    wide = wide.reindex(columns=[pre, post]).dropna()
    x, y = wide[pre].to_numpy(float), wide[post].to_numpy(float)
    n = len(x)
    row = {"dv": dv, "n": n,
           "mean_pre": float(np.mean(x)) if n else np.nan, "sd_pre": float(np.std(x, ddof=1)) if n > 1 else np.nan,
           "mean_post": float(np.mean(y)) if n else np.nan,
           "sd_post": float(np.std(y, ddof=1)) if n > 1 else np.nan,
           "mean_diff": float(np.mean(y - x)) if n else np.nan,
           "sd_diff": float(np.std(y - x, ddof=1)) if n > 1 else np.nan}
    note = paired_undefined(y - x)
    if not note:
        t, p = stats.ttest_rel(x, y)
        row.update({"T": float(t), "dof": n - 1, "pval": float(p), "d_z": cohen_dz(x, y), "d_av": cohen_dav(x, y)})
    else:
        warnings.warn(f"paired t-test of {dv!r} not computed: {note}", RuntimeWarning, stacklevel=2)
        row.update({"T": np.nan, "dof": max(n - 1, 0), "pval": np.nan, "d_z": np.nan, "d_av": np.nan})
    row["note"] = note
    return pd.DataFrame([row])


def paired_undefined(diff: np.ndarray) -> str:
    """Why a paired t-test on the differences ``diff`` has no defined t ("" when it has).

    R's ``t.test`` rule (stats:::t.test.default): the standard error of the mean difference below
    10 x machine epsilon x |mean difference| means the data are "essentially constant"; a zero standard error
    (all differences equal, including all zero) leaves t undefined; fewer than two pairs leave no variance.
    Without the first check, differences equal up to rounding residue give |t| ~ 1e15.
    """
    diff = np.asarray(diff, float)
    n = len(diff)
    if n < 2:
        return f"fewer than two complete pairs (n = {n})"
    stderr = np.std(diff, ddof=1) / np.sqrt(n)
    mean = float(np.mean(diff))
    if stderr == 0 or stderr < 10 * np.finfo(float).eps * abs(mean):
        return f"the differences are essentially constant (all {mean:.6g}): t undefined"
    return ""


def adjust_pvalues(pvals: Sequence[float], method: str = "bonferroni", n: int | None = None) -> np.ndarray:
    """Multiplicity-adjusted p-values (statsmodels ``multipletests``): ``bonferroni``, ``holm`` or ``fdr_bh``
    (Benjamini-Hochberg).

    ``n`` is the family size, by default ``len(pvals)`` **including** missing p-values: a test that could not be
    computed stays in its family, as in R's ``p.adjust(p, n = length(p))``. NaN p-values stay NaN. The family is
    completed with p = 1 for the tests without a p before calling statsmodels; for these three methods that gives
    exactly R's formulas with n larger than the number of p-values (Bonferroni min(1, n p); Holm
    cummax((n - i + 1) p_(i)); BH cummin(n / i p_(i)), the added ones ranking last).
    """
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, got {method!r}")
    p = np.asarray(pvals, float)
    n = len(p) if n is None else int(n)
    ok = np.isfinite(p)
    if n < ok.sum():
        raise ValueError(f"family size n = {n} is smaller than the {int(ok.sum())} p-values given")
    out = np.full_like(p, np.nan)
    if ok.any():
        family = np.concatenate([p[ok], np.ones(n - int(ok.sum()))])
        out[ok] = multipletests(family, method=CORRECTIONS[method])[1][: int(ok.sum())]
    return out


def posthoc_paired(data: pd.DataFrame, dvs: Sequence[str], subject: str, within: str, group: str,
                 levels: Sequence, pre: str = "pre", post: str = "post", correction: str = "bonferroni",
                 family: str = "all") -> pd.DataFrame:
    """:func:`paired_ttest` for every ``dv`` within every level of ``group``, with adjusted p-values.

    The correction family is every test of this call (``len(levels) x len(dvs)`` tests, e.g. 2 groups x 6
    analytes = 12), named in the ``family`` and ``family_size`` columns; call it once per family (biomarkers,
    clinical scores). A test that could not be computed (``note``) keeps its place in the family: the family size
    is the planned number, ``n_computed`` how many gave a p. Returns one row per group x dv with ``group`` first
    and ``p_adj``, ``correction``, ``family``, ``family_size``, ``n_computed`` added.
    """
    rows = []
    for lev in levels:
        sub = data[data[group] == lev]
        for dv in dvs:
            if dv not in sub:
                continue
            r = paired_ttest(sub, dv, subject, within, pre=pre, post=post)
            r.insert(0, "group", lev)
            rows.append(r)
    out = pd.concat(rows, ignore_index=True)
    out["p_adj"] = adjust_pvalues(out["pval"], correction, n=len(out))
    out["correction"] = correction
    out["family"] = family
    out["family_size"] = len(out)
    out["n_computed"] = int(out["pval"].notna().sum())
    return out
