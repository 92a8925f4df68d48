"""Robustness checks beside the paper's method, and the change-change associations.

* :func:`log_values` and :func:`log_rm_anova`: the trial's Time x Biomarker x Group mixed ANOVA on log-transformed
  concentrations (the analytes span < 1 to thousands of pg/mL, so the raw-scale Biomarker effect is large by
  construction), through :func:`helpers.stats.mixed_anova`.
* :func:`mixedlm_time_group` / :func:`mixedlm_per_analyte`: per-analyte linear mixed model (random intercept
  per patient, REML, :func:`random_intercept_reml`; lme4's model) on **all available observations** (patients with one visit
  contribute), Time x Group cell means with Wald contrasts, Benjamini-Hochberg FDR across analytes.
* :func:`survival_table`: for each headline finding of the paper, whether it survives each check.
* :func:`change_correlations`: Pearson and Spearman correlations of change scores with 95% CIs (pingouin).

Degenerate input never yields a silent number (what R does for each case is recorded by
``tests/reference/robustness_degenerate.R``): a log of a value <= 0 or infinite raises; the mixed model raises
:class:`~helpers.validation.DataValidationError` for an empty Time x Group cell, one observation per subject, a
response fitted exactly by the cells (e.g. constant) and no within-subject variation beyond the cells (lme4 stops
or fails to converge); a correlation with fewer than 3 pairs or an essentially constant variable is NaN with a
``RuntimeWarning`` (R's ``cor.test`` stops or returns NA), and its Fisher-z interval is NaN for n <= 3 (R gives
none).

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

from helpers.formatting import p_value
from helpers.stats.group_tests import adjust_pvalues
from helpers.stats.rmanova import mixed_anova
from helpers.validation import DataValidationError

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
    """Natural (``base="e"``) or base-10 logarithm of positive concentrations; NaN (missing) stays NaN.

    After the detection-limit rule every concentration is positive, so no offset is added (an offset would be an
    arbitrary choice that changes the result). A value <= 0 or infinite raises ``ValueError`` naming the
    positions (index labels for a Series) and values: R's ``log`` would return -Inf or NaN (with a warning for
    negatives) and the analysis would carry them on."""
    if base not in ("e", "10"):
        raise ValueError(f"log_values: base must be 'e' or '10', got {base!r}")
    x = np.asarray(values, float)
    bad = np.flatnonzero(~np.isnan(x) & ~(np.isfinite(x) & (x > 0)))
    if bad.size:
        labels = values.index[bad] if isinstance(values, pd.Series) else bad
        shown = ", ".join(f"{lab}: {float(x[i])}" for lab, i in zip(labels[:10], bad[:10], strict=True))
        name = f" of {values.name!r}" if isinstance(values, pd.Series) and values.name is not None else ""
        raise ValueError(f"log transform needs positive finite values; {bad.size} value(s){name} are <= 0 or "
                         f"infinite (position: value) {shown}{' ...' if bad.size > 10 else ''}")
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

    Raises :class:`~helpers.validation.DataValidationError` naming ``dv`` when a Time x Group cell has no
    observation (lme4 would drop the cell's column; every contrast here needs all four cells) or when
    :func:`random_intercept_reml` finds the model undefined (one observation per subject, a response fitted
    exactly by the cells, no within-subject variation beyond them).
    """
    d = data[[subject, time, group, dv]].dropna()
    d = d[d[time].isin(times) & d[group].isin(groups)].sort_values([subject, time])
    y = log_values(d[dv]) if log else d[dv].to_numpy(float)  # a bad value is named by its row label in data
    d = d.reset_index(drop=True)
    cells = [(g, t) for g in groups for t in times]  # a-pre, a-post, b-pre, b-post
    X = np.column_stack([((d[group] == g) & (d[time] == t)).to_numpy(float) for g, t in cells])
    empty = [f"{group}={g}, {time}={t}" for (g, t), n in zip(cells, X.sum(axis=0), strict=True) if n == 0]
    if empty:
        raise DataValidationError(
            f"mixedlm_time_group({dv!r}): no observation (non-missing {dv!r}) in cell(s) {empty}; the Time x Group "
            f"contrasts need all four cells ({len(d)} observations in the others)"
        )
    try:
        fit = random_intercept_reml(np.asarray(y, float), X, d[subject].to_numpy())
    except ValueError as e:
        raise DataValidationError(f"mixedlm_time_group({dv!r}{', log' if log else ''}): {e}") from e
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

    The model must be identifiable; otherwise ``ValueError`` says why (R's behaviour recorded by
    ``tests/reference/robustness_degenerate.R``):

    * missing or infinite values in y or X, or X of rank < p (e.g. an all-zero cell column; lme4 drops it);
    * as many subjects as observations (lme4: "number of levels of each grouping factor must be < number of
      observations"): subject and residual variance cannot be told apart;
    * y fitted exactly by X (e.g. constant): residual variance 0 (lme4 stops: "missing value where TRUE/FALSE
      needed");
    * no within-subject variation beyond X (every subject's values differ only by the fixed effects): the
      residual variance tends to 0 and the restricted likelihood is unbounded (lme4 warns that it failed to
      converge and reports a residual variance ~1e-16).

    "Exactly" and "no variation" mean a residual norm <= max(n, p) x machine epsilon x ||y|| (numpy's
    ``matrix_rank`` tolerance, measured against the data). If the optimum sits at the upper bound of theta
    (subject variance > 1e6 x residual variance), ``converged`` is False and a ``RuntimeWarning`` is issued.
    """
    from scipy import optimize

    y = np.asarray(y, float)
    X = np.asarray(X, float)
    if X.ndim != 2 or y.shape != (X.shape[0],) or len(subjects) != len(y):
        raise ValueError(f"random_intercept_reml: y {y.shape}, X {X.shape} and subjects ({len(subjects)}) must "
                         "have one row per observation")
    n_obs, p = X.shape
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise ValueError("random_intercept_reml: y and X must be finite (drop missing observations first)")
    if pd.isna(pd.Series(subjects)).any():
        raise ValueError("random_intercept_reml: a subject id is missing")
    rank_x = np.linalg.matrix_rank(X)
    if rank_x < p:
        zero = np.flatnonzero(~X.any(axis=0)).tolist()
        raise ValueError(f"fixed-effect design has rank {rank_x} < {p} columns"
                         + (f" (column(s) {zero} all zero: no observation there)" if zero else ""))
    codes, uniques = pd.factorize(subjects)
    if len(uniques) >= n_obs:
        raise ValueError(f"{len(uniques)} subjects for {n_obs} observations: the subject and residual variances "
                         "cannot be separated (lme4: number of levels of each grouping factor must be < number of "
                         "observations)")
    tol = max(n_obs, p) * np.finfo(float).eps * float(np.linalg.norm(y))
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    if np.linalg.norm(y - X @ beta_ols) <= tol:
        raise ValueError("the response is fitted exactly by the fixed effects (e.g. constant): residual variance "
                         "0, REML undefined (lme4 stops)")
    n_i = np.bincount(codes, minlength=len(uniques)).astype(float)
    yw = y - (np.bincount(codes, weights=y) / n_i)[codes]
    Xw = X - (np.stack([np.bincount(codes, weights=X[:, j]) for j in range(p)], axis=1) / n_i[:, None])[codes]
    rw = yw - Xw @ np.linalg.lstsq(Xw, yw, rcond=None)[0]
    if np.linalg.norm(rw) <= tol:
        raise ValueError("no within-subject variation beyond the fixed effects (each subject's values differ only "
                         "by the cell means): residual variance 0, REML criterion unbounded (lme4 fails to "
                         "converge)")
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
    theta_max = 1e3
    res = optimize.minimize_scalar(criterion, bounds=(0.0, theta_max), method="bounded",
                                   options={"xatol": 1e-10, "maxiter": 500})
    theta = float(res.x)
    at_bound = theta >= theta_max * (1 - 1e-6)
    if at_bound:
        warnings.warn(f"random_intercept_reml: the optimum is at the bound theta = {theta_max:g} (subject variance "
                      f"> {theta_max ** 2:g} x residual variance); converged = False", RuntimeWarning, stacklevel=2)
    if criterion(0.0) <= res.fun + 1e-10:  # the boundary (no between-subject variance: lme4's singular fit)
        theta = 0.0
    g, A, beta, rss = parts(theta)
    sigma2 = rss / dof
    crit = criterion(theta) + dof * (1.0 + np.log(2 * np.pi))
    return {"beta": beta, "cov_beta": sigma2 * np.linalg.inv(A), "var_subject": g * sigma2,
            "var_residual": sigma2, "reml_criterion": float(crit), "converged": bool(res.success and not at_bound)}


def mixedlm_per_analyte(data: pd.DataFrame, analytes: Sequence[str], dv: str = "value",
                        subject: str = "record_id", time: str = "visit", group: str = "arm",
                        measure: str = "analyte", log: bool = True, **kwargs) -> pd.DataFrame:
    """:func:`mixedlm_time_group` for each analyte of long ``data`` (column ``measure``), with Benjamini-Hochberg
    q-values across analytes computed separately for each contrast (``qval``). An analyte whose model is
    undefined (see :func:`mixedlm_time_group`) raises ``DataValidationError`` naming the analyte."""
    rows = []
    for a in analytes:
        try:
            r = mixedlm_time_group(data[data[measure] == a], dv, subject, time, group, log=log, **kwargs)
        except DataValidationError as e:
            raise DataValidationError(f"mixedlm_per_analyte, {measure} {a!r}: {e}") from e
        r.insert(0, "analyte", a)
        rows.append(r)
    out = pd.concat(rows, ignore_index=True)
    out["qval"] = out.groupby("contrast", sort=False)["pval"].transform(lambda p: adjust_pvalues(p, "fdr_bh"))
    return out


def change_scores(data: pd.DataFrame, columns: Sequence[str], subject: str = "record_id", time: str = "visit",
                  pre: str = "pre", post: str = "post") -> pd.DataFrame:
    """Wide frame of ``post - pre`` per subject for ``columns`` of a long-by-visit frame (one row per subject x
    visit); columns named ``<col>_change``; a subject missing either visit (or its value) gets NaN.

    Raises :class:`~helpers.validation.DataValidationError` when a column is absent, when a subject has more than
    one row at a visit (which to use would be a silent choice), or when a column has no value at all at ``pre``
    or ``post`` (its change column would otherwise vanish)."""
    absent = [c for c in [subject, time, *columns] if c not in data.columns]
    if absent:
        raise DataValidationError(f"change_scores: column(s) {absent} not in the data (columns: "
                                  f"{list(data.columns)})")
    d = data[data[time].isin([pre, post])]
    dup = d.groupby([subject, time], observed=True).size()
    dup = dup[dup > 1]
    if len(dup):
        shown = "; ".join(f"{subject} {s!r} at {time} {v!r}: {n} rows" for (s, v), n in dup.head(10).items())
        raise DataValidationError(f"change_scores: {len(dup)} subject x visit(s) have more than one row: {shown}")
    w = d.pivot(index=subject, columns=time, values=list(columns))
    empty = [f"{c} at {v!r}" for c in columns for v in (pre, post) if (c, v) not in w or w[(c, v)].isna().all()]
    if empty:
        raise DataValidationError(f"change_scores: no value for {'; '.join(empty)}; a change cannot be computed")
    out = pd.DataFrame({f"{c}_change": w[(c, post)] - w[(c, pre)] for c in columns})
    return out.reset_index()


def change_correlations(data: pd.DataFrame, x: str, ys: Sequence[str],
                        methods: Sequence[str] = ("pearson", "spearman"),
                        confidence: float = 0.95) -> pd.DataFrame:
    """Correlations of ``x`` with each of ``ys`` (pairwise complete cases) by ``pingouin.corr``; the CI is
    pingouin's Fisher-z interval (``compute_esci``, SE = 1 / sqrt(n - 3); for Spearman the same approximation),
    recomputed at full precision. Returns one row per y x method: ``x, y, method, n, r, ci_low, ci_high, pval``.

    Degenerate pairs give NaN with a ``RuntimeWarning`` naming x, y and the reason, never a number:

    * fewer than 3 complete pairs: r, CI and p NaN (R's ``cor.test`` stops, "not enough finite observations";
      for Spearman R returns rho = +-1 with p NaN, which says nothing);
    * x or y essentially constant, by R's ``t.test`` rule (standard deviation < 10 x machine epsilon x |mean|,
      so a change of 0.1 built from rounded differences counts as constant): r, CI and p NaN (R: NA with "the
      standard deviation is zero" when exactly constant; a rounding residue gives a spurious r in R);
    * exactly 3 pairs: r and p as R, the CI NaN (SE = 1 / sqrt(n - 3) undefined; R gives no interval for
      n <= 3).

    |r| = 1 gives the interval (r, r) and p = 0, as R (t = Inf)."""
    rows = []
    for y in ys:
        sub = data[[x, y]].dropna()
        n = len(sub)
        why = ""
        if n < 3:
            why = f"only {n} complete pair(s), fewer than 3"
        else:
            flat = [v for v in (x, y) if _essentially_constant(sub[v].to_numpy(float))]
            if flat:
                why = f"{' and '.join(repr(v) for v in flat)} essentially constant over the {n} pairs"
        for m in methods:
            if why:
                warnings.warn(f"{m} correlation of {x!r} with {y!r} not computed ({why}): NaN", RuntimeWarning,
                              stacklevel=2)
                rows.append({"x": x, "y": y, "method": m, "n": n, "r": np.nan, "ci_low": np.nan,
                             "ci_high": np.nan, "pval": np.nan})
                continue
            with warnings.catch_warnings():
                # pingouin's own CI and power at n <= 4 (unused here; the CI is recomputed below)
                warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
                warnings.filterwarnings("ignore", "Sample size is too small to estimate power", UserWarning)
                c = pg.corr(sub[x], sub[y], method=m)
            r = float(c["r"].iloc[0])
            pcol = "p_val" if "p_val" in c else "p-val"
            if n > 3:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # arctanh(+-1) = inf gives the CI (r, r)
                    lo, hi = pg.compute_esci(stat=r, nx=n, ny=n, eftype="r", confidence=confidence, decimals=15)
            else:
                warnings.warn(f"{m} correlation of {x!r} with {y!r}: 3 pairs, no Fisher-z interval (NaN)",
                              RuntimeWarning, stacklevel=2)
                lo = hi = np.nan
            rows.append({"x": x, "y": y, "method": m, "n": n, "r": r, "ci_low": float(lo), "ci_high": float(hi),
                         "pval": float(c[pcol].iloc[0])})
    return pd.DataFrame(rows)


def _essentially_constant(v: np.ndarray) -> bool:
    """R's ``t.test`` rule for "data are essentially constant": standard error < 10 x machine epsilon x |mean|
    (an sd of exactly 0 included)."""
    se = np.std(v, ddof=1) / np.sqrt(len(v))
    return bool(se == 0 or se < 10 * np.finfo(float).eps * abs(np.mean(v)))


def _verdict(p: float, alpha: float, direction_ok: bool = True) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    ok = p < alpha and direction_ok
    return f"{'yes' if ok else 'no'} (p {p_value(p, relation=True)})"


def survival_table(findings: Sequence[dict], alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Does each headline finding survive each check?

    ``findings``: one dict per finding with ``finding`` (text) and ``checks``: a dict check name -> ``(p,
    direction_ok)`` or ``None`` (check not applicable). A check is passed when ``p < alpha`` and the effect has
    the paper's direction. Returns ``(display, long)``: display has one row per finding and one column per check
    ("yes (p = ...)" / "no (p = ...)" / "n/a"); long has ``finding, check, pval, direction_ok, survives``.

    A check whose p is NaN (the test could not be computed) reads "n/a" with ``survives`` None, not "no"; a p
    outside [0, 1] raises ``ValueError`` naming the finding and the check.
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
            p = np.nan if p is None else float(p)
            if not (np.isnan(p) or 0.0 <= p <= 1.0):
                raise ValueError(f"survival_table: p = {p!r} for finding {f['finding']!r}, check {c!r} is not a "
                                 "probability")
            row[c] = _verdict(p, alpha, direction)
            long.append({"finding": f["finding"], "check": c, "pval": p, "direction_ok": bool(direction),
                         "survives": None if np.isnan(p) else bool(p < alpha and direction)})
        disp.append(row)
    return pd.DataFrame(disp), pd.DataFrame(long)
