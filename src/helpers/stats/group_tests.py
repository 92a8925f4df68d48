"""Group comparisons of the report: baseline CP vs HC tests, within-group paired tests, effect sizes, corrections.

One function per test, each returning a tidy :class:`pandas.DataFrame` (pingouin style). The computing is done by
scipy, pingouin and statsmodels; the few formulas no library offers are written out here and say so, with their
source. Every statistic is checked against R (``tests/reference/tables.R``) in ``tests/test_group_tests.py``.

Conventions
-----------
* Levene's test is centred on the group **mean** by default, as SPSS does (Levene 1960); ``center="median"``
  gives the Brown-Forsythe variant (R ``car::leveneTest``'s default).
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
    default). Returns one row: ``center, W, ddof1, ddof2, pval, equal_var`` (``pval >= alpha``).
    """
    if center not in ("mean", "median"):
        raise ValueError(f"levene center must be 'mean' or 'median', got {center!r}")
    _, samples = _groups(data, dv, group, levels)
    n = sum(len(s) for s in samples)
    w, p = stats.levene(*samples, center=center)
    return pd.DataFrame([{"center": center, "W": float(w), "ddof1": len(samples) - 1, "ddof2": n - len(samples),
                          "pval": float(p), "equal_var": bool(p >= alpha)}])


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


def hedges_g(data: pd.DataFrame, dv: str, group: str, levels: Sequence, confidence: float = 0.95) -> pd.DataFrame:
    """Hedges' g of ``levels[0] - levels[1]`` with its parametric CI (pingouin ``compute_effsize``/``compute_esci``).

    The CI is Hedges & Olkin's (1985) normal-theory interval, g +/- t(n1 + n2 - 2) SE,
    SE = sqrt((n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2))). Returns one row: ``hedges, ci_low, ci_high``.
    """
    _, (x, y) = _groups(data, dv, group, levels)
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
    ``kw_H, kw_df, kw_p``, the chosen ``test`` (``"ANOVA"`` or ``"Kruskal-Wallis"``), ``stat, df1, df2, pval,
    stars`` and Hedges' ``g, g_ci_low, g_ci_high`` (``levels[0] - levels[1]``).
    """
    levels = list(levels)
    _, samples = _groups(data, dv, group, levels)
    row: dict = {"dv": dv}
    for lev, s in zip(levels, samples, strict=True):
        key = str(lev).lower()
        row[f"n_{key}"] = len(s)
        row[f"mean_{key}"] = float(np.mean(s)) if len(s) else np.nan
        row[f"sd_{key}"] = float(np.std(s, ddof=1)) if len(s) > 1 else np.nan
    lev_ = levene(data, dv, group, center=center, levels=levels, alpha=alpha).iloc[0]
    aov = anova_oneway(data, dv, group, levels=levels).iloc[0]
    kw = kruskal(data, dv, group, levels=levels).iloc[0]
    row.update({"levene_center": center, "levene_W": lev_["W"], "levene_df1": int(lev_["ddof1"]),
                "levene_df2": int(lev_["ddof2"]), "levene_p": lev_["pval"],
                "anova_F": aov["F"], "anova_df1": int(aov["ddof1"]), "anova_df2": int(aov["ddof2"]),
                "anova_p": aov["pval"], "np2": aov["np2"],
                "kw_H": kw["H"], "kw_df": int(kw["ddof1"]), "kw_p": kw["pval"]})
    if bool(lev_["equal_var"]):
        row.update({"test": "ANOVA", "stat": aov["F"], "df1": int(aov["ddof1"]), "df2": float(aov["ddof2"]),
                    "pval": aov["pval"]})
    else:
        row.update({"test": "Kruskal-Wallis", "stat": kw["H"], "df1": int(kw["ddof1"]), "df2": np.nan,
                    "pval": kw["pval"]})
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
    pval, d_z, d_av``.
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
    if n > 1 and np.std(y - x) > 0:
        t, p = stats.ttest_rel(x, y)
        row.update({"T": float(t), "dof": n - 1, "pval": float(p), "d_z": cohen_dz(x, y), "d_av": cohen_dav(x, y)})
    else:
        row.update({"T": np.nan, "dof": max(n - 1, 0), "pval": np.nan, "d_z": np.nan, "d_av": np.nan})
    return pd.DataFrame([row])


def adjust_pvalues(pvals: Sequence[float], method: str = "bonferroni") -> np.ndarray:
    """Multiplicity-adjusted p-values (statsmodels ``multipletests``): ``bonferroni``, ``holm`` or ``fdr_bh``
    (Benjamini-Hochberg). NaN p-values are left out of the family and stay NaN."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, got {method!r}")
    p = np.asarray(pvals, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=CORRECTIONS[method])[1]
    return out


def posthoc_paired(data: pd.DataFrame, dvs: Sequence[str], subject: str, within: str, group: str,
                 levels: Sequence, pre: str = "pre", post: str = "post", correction: str = "bonferroni",
                 family: str = "all") -> pd.DataFrame:
    """:func:`paired_ttest` for every ``dv`` within every level of ``group``, with adjusted p-values.

    The correction family is every test of this call (``len(levels) x len(dvs)`` tests, e.g. 2 groups x 6
    analytes = 12), named in the ``family`` and ``family_size`` columns; call it once per family (biomarkers,
    clinical scores). Returns one row per group x dv with ``group`` first and ``p_adj``, ``correction`` added.
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
    out["p_adj"] = adjust_pvalues(out["pval"], correction)
    out["correction"] = correction
    out["family"] = family
    out["family_size"] = int(out["pval"].notna().sum())
    return out
