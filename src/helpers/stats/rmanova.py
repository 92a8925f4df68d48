"""Mixed (split-plot) repeated-measures ANOVA: several within factors, between factor(s), type III.

No Python library offers this design with both the multivariate and the sphericity-corrected univariate tests:
pingouin's ``mixed_anova`` takes one within and one between factor and no multivariate tests; statsmodels'
``AnovaRM`` has no between factor and ``_MultivariateOLS`` uses McKeon's approximation for Hotelling-Lawley (SAS),
not Pillai's (R, SPSS). The computations below are therefore written by hand on numpy/scipy linear algebra,
following the multivariate (profile-analysis) formulation of O'Brien & Kaiser (1985) and Maxwell & Delaney (2004,
ch. 12-14), as R's ``car::Anova.mlm`` implements it (Fox & Weisberg 2019). They are checked against R output stored
in ``tests/reference/`` (script ``tests/reference/rmanova.R``).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from helpers.validation import DataValidationError

__all__ = ["MixedAnovaResult", "mixed_anova", "time_group_anova", "CONVENTIONS"]

# shown under the ANOVA tables: symbols as Markdown sub/superscripts (d~z~, Λ^1/s^), real ones in every format
CONVENTIONS = {
    "spss": (
        "Type III sums of squares (sum-to-zero contrasts). Conventions as IBM SPSS Statistics GLM: Huynh-Feldt "
        "epsilon by the original formula of Huynh & Feldt (1976) with N subjects, capped at 1; Mauchly's p from "
        "the plain chi-square approximation. Partial eta squared (η²~p~): SS~effect~ / (SS~effect~ + "
        "SS~error~) (univariate); V/s (Pillai), 1 − Λ^1/s^ (Wilks), (T/s)/(T/s + 1) (Hotelling-Lawley), "
        "θ/(1 + θ) (Roy) for the multivariate tests, s = min(effect df, hypothesis df)."
    ),
    "car": (
        "Type III sums of squares (sum-to-zero contrasts). Conventions as R car::Anova (summary.Anova.mlm) and "
        "afex: Huynh-Feldt epsilon with Lecoutre's (1991) correction (N - g + 1 in place of N), reported "
        "uncapped and capped at 1 for the corrected p; Mauchly's p with the second-order (w~2~) term. Partial eta "
        "squared (η²~p~): SS~effect~ / (SS~effect~ + SS~error~) (univariate); V/s (Pillai), 1 − Λ^1/s^ (Wilks), "
        "(T/s)/(T/s + 1) (Hotelling-Lawley), θ/(1 + θ) (Roy) for the multivariate tests."
    ),
}

_MV_TESTS = ("Pillai", "Wilks", "Hotelling-Lawley", "Roy")


@dataclass
class MixedAnovaResult:
    """Result of :func:`mixed_anova`: tidy tables plus the design and the convention used.

    Attributes
    ----------
    univariate : DataFrame
        One row per effect (``(Intercept)``, between effects, within effects and their interactions with the
        between factors), in the order of R's ``car::Anova``.
    multivariate : DataFrame
        One row per within effect (and interaction with the between factors) x test (Pillai, Wilks,
        Hotelling-Lawley, Roy).
    sphericity : DataFrame
        Mauchly's test and the epsilons, one row per within effect with more than 1 df.
    convention : str
        ``"spss"`` or ``"car"``.
    footnote : str
        Sentence naming the conventions, for a table footnote.
    n_subjects : int
        Subjects used (complete cases).
    n_per_group : DataFrame
        Subjects used per between-subject cell.
    n_dropped : int
        Subjects dropped for missing cells (``complete_cases=True`` only).
    dropped_subjects : list
        Their ids.
    cell_means : DataFrame
        Mean, SD and n of the dependent variable per between x within cell (subjects used).
    """

    univariate: pd.DataFrame
    multivariate: pd.DataFrame
    sphericity: pd.DataFrame
    convention: str
    footnote: str
    n_subjects: int
    n_per_group: pd.DataFrame
    n_dropped: int = 0
    dropped_subjects: list = field(default_factory=list)
    cell_means: pd.DataFrame | None = None
    dv: str = ""
    within: list = field(default_factory=list)
    between: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """The tables and design facts as a plain dict (tables stay DataFrames)."""
        return {
            "univariate": self.univariate,
            "multivariate": self.multivariate,
            "sphericity": self.sphericity,
            "convention": self.convention,
            "footnote": self.footnote,
            "n_subjects": self.n_subjects,
            "n_per_group": self.n_per_group,
            "n_dropped": self.n_dropped,
            "dropped_subjects": self.dropped_subjects,
        }

    def __repr__(self) -> str:  # pragma: no cover - display only
        parts = [
            f"MixedAnovaResult(dv={self.dv!r}, within={self.within}, between={self.between}, "
            f"N={self.n_subjects}, dropped={self.n_dropped}, convention={self.convention!r})",
            "Univariate:",
            self.univariate.to_string(),
            "Multivariate:",
            self.multivariate.to_string(),
            "Sphericity:",
            self.sphericity.to_string(),
        ]
        return "\n".join(parts)


# ----------------------------------------------------------------------------------------------------------------
# small building blocks


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _levels(s: pd.Series) -> list:
    """Levels in a stable order: categorical order (observed ones) or order of first appearance."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    return list(pd.unique(s.dropna()))


def _orth_contrasts(k: int) -> np.ndarray:
    """k x (k - 1) orthonormal basis of the contrasts among k levels (Helmert, normalised)."""
    c = np.zeros((k, k - 1))
    for j in range(1, k):
        c[:j, j - 1] = 1.0
        c[j, j - 1] = -j
        c[:, j - 1] /= np.sqrt(j * (j + 1))
    return c


def _sum_contrasts(k: int) -> np.ndarray:
    """R's contr.sum: k x (k - 1), last level coded -1."""
    return np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])


def _mv_stats(eig: np.ndarray, q: int, df_res: float) -> dict:
    """The four multivariate statistics and their F approximations, as R's stats:::Pillai/Wilks/HL/Roy.

    ``eig``: eigenvalues of E^-1 H (p of them), ``q``: hypothesis df, ``df_res``: error df.
    Pillai (1954) for Pillai and Hotelling-Lawley, Rao (1951) for Wilks, upper bound for Roy (as SPSS and R).
    """
    p = len(eig)
    s = min(p, q)
    m = 0.5 * (abs(p - q) - 1)
    n = 0.5 * (df_res - p - 1)
    out = {}
    v = float(np.sum(eig / (1 + eig)))
    t1, t2 = 2 * m + s + 1, 2 * n + s + 1
    out["Pillai"] = (v, (t2 / t1 * v) / (s - v), s * t1, s * t2, v / s)
    lam = float(np.prod(1 / (1 + eig)))
    r = df_res - 0.5 * (p - q + 1)
    u = (p * q - 2) / 4
    tt = p**2 + q**2 - 5
    tt = np.sqrt(((p * q) ** 2 - 4) / tt) if tt > 0 else 1.0
    df2 = r * tt - 2 * u
    out["Wilks"] = (lam, ((lam ** (-1 / tt) - 1) * df2) / p / q, p * q, df2, 1 - lam ** (1 / s))
    hl = float(np.sum(eig))
    t2h = 2 * (s * n + 1)
    out["Hotelling-Lawley"] = (hl, (t2h * hl) / s / s / t1, s * t1, t2h, (hl / s) / (hl / s + 1))
    roy = float(np.max(eig))
    r1 = max(p, q)
    r2 = df_res - r1 + q
    out["Roy"] = (roy, (r2 * roy) / r1, r1, r2, roy / (1 + roy))
    return out


def _mauchly(
    S: np.ndarray, df_err: float, n_cells: int, convention: str
) -> tuple[float, float, float, float]:
    """Mauchly's (1940) W, chi-square, df, p for error SSCP ``S`` in an orthonormal basis (d x d).

    chi2 = -(n - (2d^2 + d + 2) / (6d)) ln W, n = error df, df = d(d+1)/2 - 1. SPSS: p = P(chi2_df > chi2).
    car: p + w2 (P(chi2_{df+4} > chi2) - p) (Anderson 1958, sec. 10.7), w2 exactly as car::summary.Anova.mlm
    writes it (its ``3 * p`` term uses the number of within cells, reproduced for exact agreement).
    """
    d = S.shape[0]
    sign, logdet = np.linalg.slogdet(S)
    if sign <= 0:
        return (np.nan,) * 4
    log_w = logdet - d * np.log(np.trace(S) / d)
    rho = 1 - (2 * d**2 + d + 2) / (6 * d * df_err)
    chi2 = -df_err * rho * log_w
    dfc = d * (d + 1) / 2 - 1
    p1 = stats.chi2.sf(chi2, dfc)
    if convention == "car":
        w2 = (
            (d + 2)
            * (d - 1)
            * (d - 2)
            * (2 * d**3 + 6 * d**2 + 3 * n_cells + 2)
            / (288 * (df_err * d * rho) ** 2)
        )
        p = p1 + w2 * (stats.chi2.sf(chi2, dfc + 4) - p1)
    else:
        p = p1
    return float(np.exp(log_w)), float(chi2), float(dfc), float(p)


# ----------------------------------------------------------------------------------------------------------------
# the test


def mixed_anova(
    data: pd.DataFrame,
    dv: str,
    subject: str,
    within,
    between=None,
    *,
    convention: str = "spss",
    complete_cases: bool = False,
) -> MixedAnovaResult:
    """Mixed repeated-measures ANOVA: any number of within factors, between factor(s), type III.

    Univariate tests (with Mauchly's test of sphericity and Greenhouse-Geisser and Huynh-Feldt corrections) and
    multivariate tests (Pillai, Wilks, Hotelling-Lawley, Roy) for every effect, as SPSS GLM Repeated Measures and
    R's ``car::Anova(mlm, idata, idesign, type = 3)`` / ``afex::aov_ez`` report them.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format: one row per subject x within cell.
    dv : str
        Column of the dependent variable (numeric).
    subject : str
        Column identifying subjects.
    within : str or list of str
        Within-subject factor column(s), each with at least 2 levels. Every subject must have exactly one row per
        combination of their levels.
    between : str, list of str or None
        Between-subject factor column(s), constant within subject. Several factors are crossed (full factorial,
        every combination must be observed). ``None`` for a purely within design.
    convention : {"spss", "car"}
        ``"spss"`` (default): Huynh-Feldt epsilon by Huynh & Feldt's (1976) original formula with N subjects,
        capped at 1; Mauchly's p from the plain chi-square approximation. ``"car"``: as R's car/afex,
        Lecoutre's (1991) correction of the Huynh-Feldt epsilon (reported uncapped; capped at 1 for the
        corrected test) and Mauchly's p with the second-order term. All other numbers are identical.
    complete_cases : bool
        ``False`` (default): a subject with a missing cell (no row, or NaN in ``dv``) raises
        :class:`~helpers.validation.DataValidationError` naming the subjects and cells. ``True``: such subjects
        are dropped (complete-case analysis) and reported in ``n_dropped`` / ``dropped_subjects``.

    Returns
    -------
    MixedAnovaResult
        ``univariate`` (DataFrame, one row per effect):

        * ``effect``: ``(Intercept)``, between effects, within effects, interactions (``group:time``), in R's
          order; ``kind``: ``between`` or ``within``;
        * ``ss``, ``df``, ``ms``, ``ss_error``, ``df_error``, ``ms_error``, ``f``, ``p``;
        * ``pes``: partial eta squared SS / (SS + SS_error); ``ges``: generalised eta squared (Olejnik & Algina
          2003; Bakeman 2005), all factors manipulated, as afex;
        * ``eps_gg``, ``df1_gg``, ``df2_gg``, ``p_gg``: Greenhouse-Geisser; ``eps_hf`` (as the convention
          reports it), ``df1_hf``, ``df2_hf``, ``p_hf`` (with min(1, eps_hf)); ``eps_lb``, ``p_lb``: lower bound
          1 / d. Within effects with 1 df have all epsilons 1; between effects NaN.

        ``multivariate`` (DataFrame): ``effect``, ``test`` (Pillai, Wilks, Hotelling-Lawley, Roy), ``value``,
        ``f``, ``df1``, ``df2``, ``p``, ``pes`` (SPSS's definitions, see Notes), for every effect with a within
        factor.

        ``sphericity`` (DataFrame): ``effect``, ``d`` (effect df), ``w``, ``chi2``, ``df``, ``p``, ``eps_gg``,
        ``eps_hf``, ``eps_lb`` per within effect with d > 1.

        Plus ``convention``, ``footnote``, ``n_subjects``, ``n_per_group``, ``n_dropped``, ``dropped_subjects``,
        ``cell_means``.

    Notes
    -----
    Let Y (N x c) hold each subject's c within cells, X (N x g) the between design (intercept + sum-to-zero
    contrasts, all interactions; g cells), B = (X'X)^-1 X'Y and R = Y - XB. For a within effect with orthonormal
    contrast matrix P (c x d; Kronecker products of normalised Helmert contrasts and normalised unit vectors,
    O'Brien & Kaiser 1985) and a between term with coefficient rows L (q of them):

    * hypothesis SSCP H = (L B P)' [L (X'X)^-1 L']^-1 (L B P), error SSCP E = P' R'R P (d x d);
    * univariate: SS = tr H, SS_error = tr E, df = q d and (N - g) d, F = (SS/df) / (SS_error/df_error);
      type III because L tests the sum-to-zero coefficients with all other terms in the model (unweighted
      means: unequal group sizes do not change the hypotheses);
    * Greenhouse-Geisser (1959, Box 1954): eps = (tr E)^2 / (d tr E^2);
      Huynh-Feldt (1976): eps = (N d eps_GG - 2) / (d (N - g - d eps_GG)); Lecoutre (1991) replaces N by
      N - g + 1; corrected tests use eps * df and eps * df_error;
    * Mauchly (1940): W = det E / (tr E / d)^d, chi2 = -(N - g - (2d^2 + d + 2) / (6d)) ln W on
      d(d + 1)/2 - 1 df;
    * multivariate tests from the eigenvalues l_i of E^-1 H, s = min(d, q): Pillai V = sum l/(1 + l), Wilks
      Lambda = prod 1/(1 + l), Hotelling-Lawley T = sum l, Roy theta = max l, with the F approximations of R's
      ``anova.mlm`` / SPSS (Rao 1951 for Wilks; Pillai 1954 for Pillai and Hotelling-Lawley; upper bound for
      Roy). Partial eta squared per test, as SPSS GLM and R's ``heplots::etasq`` (Friendly) define it:
      V/s, 1 - Lambda^(1/s), (T/s)/(T/s + 1), theta/(1 + theta). R's car/afex report none of these; the
      reference values are computed by hand in ``tests/reference/rmanova.R``. With s = 1 (e.g. two groups) all
      four tests are exact, equal, and their partial eta squared is F df1 / (F df1 + df2).

    Between effects are tested on the subject sums (P = unit vector / sqrt(c)), so their SS are on the scale of
    single observations, as SPSS and car report them.

    Degenerate input never yields a silent number. The numerical rank of each term's error SSCP is the number of
    singular values of its residual matrix R P (N x d) above ``tol = max(N, c) x machine epsilon x ||Y||_F``
    (numpy's ``matrix_rank`` rule, measured against the data because the residuals inherit the rounding error of
    Y; car's own rule, ``linearHypothesis.mlm``, counts eigenvalues of E >= sqrt(machine epsilon) in the data's
    units, so it is not scale-free):

    * rank 0 (no residual variation for the term, e.g. a constant dependent variable, or differences between
      within cells identical for every subject): the error SS is zero up to rounding, so F is 0/0 or x/0. F, p,
      partial eta squared and the corrected p's are NaN and a ``RuntimeWarning`` names the effect. (afex prints
      the ratio of rounding residues instead, e.g. F = 3.4e15 or F = 1, p = 0.37; car refuses the multivariate
      tests: "singular error SSP matrix".) Generalised eta squared is NaN when every error term is zero.
    * 0 < rank < d (also whenever N - g < d): the univariate F (which needs only tr E > 0) is reported; Mauchly's
      test, the epsilons, the corrected p's and the multivariate tests are NaN with a ``RuntimeWarning``, as car
      ("singular error SSP matrix; multivariate tests unavailable"; "non-sphericity test and corrections not
      available").
    * No error df (N - g < 1, e.g. a single subject, or one subject per group) raises
      :class:`~helpers.validation.DataValidationError`, as does a between level whose every subject was dropped
      for a missing cell (the design would silently lose a group). Two (or one) subjects per group, or a group
      with no variance while others vary, leave the pooled error defined: the numbers are computed and agree with
      car/afex (tests/reference/rmanova_degenerate.R).

    References
    ----------
    * O'Brien, R. G., & Kaiser, M. K. (1985). MANOVA method for analyzing repeated measures designs: an
      extensive primer. Psychological Bulletin, 97(2), 316-333.
    * Maxwell, S. E., & Delaney, H. D. (2004). Designing Experiments and Analyzing Data (2nd ed.), ch. 11-14.
    * Fox, J., & Weisberg, S. (2019). An R Companion to Applied Regression (3rd ed.); ``car::Anova.mlm``,
      ``car:::summary.Anova.mlm``.
    * Mauchly, J. W. (1940). Significance test for sphericity of a normal n-variate distribution. Annals of
      Mathematical Statistics, 11, 204-209.
    * Greenhouse, S. W., & Geisser, S. (1959). On methods in the analysis of profile data. Psychometrika, 24,
      95-112.
    * Huynh, H., & Feldt, L. S. (1976). Estimation of the Box correction for degrees of freedom from sample data
      in randomized block and split-plot designs. Journal of Educational Statistics, 1, 69-82.
    * Lecoutre, B. (1991). A correction for the epsilon approximate test in repeated measures designs with two or
      more independent groups. Journal of Educational Statistics, 16, 371-372.
    * Olejnik, S., & Algina, J. (2003). Generalized eta and omega squared statistics. Psychological Methods, 8,
      434-447.
    * IBM SPSS Statistics Algorithms, GLM (repeated measures; multivariate tests).
    * Friendly, M. heplots: ``etasq`` (multivariate partial eta squared for the four tests).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from helpers.stats import mixed_anova
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame([
    ...     {"id": i, "group": "A" if i < 5 else "B", "time": t, "analyte": a, "y": rng.normal()}
    ...     for i in range(11) for t in ("pre", "post") for a in ("x", "y", "z")])
    >>> res = mixed_anova(df, dv="y", subject="id", within=["time", "analyte"], between="group")
    >>> list(res.univariate["effect"])  # doctest: +NORMALIZE_WHITESPACE
    ['(Intercept)', 'group', 'time', 'group:time', 'analyte', 'group:analyte', 'time:analyte',
     'group:time:analyte']
    >>> sorted(res.multivariate["test"].unique())
    ['Hotelling-Lawley', 'Pillai', 'Roy', 'Wilks']
    >>> res.n_subjects
    11
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")
    within = _as_list(within)
    between = _as_list(between)
    if not within:
        raise ValueError("mixed_anova needs at least one within-subject factor")
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame in long format")
    cols = [subject, dv, *within, *between]
    missing_cols = [c for c in cols if c not in data.columns]
    if missing_cols:
        raise DataValidationError(
            f"mixed_anova: column(s) {missing_cols} not in the data (columns: {list(data.columns)})"
        )
    if len(set(cols)) != len(cols):
        raise ValueError(f"mixed_anova: subject, dv, within and between must be distinct columns, got {cols}")
    if not pd.api.types.is_numeric_dtype(data[dv]) or pd.api.types.is_bool_dtype(data[dv]):
        raise DataValidationError(
            f"mixed_anova: dependent variable {dv!r} must be numeric, dtype is {data[dv].dtype}"
        )

    df = data[cols]
    for c in [subject, *within, *between]:
        bad = df[c].isna()
        if bad.any():
            rows = (np.flatnonzero(bad.to_numpy())[:10]).tolist()
            raise DataValidationError(
                f"mixed_anova: column {c!r} has {int(bad.sum())} missing value(s) (data row positions {rows}); "
                "a subject or factor level cannot be missing"
            )

    # ---- codes: subjects, within cells -------------------------------------------------------------------------
    subj_codes, subj_ids = pd.factorize(df[subject], sort=True)
    n_all = len(subj_ids)
    w_levels = [_levels(df[w]) for w in within]
    for w, lv in zip(within, w_levels, strict=True):
        if len(lv) < 2:
            raise DataValidationError(f"mixed_anova: within factor {w!r} needs at least 2 levels, found {lv}")
    w_codes = [pd.Categorical(df[w], categories=lv).codes for w, lv in zip(within, w_levels, strict=True)]
    shape = tuple(len(lv) for lv in w_levels)
    n_cells = int(np.prod(shape))
    cell_codes = (
        np.ravel_multi_index(tuple(w_codes), shape) if len(within) > 1 else w_codes[0].astype(np.intp)
    )

    def cell_name(k: int) -> str:
        idx = np.unravel_index(k, shape)
        return ", ".join(f"{w}={lv[i]}" for w, lv, i in zip(within, w_levels, idx, strict=True))

    flat = subj_codes.astype(np.int64) * n_cells + cell_codes
    counts = np.bincount(flat, minlength=n_all * n_cells)
    dup = np.flatnonzero(counts > 1)
    if dup.size:
        shown = "; ".join(
            f"subject {subj_ids[k // n_cells]!r} at {cell_name(k % n_cells)} ({counts[k]} rows)"
            for k in dup[:10]
        )
        raise DataValidationError(
            f"mixed_anova: {dup.size} subject x within cell(s) have more than one row (unbalanced within cells; "
            f"aggregate replicates first): {shown}"
        )

    Y = np.full((n_all, n_cells), np.nan)
    Y.flat[flat] = df[dv].to_numpy(dtype=float)

    # ---- between factors: one value per subject ------------------------------------------------------------
    b_levels = [_levels(df[b]) for b in between]
    b_codes_subj = []
    for b, lv in zip(between, b_levels, strict=True):
        codes = pd.Categorical(df[b], categories=lv).codes.astype(np.int64)
        mn = np.full(n_all, np.iinfo(np.int64).max)
        mx = np.full(n_all, -1)
        np.minimum.at(mn, subj_codes, codes)
        np.maximum.at(mx, subj_codes, codes)
        bad = np.flatnonzero(mn != mx)
        if bad.size:
            raise DataValidationError(
                f"mixed_anova: between factor {b!r} is not constant within subject for "
                f"{bad.size} subject(s): {[subj_ids[i] for i in bad[:10]]}"
            )
        b_codes_subj.append(mx)

    # ---- missing cells ------------------------------------------------------------------------------------------
    miss = np.isnan(Y)
    incomplete = np.flatnonzero(miss.any(axis=1))
    dropped: list = []
    if incomplete.size:
        if not complete_cases:
            shown = "; ".join(
                f"subject {subj_ids[i]!r}: "
                + ", ".join(f"[{cell_name(k)}]" for k in np.flatnonzero(miss[i])[:4])
                + (" ..." if miss[i].sum() > 4 else "")
                for i in incomplete[:10]
            )
            raise DataValidationError(
                f"mixed_anova: {incomplete.size} of {n_all} subject(s) lack a value in some within cell (no row or "
                f"NaN in {dv!r}): {shown}{' ...' if incomplete.size > 10 else ''}. "
                "Pass complete_cases=True for a complete-case analysis (dropped subjects are reported)."
            )
        keep = ~miss.any(axis=1)
        dropped = [subj_ids[i] for i in incomplete]
        Y = Y[keep]
        b_codes_subj = [c[keep] for c in b_codes_subj]
    N = Y.shape[0]

    # ---- between design: intercept + contr.sum, full factorial -----------------------------------------------
    b_present = []
    for b, lv, c in zip(between, b_levels, b_codes_subj, strict=True):
        used = np.unique(c)
        if used.size < 2:
            raise DataValidationError(
                f"mixed_anova: between factor {b!r} has fewer than 2 levels among the {N} subjects used "
                f"(levels present: {[lv[i] for i in used]})"
            )
        lost = [lv[i] for i in np.setdiff1d(np.arange(len(lv)), used)]
        if lost:
            raise DataValidationError(
                f"mixed_anova: level(s) {lost} of between factor {b!r} have no complete subject left after dropping "
                f"{len(dropped)} incomplete subject(s) {dropped[:10]}; the design would lose the level"
            )
        # recode to the levels present among the subjects used
        remap = np.full(len(lv), -1)
        remap[used] = np.arange(used.size)
        b_present.append(([lv[i] for i in used], remap[c]))
    if between:
        gcode = np.ravel_multi_index(tuple(c for _, c in b_present), tuple(len(lv) for lv, _ in b_present))
        g_n = np.bincount(gcode, minlength=int(np.prod([len(lv) for lv, _ in b_present])))
        if (g_n == 0).any():
            b_shape = tuple(len(lv) for lv, _ in b_present)
            empty = [
                ", ".join(
                    f"{b}={lv[i]}"
                    for b, (lv, _), i in zip(between, b_present, np.unravel_index(k, b_shape), strict=True)
                )
                for k in np.flatnonzero(g_n == 0)
            ]
            raise DataValidationError(
                f"mixed_anova: between-subject cell(s) with no complete subject: {empty}"
            )
        n_groups = int(g_n.size)
    else:
        n_groups = 1
    df_res = N - n_groups
    if df_res < 1:
        raise DataValidationError(f"mixed_anova: {N} subjects in {n_groups} group(s) leave no error df")

    # between terms: subsets of between factors; columns of X
    X_cols = [np.ones((N, 1))]
    b_terms: list[tuple[str, slice]] = [("(Intercept)", slice(0, 1))]
    main_cols = [_sum_contrasts(len(lv))[c] for lv, c in b_present]
    start = 1
    for size in range(1, len(between) + 1):
        for combo in itertools.combinations(range(len(between)), size):
            block = main_cols[combo[0]]
            for j in combo[1:]:
                block = (block[:, :, None] * main_cols[j][:, None, :]).reshape(N, -1)
            X_cols.append(block)
            b_terms.append((":".join(between[j] for j in combo), slice(start, start + block.shape[1])))
            start += block.shape[1]
    X = np.hstack(X_cols)

    # ---- fit once: coefficients and residual SSCP over the c cells -------------------------------------------
    XtX_inv = linalg.inv(X.T @ X)
    Bhat = XtX_inv @ (X.T @ Y)
    Rsd = Y - X @ Bhat
    E_full = Rsd.T @ Rsd
    # numerical rank tolerance for each term's residual matrix Rsd @ P (see Notes): matrix_rank's rule, scaled by
    # the data because the residuals carry the rounding error of Y
    tol_rank = max(N, n_cells) * np.finfo(float).eps * float(np.linalg.norm(Y))

    # within terms: subsets of within factors (empty = between-only), orthonormal P
    con = [_orth_contrasts(k) for k in shape]
    ones = [np.full((k, 1), 1 / np.sqrt(k)) for k in shape]
    w_terms = []
    for size in range(0, len(within) + 1):
        for combo in itertools.combinations(range(len(within)), size):
            P = np.ones((1, 1))
            for j in range(len(within)):
                P = np.kron(P, con[j] if j in combo else ones[j])
            w_terms.append((":".join(within[j] for j in combo), P))

    uni_rows, mv_rows, sph_rows = [], [], []
    sse_by_within = {}
    for wname, P in w_terms:
        d = P.shape[1]
        E = P.T @ E_full @ P
        sse_raw = float(np.trace(E))
        rank = int(np.sum(np.linalg.svd(Rsd @ P, compute_uv=False) > tol_rank))
        zero_error = rank == 0
        singular = rank < d
        sse = 0.0 if zero_error else sse_raw  # zero up to rounding (the residue may even be negative)
        sse_by_within[wname] = sse
        if zero_error:
            label = wname or "the between-subject effects (subject means)"
            fitted = "within contrasts" if wname else "mean"
            warnings.warn(
                f"mixed_anova: no residual variation in {dv!r} for {label!r} (error SS {sse_raw:.3g}, zero up to "
                f"rounding: every subject's {fitted} fitted exactly by the groups); F is 0/0 or x/0: F, p and "
                "partial eta squared are NaN",
                RuntimeWarning,
                stacklevel=2,
            )
        elif singular and wname:
            why = (
                f"only {df_res} error df" if df_res < d else f"numerical rank {rank} (residuals constant along "
                f"{d - rank} contrast(s))"
            )
            warnings.warn(
                f"mixed_anova: {wname!r} has {d} df but {why}; the error SSCP matrix is singular: Mauchly's test, "
                "epsilons, corrected p's and multivariate tests are not available (NaN)",
                RuntimeWarning,
                stacklevel=2,
            )
        eps_gg = eps_hf_rep = eps_hf = np.nan
        if wname:
            if d > 1 and singular:
                # error SSCP singular: as car, no sphericity test, no epsilons
                sph_rows.append({"effect": wname, "d": d, "eps_lb": 1 / d})
            elif d > 1:
                eps_gg = float(np.trace(E) ** 2 / (d * np.trace(E @ E)))
                if convention == "car":
                    eps_hf_rep = ((df_res + 1) * d * eps_gg - 2) / (d * (df_res - d * eps_gg))
                else:
                    eps_hf_rep = min(1.0, (N * d * eps_gg - 2) / (d * (N - n_groups - d * eps_gg)))
                eps_hf = min(1.0, eps_hf_rep)
                w, chi2, dfc, p_m = _mauchly(E, df_res, n_cells, convention)
                sph_rows.append(
                    {
                        "effect": wname,
                        "d": d,
                        "w": w,
                        "chi2": chi2,
                        "df": dfc,
                        "p": p_m,
                        "eps_gg": eps_gg,
                        "eps_hf": eps_hf_rep,
                        "eps_lb": 1 / d,
                    }
                )
            else:
                eps_gg = eps_hf_rep = eps_hf = 1.0
        BP = Bhat @ P
        for bname, sl in b_terms:
            LB = BP[sl]
            H = LB.T @ linalg.solve(XtX_inv[sl, sl], LB, assume_a="pos")
            q = LB.shape[0]
            ss = float(np.trace(H))
            if wname and bname != "(Intercept)":
                effect = f"{bname}:{wname}"
            elif wname:
                effect = wname
            else:
                effect = bname
            df1, df2 = q * d, df_res * d
            f = np.nan if zero_error else (ss / df1) / (sse / df2)
            row = {
                "effect": effect,
                "kind": "within" if wname else "between",
                "ss": ss,
                "df": float(df1),
                "ms": ss / df1,
                "ss_error": sse,
                "df_error": float(df2),
                "ms_error": sse / df2,
                "f": f,
                "p": np.nan if zero_error else float(stats.f.sf(f, df1, df2)),
                "pes": np.nan if zero_error else ss / (ss + sse),
                "_zero_error": zero_error,
            }
            for tag, eps in (("gg", eps_gg), ("hf", eps_hf), ("lb", 1 / d if wname else np.nan)):
                row[f"eps_{tag}"] = eps_hf_rep if tag == "hf" else eps
                row[f"df1_{tag}"] = eps * df1
                row[f"df2_{tag}"] = eps * df2
                row[f"p_{tag}"] = (
                    float(stats.f.sf(f, eps * df1, eps * df2)) if np.isfinite(eps) and np.isfinite(f) else np.nan
                )
            uni_rows.append(row)
            if wname:
                if not singular:
                    eig = linalg.eigh(H, E, eigvals_only=True)
                    eig = np.clip(eig, 0.0, None)
                    res = _mv_stats(eig, q, df_res)
                else:
                    res = dict.fromkeys(_MV_TESTS, (np.nan,) * 5)
                for test in _MV_TESTS:
                    val, fv, d1, d2, pes = res[test]
                    mv_rows.append(
                        {
                            "effect": effect,
                            "test": test,
                            "value": val,
                            "f": fv,
                            "df1": float(d1),
                            "df2": float(d2),
                            "p": float(stats.f.sf(fv, d1, d2)) if np.isfinite(fv) else np.nan,
                            "pes": pes,
                        }
                    )

    # generalised eta squared, all factors manipulated (afex's default): SS / (SS + sum of all error SS)
    sse_total = sum(sse_by_within.values())
    uni = pd.DataFrame(uni_rows)
    uni["ges"] = uni["ss"] / (uni["ss"] + sse_total)
    if uni["_zero_error"].all():  # every error term zero up to rounding: the ratio of residues means nothing
        uni["ges"] = np.nan
    uni.loc[uni["effect"] == "(Intercept)", "ges"] = np.nan
    order = [
        "effect",
        "kind",
        "ss",
        "df",
        "ms",
        "ss_error",
        "df_error",
        "ms_error",
        "f",
        "p",
        "pes",
        "ges",
        "eps_gg",
        "df1_gg",
        "df2_gg",
        "p_gg",
        "eps_hf",
        "df1_hf",
        "df2_hf",
        "p_hf",
        "eps_lb",
        "df1_lb",
        "df2_lb",
        "p_lb",
    ]
    uni = uni[order]
    mv = pd.DataFrame(mv_rows, columns=["effect", "test", "value", "f", "df1", "df2", "p", "pes"])
    sph = pd.DataFrame(
        sph_rows, columns=["effect", "d", "w", "chi2", "df", "p", "eps_gg", "eps_hf", "eps_lb"]
    )

    # ---- descriptive: n per group, cell means --------------------------------------------------------------
    if between:
        keys = pd.MultiIndex.from_arrays(
            [pd.Categorical.from_codes(c, lv) for lv, c in b_present], names=between
        )
        n_per_group = pd.Series(1, index=keys).groupby(level=list(range(len(between))), observed=True).size()
        n_per_group = n_per_group.rename("n").reset_index()
    else:
        n_per_group = pd.DataFrame({"n": [N]})
    rows_subj = np.repeat(np.arange(N), n_cells)
    rows_cell = np.tile(np.arange(n_cells), N)
    cols_cm = {}
    for b, (lv, c) in zip(between, b_present, strict=True):
        cols_cm[b] = pd.Categorical.from_codes(c[rows_subj], lv)
    cell_idx = np.unravel_index(rows_cell, shape)
    for w, lv, ci in zip(within, w_levels, cell_idx, strict=True):
        cols_cm[w] = pd.Categorical.from_codes(ci, lv)
    cols_cm[dv] = Y.ravel()
    cell_means = (
        pd.DataFrame(cols_cm)
        .groupby([*between, *within], observed=True, sort=True)[dv]
        .agg(["mean", "std", "count"])
        .rename(columns={"std": "sd", "count": "n"})
        .reset_index()
    )

    return MixedAnovaResult(
        univariate=uni,
        multivariate=mv,
        sphericity=sph,
        convention=convention,
        footnote=CONVENTIONS[convention],
        n_subjects=N,
        n_per_group=n_per_group,
        n_dropped=len(dropped),
        dropped_subjects=dropped,
        cell_means=cell_means,
        dv=dv,
        within=within,
        between=between,
    )


def time_group_anova(
    data: pd.DataFrame,
    dv: str,
    subject: str,
    time: str = "visit",
    group: str = "arm",
    *,
    convention: str = "spss",
    complete_cases: bool = True,
) -> pd.DataFrame:
    """Time x Group mixed ANOVA for one score: :func:`mixed_anova` with one within and one between factor.

    The clinical-score analyses of the trial (pre/post x MBPM/WL). With a two-level within factor sphericity
    holds trivially (epsilons 1) and the multivariate tests equal the univariate ones.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per subject x time.
    dv, subject, time, group : str
        Columns: score, subject id, within factor (e.g. ``visit``), between factor (e.g. ``arm``).
    convention : {"spss", "car"}
        Passed to :func:`mixed_anova`.
    complete_cases : bool
        Default ``True``: subjects without both visits are dropped and counted in ``n_dropped``.

    Returns
    -------
    DataFrame
        One row per effect (``group``, ``time``, ``group:time``; the intercept omitted) with ``dv``, ``effect``,
        ``f``, ``df``, ``df_error``, ``p``, ``pes``, ``ges``, ``ss``, ``ss_error``, ``n``, ``n_dropped``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "arm": list("AAAAAABBBB"),
    ...                   "visit": ["pre", "post"] * 5, "bdi": [10, 6, 12, 9, 8, 8, 11, 12, 9, 10]})
    >>> time_group_anova(d, "bdi", "id", time="visit", group="arm")["effect"].tolist()
    ['arm', 'visit', 'arm:visit']
    """
    res = mixed_anova(
        data, dv, subject, within=[time], between=group, convention=convention, complete_cases=complete_cases
    )
    out = res.univariate.loc[
        res.univariate["effect"] != "(Intercept)",
        ["effect", "f", "df", "df_error", "p", "pes", "ges", "ss", "ss_error"],
    ].copy()
    out.insert(0, "dv", dv)
    out["n"] = res.n_subjects
    out["n_dropped"] = res.n_dropped
    return out.reset_index(drop=True)
