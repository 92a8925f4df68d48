"""Robustness checks beside the paper's method, and the change-change associations.

* :func:`log_values` and :func:`log_rm_anova`: the trial's Time x Biomarker x Group mixed ANOVA on log-transformed
  concentrations (the analytes span < 1 to thousands of pg/mL, so the raw-scale Biomarker effect is large by
  construction), through :func:`helpers.stats.mixed_anova`.
* :func:`mixedlm_time_group` / :func:`mixedlm_per_analyte`: per-analyte linear mixed model (random intercept
  per patient, REML, :func:`random_intercept_reml`; lme4's model) on **all available observations** (patients with one visit
  contribute), Time x Group cell means with Wald contrasts, Benjamini-Hochberg FDR across analytes.
* :func:`survival_table`: for each headline finding of the paper, whether it survives each check.
* :func:`change_correlations`: Pearson and Spearman correlations of change scores with 95% CIs (pingouin).

References
----------
* Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate. *JRSS B*, 57, 289-300.
* Laird, N. M., & Ware, J. H. (1982). Random-effects models for longitudinal data. *Biometrics*, 38, 963-974.
* Fisher, R. A. (1921). On the "probable error" of a coefficient of correlation. *Metron*, 1, 3-32 (the CI of r).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats

from helpers.stats.group_tests import adjust_pvalues
from helpers.stats.rmanova import mixed_anova

__all__ = [
    "log_values",
    "log_rm_anova",
    "mixedlm_time_group",
    "mixedlm_per_analyte",
    "change_scores",
    "change_correlations",
    "survival_table",
]

CONTRASTS = ("change_a", "change_b", "interaction", "group")


def log_values(values: pd.Series | np.ndarray, base: str = "e") -> np.ndarray:
    """Natural (``base="e"``) or base-10 logarithm of positive concentrations; raises on values <= 0.

    After the detection-limit rule every concentration is positive, so no offset is added (an offset would be an
    arbitrary choice that changes the result)."""
    x = np.asarray(values, float)
    finite = x[np.isfinite(x)]
    if (finite <= 0).any():
        raise ValueError(f"log transform needs positive values; found {int((finite <= 0).sum())} <= 0")
    return np.log10(x) if base == "10" else np.log(x)


def log_rm_anova(data: pd.DataFrame, dv: str = "value", subject: str = "record_id",
                 within: Sequence[str] = ("visit", "analyte"), between: str = "arm", **kwargs):
    """:func:`helpers.stats.mixed_anova` on ``log(dv)`` (complete cases handled by mixed_anova itself)."""
    d = data.copy()
    d[dv] = log_values(d[dv])
    return mixed_anova(d, dv=dv, subject=subject, within=list(within), between=between, **kwargs)


def mixedlm_time_group(data: pd.DataFrame, dv: str, subject: str, time: str, group: str,
                       times: Sequence[str] = ("pre", "post"), groups: Sequence[str] = ("MBPM", "WL"),
                       log: bool = False) -> pd.DataFrame:
    """Linear mixed model of one outcome: fixed Time x Group cell means, random intercept per subject, REML
    (the model of R ``lme4::lmer(y ~ 0 + cell + (1 | subject))``, fitted by :func:`random_intercept_reml`).

    All available observations are used: a subject with one visit contributes to its cell mean and to the
    between-subject variance. Wald contrasts of the four cell means (a = ``groups[0]``, b = ``groups[1]``):

    * ``change_a``: post - pre in group a; ``change_b``: post - pre in group b
    * ``interaction``: change_a - change_b (the Time x Group effect)
    * ``group``: mean of a's two cells - mean of b's two cells

    Standard errors are the model-based GLS ones, (X' V^-1 X)^-1 at the REML estimates, as lme4's ``vcov``;
    p-values Wald z (normal reference), as statsmodels reports for MixedLM. Returns one row per contrast:
    ``contrast, estimate, se, z, pval, n_subjects, n_obs, log, var_subject, var_residual, converged``.
    """
    d = data[[subject, time, group, dv]].dropna()
    d = d[d[time].isin(times) & d[group].isin(groups)].sort_values([subject, time]).reset_index(drop=True)
    y = log_values(d[dv]) if log else d[dv].to_numpy(float)
    cells = [(g, t) for g in groups for t in times]  # a-pre, a-post, b-pre, b-post
    X = np.column_stack([((d[group] == g) & (d[time] == t)).to_numpy(float) for g, t in cells])
    fit = random_intercept_reml(np.asarray(y, float), X, d[subject].to_numpy())
    L = np.array([[-1, 1, 0, 0], [0, 0, -1, 1], [-1, 1, 1, -1], [0.5, 0.5, -0.5, -0.5]], float)
    est = L @ fit["beta"]
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, fit["cov_beta"], L))
    z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    return pd.DataFrame({"contrast": list(CONTRASTS), "estimate": est, "se": se, "z": z, "pval": p,
                         "n_subjects": d[subject].nunique(), "n_obs": len(d), "log": log,
                         "var_subject": fit["var_subject"], "var_residual": fit["var_residual"],
                         "converged": fit["converged"]})


def random_intercept_reml(y: np.ndarray, X: np.ndarray, subjects: np.ndarray) -> dict:
    """REML fit of ``y = X beta + u_subject + e`` with ``u ~ N(0, tau2)``, ``e ~ N(0, sigma2)``.

    Returns ``beta``, ``cov_beta`` (model-based (X' V^-1 X)^-1, Laird & Ware 1982, as lme4's ``vcov`` and SAS
    PROC MIXED), ``var_subject`` (tau2), ``var_residual`` (sigma2), ``reml_criterion`` (-2 restricted
    log-likelihood, lme4's ``REMLcrit``) and ``converged``.

    Hand-written because statsmodels' ``MixedLM`` (the library fit this replaces, and the tests' cross-check)
    loops over subjects in Python: ~50 s per fit at 10,000 patients, and it stops ~1e-5 short of lme4's optimum.
    With one random intercept, V_i = sigma2 (I + g J) has a closed-form inverse and determinant
    (Sherman-Morrison: H_i^-1 = I - g / (1 + n_i g) J, |H_i| = 1 + n_i g), so the REML criterion profiled over
    beta and sigma2 is a function of g = tau2 / sigma2 alone, computed from per-subject sums in O(N p^2) and
    minimised over theta = sqrt(g) (lme4's parameter) by bounded Brent (scipy). Checked against lme4 to 1e-6
    (tests/test_tables.py) and statsmodels (tests/test_robustness.py).
    """
    from scipy import optimize

    y = np.asarray(y, float)
    X = np.asarray(X, float)
    n_obs, p = X.shape
    codes, uniques = pd.factorize(subjects)
    n_i = np.bincount(codes, minlength=len(uniques)).astype(float)
    S = np.zeros((len(uniques), p))
    np.add.at(S, codes, X)  # per-subject column sums of X
    t = np.bincount(codes, weights=y, minlength=len(uniques))  # per-subject sums of y
    xtx, xty, yty = X.T @ X, X.T @ y, y @ y
    dof = n_obs - p

    def parts(theta: float):
        g = theta * theta
        c = g / (1.0 + n_i * g)
        A = xtx - (S * c[:, None]).T @ S
        b = xty - S.T @ (c * t)
        beta = np.linalg.solve(A, b)
        rss = yty - np.sum(c * t * t) - b @ beta
        return g, A, beta, rss

    def criterion(theta: float) -> float:
        g, A, _, rss = parts(theta)
        _, logdet = np.linalg.slogdet(A)
        return dof * np.log(rss / dof) + np.sum(np.log1p(n_i * g)) + logdet

    # scale of theta: sd of subject means over the residual sd lies far below 1e3 in any real data
    res = optimize.minimize_scalar(criterion, bounds=(0.0, 1e3), method="bounded",
                                   options={"xatol": 1e-10, "maxiter": 500})
    theta = float(res.x)
    if criterion(0.0) <= res.fun + 1e-10:  # the boundary (no between-subject variance: lme4's singular fit)
        theta = 0.0
    g, A, beta, rss = parts(theta)
    sigma2 = rss / dof
    crit = criterion(theta) + dof * (1.0 + np.log(2 * np.pi))
    return {"beta": beta, "cov_beta": sigma2 * np.linalg.inv(A), "var_subject": g * sigma2,
            "var_residual": sigma2, "reml_criterion": float(crit), "converged": bool(res.success)}


def mixedlm_per_analyte(data: pd.DataFrame, analytes: Sequence[str], dv: str = "value",
                        subject: str = "record_id", time: str = "visit", group: str = "arm",
                        measure: str = "analyte", log: bool = True, **kwargs) -> pd.DataFrame:
    """:func:`mixedlm_time_group` for each analyte of long ``data`` (column ``measure``), with Benjamini-Hochberg
    q-values across analytes computed separately for each contrast (``qval``)."""
    rows = []
    for a in analytes:
        r = mixedlm_time_group(data[data[measure] == a], dv, subject, time, group, log=log, **kwargs)
        r.insert(0, "analyte", a)
        rows.append(r)
    out = pd.concat(rows, ignore_index=True)
    out["qval"] = out.groupby("contrast", sort=False)["pval"].transform(lambda p: adjust_pvalues(p, "fdr_bh"))
    return out


def change_scores(data: pd.DataFrame, columns: Sequence[str], subject: str = "record_id", time: str = "visit",
                  pre: str = "pre", post: str = "post") -> pd.DataFrame:
    """Wide frame of ``post - pre`` per subject for ``columns`` of a long-by-visit frame (one row per subject x
    visit); columns named ``<col>_change``; a subject missing either visit gets NaN."""
    w = data.pivot_table(index=subject, columns=time, values=list(columns), aggfunc="first")
    out = pd.DataFrame({f"{c}_change": w[(c, post)] - w[(c, pre)] for c in columns
                        if (c, post) in w and (c, pre) in w})
    return out.reset_index()


def change_correlations(data: pd.DataFrame, x: str, ys: Sequence[str],
                        methods: Sequence[str] = ("pearson", "spearman"),
                        confidence: float = 0.95) -> pd.DataFrame:
    """Correlations of ``x`` with each of ``ys`` (pairwise complete cases) by ``pingouin.corr``; the CI is
    pingouin's Fisher-z interval (``compute_esci``, SE = 1 / sqrt(n - 3); for Spearman the same approximation),
    recomputed at full precision. Returns one row per y x method: ``x, y, method, n, r, ci_low, ci_high, pval``."""
    rows = []
    for y in ys:
        sub = data[[x, y]].dropna()
        for m in methods:
            c = pg.corr(sub[x], sub[y], method=m)
            r = float(c["r"].iloc[0])
            n = int(c["n"].iloc[0])
            pcol = "p_val" if "p_val" in c else "p-val"
            lo, hi = pg.compute_esci(stat=r, nx=n, ny=n, eftype="r", confidence=confidence, decimals=15)
            rows.append({"x": x, "y": y, "method": m, "n": n, "r": r, "ci_low": float(lo), "ci_high": float(hi),
                         "pval": float(c[pcol].iloc[0])})
    return pd.DataFrame(rows)


def _verdict(p: float, alpha: float, direction_ok: bool = True) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    ok = p < alpha and direction_ok
    return f"{'yes' if ok else 'no'} (p {'< 0.001' if p < 0.001 else f'= {p:.3f}'})"


def survival_table(findings: Sequence[dict], alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Does each headline finding survive each check?

    ``findings``: one dict per finding with ``finding`` (text) and ``checks``: a dict check name -> ``(p,
    direction_ok)`` or ``None`` (check not applicable). A check is passed when ``p < alpha`` and the effect has
    the paper's direction. Returns ``(display, long)``: display has one row per finding and one column per check
    ("yes (p = ...)" / "no (p = ...)" / "n/a"); long has ``finding, check, pval, direction_ok, survives``.
    """
    checks = list(dict.fromkeys(c for f in findings for c in f["checks"]))
    disp, long = [], []
    for f in findings:
        row = {"Finding": f["finding"]}
        for c in checks:
            v = f["checks"].get(c)
            if v is None:
                row[c] = "n/a"
                long.append({"finding": f["finding"], "check": c, "pval": np.nan, "direction_ok": None,
                             "survives": None})
                continue
            p, direction = v
            row[c] = _verdict(p, alpha, direction)
            long.append({"finding": f["finding"], "check": c, "pval": float(p), "direction_ok": bool(direction),
                         "survives": bool(np.isfinite(p) and p < alpha and direction)})
        disp.append(row)
    return pd.DataFrame(disp), pd.DataFrame(long)
