"""Robustness checks beside the paper's method, and the change-change associations.

* :func:`log_values` and :func:`log_rm_anova`: the trial's Time x Biomarker x Group mixed ANOVA on log-transformed
  concentrations (the analytes span < 1 to thousands of pg/mL, so the raw-scale Biomarker effect is large by
  construction), through :func:`helpers.stats.mixed_anova`.
* :func:`mixedlm_time_group` / :func:`mixedlm_per_analyte`: per-analyte linear mixed model (statsmodels
  ``MixedLM``, random intercept per patient, REML) on **all available observations** (patients with one visit
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

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

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
    (statsmodels ``MixedLM``; the model of R ``lme4::lmer(y ~ 0 + cell + (1 | subject))``).

    All available observations are used: a subject with one visit contributes to its cell mean and to the
    between-subject variance. Wald contrasts of the four cell means (a = ``groups[0]``, b = ``groups[1]``):

    * ``change_a``: post - pre in group a; ``change_b``: post - pre in group b
    * ``interaction``: change_a - change_b (the Time x Group effect)
    * ``group``: mean of a's two cells - mean of b's two cells

    Standard errors are the model-based GLS ones (:func:`_gls_cov`), p-values Wald z (normal reference), as
    statsmodels reports for MixedLM. Returns one row per contrast: ``contrast, estimate, se, z, pval,
    n_subjects, n_obs, log, var_subject, var_residual, converged``.
    """
    d = data[[subject, time, group, dv]].dropna()
    d = d[d[time].isin(times) & d[group].isin(groups)].sort_values([subject, time]).reset_index(drop=True)
    y = log_values(d[dv]) if log else d[dv].to_numpy(float)
    cells = [(g, t) for g in groups for t in times]  # a-pre, a-post, b-pre, b-post
    X = np.column_stack([((d[group] == g) & (d[time] == t)).to_numpy(float) for g, t in cells])
    model = MixedLM(y, X, groups=d[subject].to_numpy(), exog_re=np.ones((len(d), 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit is checked against lme4 in the tests
        # statsmodels' default stops ~1e-5 short of lme4's optimum; BFGS with a tight gradient tolerance gets
        # within ~1e-8 but may flag "not converged" (precision loss at that tolerance): keep the fit with the
        # higher restricted log-likelihood
        fits = [model.fit(reml=True, method=["lbfgs", "powell"]), model.fit(reml=True, method="bfgs", gtol=1e-12)]
        fit = max((f for f in fits if np.isfinite(f.llf)), key=lambda f: f.llf)
        converged = bool(fit.converged or (fits[0].converged and fit.llf >= fits[0].llf))
    L = np.array([[-1, 1, 0, 0], [0, 0, -1, 1], [-1, 1, 1, -1], [0.5, 0.5, -0.5, -0.5]], float)
    beta = np.asarray(fit.fe_params, float)
    sigma2, tau2 = float(fit.scale), float(np.asarray(fit.cov_re)[0, 0])
    cov = _gls_cov(X, d[subject].to_numpy(), sigma2, tau2)
    est = L @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, cov, L))
    z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    return pd.DataFrame({"contrast": list(CONTRASTS), "estimate": est, "se": se, "z": z, "pval": p,
                         "n_subjects": d[subject].nunique(), "n_obs": len(d), "log": log,
                         "var_subject": tau2, "var_residual": sigma2, "converged": converged})


def _gls_cov(X: np.ndarray, subjects: np.ndarray, sigma2: float, tau2: float) -> np.ndarray:
    """Model-based covariance of the fixed effects, (X' V^-1 X)^-1 with V_i = sigma2 I + tau2 J at the REML
    estimates (Laird & Ware 1982), as R lme4's ``vcov`` and SAS PROC MIXED report it.

    Hand-written because statsmodels' ``cov_params()`` inverts the observed Hessian of all parameters jointly
    (fixed effects and variance components), which differs from lme4's in unbalanced data (~1e-4 here)."""
    xtvx = np.zeros((X.shape[1], X.shape[1]))
    for s in pd.unique(subjects):
        xi = X[subjects == s]
        ni = len(xi)
        v = sigma2 * np.eye(ni) + tau2 * np.ones((ni, ni))
        xtvx += xi.T @ np.linalg.solve(v, xi)
    return np.linalg.inv(xtvx)


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
