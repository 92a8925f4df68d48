"""A synthetic study in the raw formats of the real one, calibrated to the published numbers.

``synthesize(seed, out_dir)`` writes the five raw files (REDCap export and data dictionary, participant roster,
saliva sample manifest, SalivaLab results) of a study with the published flow (65 participants; other sizes keep
the proportions). Targets and choices live in ``synthetic_design.yaml`` and ``assays.yaml``; scoring keys
(items per scale, reverse-keyed items, item ranges) are read from ``keys/<instrument>.csv``, so the generator
and the scorer cannot disagree on them.

Calibration method (details in data/README.md):

- Scores: a person-level latent draw per scale is standardised within each cohort (sample mean 0, SD 1), mapped
  through a beta distribution with the target mean and SD on the scale's range (keeps floor effects such as
  HC McGill 0.43 (1.16) realistic), shifted back onto the exact target moments, and rounded to whole item units
  with a sum-preserving (largest-remainder) rounding. The integer score is then spread over the scale's items
  ("slot" allocation: each item contributes ``max - min`` unit slots; the lowest-keyed slots are filled), so that
  the summed item responses equal the drawn score exactly; reverse-keyed items are written reversed.
- Pre-to-post changes are standardised within arm the same way. For the analytes, the change vectors of the
  complete cases are whitened jointly (sample covariance = identity) before scaling, so each arm's paired t and
  the multivariate Time x Biomarker x Group test follow from the design values.
- Analytes: ``candidate_draws`` candidate studies (baseline levels with a between-analyte correlation and arm
  offsets, then the post-visit values that follow) are drawn one after the other; in each, the controls' IL-8
  levels are shifted so that IL-8's P(CP > HC) is exactly the target. The candidate kept is the one closest to the
  published pattern: IL-8's unequal variances, no other analyte differing, Pillai's V of the Biomarker main effect
  and of Biomarker x Group on the complete cases near the paper's, every trial value inside the assay range.
- Replicates: mean-preserving noise (deviations centred within the sample) with the assay's typical CV, so the
  replicate mean is the designed concentration.

The generator is written by hand (numpy, scipy.stats): no maintained library simulates a study in these formats.
Everything is vectorised; only ``numpy.random.Generator(PCG64(seed))`` draws random numbers, so a seed gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from helpers.names import ANALYTES

SHIPPED_SEED = 20240917
"""The seed the shipped files in data/raw were generated with (``synthesize(SHIPPED_SEED, "data/raw")``)."""

INSTRUMENTS = ("promis29", "sfmpq", "pam", "pcs", "bdi", "maia", "ffmq")
FILES = (
    "redcap_export.csv",
    "redcap_data_dictionary.csv",
    "roster.csv",
    "sample_manifest.csv",
    "salivalab_results.csv",
)
# scales generated as one block of items; the other scales of the instrument follow from the items
GENERATED = {
    "promis29": "per_scale",
    "sfmpq": ["sfmpq_total"],
    "pam": ["pam_mean"],
    "pcs": ["pcs_total"],
    "bdi": ["bdi_total"],
    "maia": "per_scale",
    "ffmq": "per_scale_except_total",
}
# sign of each score's loading on the person-level distress factor (+1: higher = worse)
BETTER_IS_HIGHER = ("promis_physical_function", "promis_social_roles", "pam_mean")
BETTER_IS_HIGHER_PREFIX = ("maia_", "ffmq_")


# --------------------------------------------------------------------------------------------------- metadata
@functools.cache
def design() -> dict:
    """The calibration targets (``synthetic_design.yaml``)."""
    return yaml.safe_load(resources.files("helpers").joinpath("synthetic_design.yaml").read_text("utf-8"))


@functools.cache
def assays() -> dict:
    """Assay facts per analyte (``assays.yaml``): lab name, units, replicates, LLOD, ULOQ, typical levels."""
    return yaml.safe_load(resources.files("helpers").joinpath("assays.yaml").read_text("utf-8"))


@functools.cache
def key_table(instrument: str) -> pd.DataFrame:
    """Scoring key of ``instrument`` (item, scale, reverse, min, max), from ``keys/<instrument>.csv``."""
    with resources.files("helpers").joinpath("keys", f"{instrument}.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def _items(instrument: str) -> list[str]:
    return list(dict.fromkeys(key_table(instrument)["item"]))


def _blocks(instrument: str) -> list[str]:
    """Scales of ``instrument`` whose items are generated as one block (disjoint item sets)."""
    rule = GENERATED[instrument]
    scales = list(dict.fromkeys(key_table(instrument)["scale"]))
    if rule == "per_scale":
        return scales
    if rule == "per_scale_except_total":
        return [s for s in scales if not s.endswith("_total")]
    return list(rule)


def _scale_rule(scale: str) -> str:
    return "mean" if scale.startswith("maia_") or scale == "pam_mean" else "sum"


# ------------------------------------------------------------------------------------------------- numerics
def _standardise(x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Columns of ``x`` standardised to sample mean 0 and SD 1 (ddof 1) within each group (one group if None)."""
    x = np.asarray(x, dtype=float).copy()
    if groups is None:  # no masks and copies: _analyte_changes calls this thousands of times
        return _standardise_block(x)
    for g in np.unique(groups):
        rows = groups == g
        x[rows] = _standardise_block(x[rows])
    return x


def _standardise_block(sub: np.ndarray) -> np.ndarray:
    """Columns of ``sub`` standardised to sample mean 0 and SD 1 (ddof 1); all zero with fewer than two rows."""
    if len(sub) < 2:
        return np.zeros_like(sub)
    sd = sub.std(axis=0, ddof=1)
    return (sub - sub.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _whiten(z: np.ndarray) -> np.ndarray:
    """Rows of ``z`` transformed to sample mean 0 and sample covariance exactly the identity (ddof 1)."""
    n, p = z.shape
    if n <= p + 1:
        return _standardise(z)
    zc = z - z.mean(axis=0)
    chol = np.linalg.cholesky(np.cov(zc, rowvar=False))
    return np.linalg.solve(chol, zc.T).T


def _exchangeable_cholesky(r: float, k: int = len(ANALYTES)) -> np.ndarray:
    """Cholesky factor of the k x k correlation matrix with every off-diagonal entry ``r``."""
    return np.linalg.cholesky(np.full((k, k), r) + (1 - r) * np.eye(k))


def _round_keep_sum(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Round to integers so each group's total equals its rounded real total (largest-remainder rounding)."""
    floor = np.floor(x)
    rem = x - floor
    out = floor.copy()
    order = np.lexsort((-rem, groups))  # by group, then largest remainder first
    g_sorted = groups[order]
    starts = np.searchsorted(g_sorted, np.unique(g_sorted))
    rank = np.arange(len(x)) - np.repeat(starts, np.diff(np.append(starts, len(x))))
    need = {g: int(round(x[groups == g].sum() - floor[groups == g].sum())) for g in np.unique(groups)}
    bump = rank < np.array([need[g] for g in g_sorted])
    out[order[bump]] += 1
    return out


def _beta_quantiles(z: np.ndarray, mean: float, sd: float, lo: float, hi: float) -> np.ndarray:
    """Map standard-normal scores onto [lo, hi] through the beta law with the given mean and SD.

    Falls back to the linear map ``mean + sd * z`` when no beta law has those moments on the range.
    """
    m = (mean - lo) / (hi - lo)
    v = (sd / (hi - lo)) ** 2
    if not (0 < m < 1) or v >= m * (1 - m):
        return mean + sd * z
    common = m * (1 - m) / v - 1
    law = stats.beta(m * common, (1 - m) * common)
    u = stats.norm.cdf(z)
    if len(u) > 2000:  # large studies: interpolate the quantile function on a fine grid (beta.ppf is slow)
        grid = np.linspace(0.0, 1.0, 4001)
        return lo + (hi - lo) * np.interp(u, grid, law.ppf(grid))
    return lo + (hi - lo) * law.ppf(u)


def _to_moments(x: np.ndarray, groups: np.ndarray, targets: dict, lo, hi) -> np.ndarray:
    """Shift and scale ``x`` within each group onto the target (mean, SD), then clip to [lo, hi]."""
    out = x.astype(float).copy()
    for g, (mean, sd) in targets.items():
        rows = groups == g
        if rows.sum() >= 2:
            sub = out[rows]
            s = sub.std(ddof=1)
            out[rows] = mean + (sub - sub.mean()) * (sd / s if s > 0 else 0.0)
        elif rows.any():
            out[rows] = mean
    return np.clip(out, lo, hi)


def _allocate_units(units: np.ndarray, n_items: int, capacity: int, rng: np.random.Generator) -> np.ndarray:
    """Spread ``units[i]`` whole units over ``n_items`` items of ``capacity`` units each (sum preserved).

    Each item holds ``capacity`` slots keyed by slot position + item difficulty + person-item noise; a person's
    lowest-keyed ``units[i]`` slots are filled, so items fill evenly with plausible person-specific profiles.
    """
    n = len(units)
    difficulty = rng.normal(0.0, 0.35, n_items)
    noise = rng.normal(0.0, 0.6, (n, n_items))
    slot = np.arange(capacity)
    keys = slot[None, None, :] + difficulty[None, :, None] + noise[:, :, None] + rng.random((n, n_items, capacity))
    keys = keys.reshape(n, n_items * capacity)
    ordered = np.sort(keys, axis=1)
    threshold = np.where(units > 0, ordered[np.arange(n), np.maximum(units, 1) - 1], -np.inf)
    filled = keys <= threshold[:, None]
    return filled.reshape(n, n_items, capacity).sum(axis=2)


# ------------------------------------------------------------------------------------------------------ flow
def flow_plan(n_participants: int = 65) -> dict[str, int]:
    """Participant counts per flow role: the published flow at 65, the same proportions at other sizes."""
    f = design()["flow"]
    if n_participants < 40:
        raise ValueError(f"n_participants must be at least 40 to keep every flow role, got {n_participants}")
    scale = n_participants / f["n_participants"]
    hc = round(f["hc"] * scale)
    cp = n_participants - hc
    enrolled = round(cp * f["enrolled"] / f["cp"])
    mbpm = round(enrolled * f["mbpm"] / f["enrolled"])
    wl = enrolled - mbpm
    plan = {
        "hc": hc,
        "cp_baseline_only": cp - enrolled,
        "mbpm_dropout": round(mbpm * f["mbpm_dropout"] / f["mbpm"]),
        "mbpm_low_attendance": round(mbpm * f["mbpm_low_attendance"] / f["mbpm"]),
        "mbpm_saliva_unusable": round(mbpm * f["mbpm_saliva_unusable"] / f["mbpm"]),
        "wl_dropout": max(1, round(wl * f["wl_dropout"] / f["wl"])),
    }
    plan["mbpm_analysed"] = mbpm - plan["mbpm_dropout"] - plan["mbpm_low_attendance"] - plan["mbpm_saliva_unusable"]
    plan["wl_analysed"] = wl - plan["wl_dropout"]
    analysed_mbpm = f["mbpm"] - f["mbpm_dropout"] - f["mbpm_low_attendance"] - f["mbpm_saliva_unusable"]
    plan["mbpm_oxytocin_lost"] = max(1, round(plan["mbpm_analysed"] * f["mbpm_oxytocin_lost"] / analysed_mbpm))
    plan["wl_dheas_lost"] = max(1, round(plan["wl_analysed"] * f["wl_dheas_lost"] / (f["wl"] - f["wl_dropout"])))
    return plan


ROLES = (
    "hc",
    "cp_baseline_only",
    "mbpm_dropout",
    "mbpm_low_attendance",
    "mbpm_saliva_unusable",
    "mbpm_analysed",
    "wl_dropout",
    "wl_analysed",
)


def _per65(count: float, n: int) -> int:
    return max(1, round(count * n / 65))


# ---------------------------------------------------------------------------------------------------- roster
def _roster(rng: np.random.Generator, n: int) -> pd.DataFrame:
    plan = flow_plan(n)
    roles = np.repeat(np.array(ROLES), [plan[r] for r in ROLES])
    roles = roles[rng.permutation(n)]
    width = max(3, len(str(n)))
    record_id = np.array([f"P{i + 1:0{width}d}" for i in range(n)])
    cohort = np.where(roles == "hc", "HC", "CP")
    arm = np.select([np.char.startswith(roles, "mbpm"), np.char.startswith(roles, "wl")], ["MBPM", "WL"], "none")
    trial = arm != "none"
    dropout = np.isin(roles, ["mbpm_dropout", "wl_dropout"])
    reasons = np.array(["lost to follow-up", "schedule conflict", "health problem unrelated to the study",
                        "no longer interested"])
    dropout_reason = np.where(dropout, reasons[rng.integers(0, len(reasons), n)], "")

    min_sessions = design()["flow"]["min_sessions"]
    sessions = np.full(n, -1)
    mbpm = arm == "MBPM"
    sessions[mbpm] = rng.integers(min_sessions, 9, mbpm.sum())
    low = roles == "mbpm_low_attendance"
    sessions[low] = rng.integers(2, min_sessions, low.sum())
    drop_mbpm = roles == "mbpm_dropout"
    sessions[drop_mbpm] = rng.integers(0, 3, drop_mbpm.sum())

    age = _ages(rng, roles)
    gender = np.array(["female", "male", "non-binary"])[
        np.searchsorted(np.cumsum([0.68, 0.28, 0.04]), rng.random(n), side="right").clip(0, 2)]
    race_levels = np.array(["White", "Black or African American", "Asian", "More than one race",
                            "American Indian or Alaska Native"])
    race = race_levels[np.searchsorted(np.cumsum([0.76, 0.13, 0.05, 0.05, 0.01]), rng.random(n),
                                       side="right").clip(0, 4)]
    ethnicity = np.where(rng.random(n) < 0.08, "Hispanic or Latino", "Not Hispanic or Latino")
    return pd.DataFrame({
        "record_id": record_id,
        "cohort": cohort,
        "arm": arm,
        "age": age,
        "gender": gender,
        "race": race,
        "ethnicity": ethnicity,
        "enrolled": trial.astype(int),
        "allocated": trial.astype(int),
        "dropout": dropout.astype(int),
        "dropout_reason": dropout_reason,
        "sessions_attended": pd.Series(sessions).astype("Int64").mask(~mbpm),
        "_role": roles,
    })


def _ages(rng: np.random.Generator, roles: np.ndarray) -> np.ndarray:
    """Integer ages with the published mean and SD per group (CP rest chosen so all CP match the CP row)."""
    a = design()["ages"]
    groups = np.select([roles == "hc", roles == "mbpm_analysed", roles == "wl_analysed"], [0, 1, 2], 3)
    n = np.bincount(groups, minlength=4)
    n_cp = n[1] + n[2] + n[3]
    (m_cp, s_cp), (m1, s1), (m2, s2) = a["cp"], a["mbpm_analysed"], a["wl_analysed"]
    total = n_cp * m_cp
    ss = (n_cp - 1) * s_cp**2 + n_cp * m_cp**2
    m3 = (total - n[1] * m1 - n[2] * m2) / n[3]
    ss3 = ss - ((n[1] - 1) * s1**2 + n[1] * m1**2) - ((n[2] - 1) * s2**2 + n[2] * m2**2)
    s3 = np.sqrt(max(ss3 - n[3] * m3**2, 0) / (n[3] - 1))
    targets = {0: tuple(a["hc"]), 1: (m1, s1), 2: (m2, s2), 3: (m3, s3)}
    lo, hi = a["range"]
    z = _standardise(rng.normal(size=len(roles)), groups)
    age = np.empty(len(roles))
    for g, (m, s) in targets.items():
        rows = groups == g
        age[rows] = _beta_quantiles(z[rows], m, s, lo, hi)
    age = _to_moments(age, groups, targets, lo, hi)
    return _round_keep_sum(age, groups).astype(int)


# -------------------------------------------------------------------------------------------- questionnaires
def _score_direction(scale: str) -> float:
    return -1.0 if scale in BETTER_IS_HIGHER or scale.startswith(BETTER_IS_HIGHER_PREFIX) else 1.0


def _scale_range(scale: str, instrument: str) -> tuple[int, int, int, int]:
    """(number of items, item min, item max, items) of a generated scale."""
    k = key_table(instrument)
    rows = k[k["scale"] == scale]
    return len(rows), int(rows["min"].iloc[0]), int(rows["max"].iloc[0]), list(rows["item"])


def _questionnaires(rng: np.random.Generator, roster: pd.DataFrame, oxt_change_z: pd.Series) -> pd.DataFrame:
    """Item responses, one row per record_id x visit (pre for all, post for trial patients who stayed)."""
    d = design()
    n = len(roster)
    cohort = roster["cohort"].to_numpy()
    groups_pre = np.where(cohort == "CP", 0, 1)
    post_rows = (roster["arm"] != "none").to_numpy() & (roster["dropout"] == 0).to_numpy()
    arm_post = roster["arm"].to_numpy()[post_rows]
    groups_post = np.where(arm_post == "MBPM", 0, 1)
    r = d["score_correlation"]
    distress = rng.normal(size=n)
    improvement = rng.normal(size=post_rows.sum())
    # in MBPM, a larger oxytocin rise goes with more improvement (paper Discussion: oxytocin increase with less
    # pain and depression)
    oxt = oxt_change_z.reindex(roster["record_id"][post_rows]).fillna(0.0).to_numpy()
    improvement = np.where(groups_post == 0, 0.6 * oxt + 0.8 * improvement, improvement)

    pre_items: dict[str, np.ndarray] = {}
    post_items: dict[str, np.ndarray] = {}
    for instrument in INSTRUMENTS:
        for scale in _blocks(instrument):
            target = d["scores"][scale]
            k, lo_item, hi_item, items = _scale_range(scale, instrument)
            cap = hi_item - lo_item
            to_units = (lambda s, k=k, lo_item=lo_item: k * (s - lo_item)) if _scale_rule(scale) == "mean" else (
                lambda s, k=k, lo_item=lo_item: s - k * lo_item)
            sign = _score_direction(scale)
            z = _standardise(np.sqrt(r) * sign * distress + np.sqrt(1 - r) * rng.normal(size=n), groups_pre)
            lo_s, hi_s = (lo_item, hi_item) if _scale_rule(scale) == "mean" else (k * lo_item, k * hi_item)
            pre = np.empty(n)
            for g, c in enumerate(("CP", "HC")):
                rows = groups_pre == g
                c_lo, c_hi = target.get("range", {}).get(c, (lo_s, hi_s))
                pre[rows] = _beta_quantiles(z[rows], *target[c], c_lo, c_hi)
                pre[rows] = _to_moments(pre[rows], np.zeros(rows.sum(), int), {0: tuple(target[c])}, c_lo, c_hi)
            units = _round_keep_sum(to_units(pre), groups_pre).clip(0, k * cap).astype(int)
            scored = lo_item + _allocate_units(units, k, cap, rng)
            zc = _standardise(np.sqrt(r) * -sign * improvement + np.sqrt(1 - r) * rng.normal(size=post_rows.sum()),
                              groups_post)
            change = np.where(groups_post == 0, target["MBPM"][0] + target["MBPM"][1] * zc,
                              target["WL"][0] + target["WL"][1] * zc)
            scale_factor = k if _scale_rule(scale) == "mean" else 1
            post_units = units[post_rows] + change * scale_factor
            c_lo, c_hi = target.get("range", {}).get("CP", (lo_s, hi_s))
            post_units = np.clip(post_units, to_units(c_lo), to_units(c_hi))
            post_units = _round_keep_sum(post_units, groups_post).clip(0, k * cap).astype(int)
            scored_post = lo_item + _allocate_units(post_units, k, cap, rng)
            reverse = key_table(instrument).drop_duplicates("item").set_index("item")["reverse"]
            for j, item in enumerate(items):
                flip = bool(reverse[item])
                pre_items[item] = (lo_item + hi_item - scored[:, j]) if flip else scored[:, j]
                post_items[item] = (lo_item + hi_item - scored_post[:, j]) if flip else scored_post[:, j]

    columns = [item for instrument in INSTRUMENTS for item in _ordered_items(instrument)]
    ids = roster["record_id"].to_numpy()
    record_id = np.concatenate([ids, ids[post_rows]])
    event = np.array(["baseline_arm_1"] * n + ["post_arm_1"] * int(post_rows.sum()))
    values = np.vstack([np.column_stack([pre_items[c] for c in columns]),
                        np.column_stack([post_items[c] for c in columns])]).astype(float)
    order = np.lexsort((event, record_id))
    return _inject_item_problems(rng, record_id[order], event[order], columns, values[order], roster)


def _inject_item_problems(rng: np.random.Generator, record_id: np.ndarray, event: np.ndarray, columns: list[str],
                          values: np.ndarray, roster: pd.DataFrame) -> pd.DataFrame:
    """Blank a few single items, answer a few PAM items 'not applicable' (5), leave one FFMQ incomplete.

    Returns the REDCap export: each form's fields followed by its ``<form>_complete`` status (2 = Complete).
    """
    soft = design()["soft_problems"]
    n = len(roster)
    col = {c: j for j, c in enumerate(columns)}
    complete = {i: np.full(len(values), 2) for i in INSTRUMENTS}
    # incomplete FFMQ: baseline-only CP patients stop after item 24
    baseline_only = roster.loc[roster["_role"] == "cp_baseline_only", "record_id"].to_numpy()
    chosen = rng.choice(baseline_only, size=min(_per65(soft["incomplete_forms"], n), len(baseline_only)),
                        replace=False)
    rows = np.flatnonzero(np.isin(record_id, chosen))
    values[np.ix_(rows, [col[f"ffmq_{i}"] for i in range(25, 40)])] = np.nan
    complete["ffmq"][rows] = 0
    # PAM "not applicable"
    m = _per65(soft["pam_not_applicable"], n)
    r = rng.choice(len(values), size=m, replace=False)
    values[r, [col[f"pam_{i}"] for i in rng.integers(1, 14, size=m)]] = 5
    # single missing items anywhere except the incomplete forms and the single-item pain intensity
    candidates = np.array([col[c] for c in columns if c != "promis29_29"])
    m = _per65(soft["missing_items"], n)
    r = rng.choice(np.setdiff1d(np.arange(len(values)), rows), size=m, replace=True)
    values[r, candidates[rng.choice(len(candidates), size=m)]] = np.nan

    out = {"record_id": record_id, "redcap_event_name": event}
    for instrument in INSTRUMENTS:
        for item in _ordered_items(instrument):
            out[item] = pd.array(values[:, col[item]], dtype="Int64")
        out[f"{instrument}_complete"] = complete[instrument]
    return pd.DataFrame(out)


def _ordered_items(instrument: str) -> list[str]:
    return sorted(_items(instrument), key=lambda s: int(s.rsplit("_", 1)[1]))


# ---------------------------------------------------------------------------------------------------- assays
def _analytes(rng: np.random.Generator, roster: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Baseline and post-visit concentrations (pg/mL): the best of ``candidate_draws`` candidate studies.

    Each candidate is a baseline draw (log-normal per analyte, a shared between-analyte correlation, the arms'
    baseline offsets) and the post-visit values that follow from it (:func:`_analyte_changes`); the candidate
    closest to the published pattern (:func:`_pattern_distance`) is kept. Candidates are drawn one after the
    other from ``rng``, so the result depends on the seed only. Candidates are plain arrays (rows as in the
    roster, :class:`_Trial` says which rows the trial's are); only the one kept becomes tables. Returns
    ``(pre, post, oxytocin change z)``: ``pre`` indexed by every record_id, ``post`` and the z by the trial
    patients who stayed.
    """
    d = design()["analytes"]
    a = assays()
    n = len(roster)
    hc = (roster["cohort"] == "HC").to_numpy()
    arm = roster["arm"].to_numpy()
    k = d["candidate_draws"] if n <= 1000 else 2
    med = np.array([a[x]["median_pg_ml"] for x in ANALYTES])
    lsd = np.array([a[x]["log_sd"] for x in ANALYTES])
    hc_sd = np.array([d[x].get("hc_log_sd", a[x]["log_sd"]) for x in ANALYTES])
    ratio = np.array([d[x]["cp_hc_ratio"] for x in ANALYTES])
    shift = np.zeros((n, len(ANALYTES)))
    for g in ("MBPM", "WL"):
        shift[arm == g] = [d[x].get("arm_shift", {}).get(g, 0.0) for x in ANALYTES]
    il8 = ANALYTES.index("il8")
    rb = d["baseline_correlation"]
    chol = _exchangeable_cholesky(rb)
    trial = _Trial.of(roster)
    best, best_distance = None, np.inf
    for _ in range(k):
        z = _standardise(rng.normal(size=(n, len(ANALYTES))) @ chol.T + shift, hc.astype(int))
        log_pre = np.where(hc[:, None], np.log(med / ratio) + hc_sd * z, np.log(med) + lsd * z)
        log_pre[hc, il8] += _auc_shift(log_pre[~hc, il8], log_pre[hc, il8], d["il8_auc_target"])
        pre = np.exp(log_pre)
        post, oxt_z = _analyte_changes(rng, pre, trial)
        distance = _pattern_distance(pre, post, hc, trial)
        if distance < best_distance:
            best, best_distance = (pre, post, oxt_z), distance
    pre, post, oxt_z = best
    return (pd.DataFrame(pre, columns=list(ANALYTES), index=roster["record_id"].to_numpy()),
            pd.DataFrame(post, columns=list(ANALYTES), index=trial.ids).clip(lower=trial.lo, upper=trial.hi, axis=1),
            pd.Series(oxt_z, index=trial.ids))


@dataclass(frozen=True)
class _TrialArm:
    """One arm's trial patients who stayed, and the arm's designed changes (fixed for a study)."""

    rows: np.ndarray  # their rows in the roster (and in a candidate's baseline array)
    at: np.ndarray  # their positions among all stayers (rows of a candidate's post-visit array)
    cc: np.ndarray  # complete cases: analysed, no value lost (mask over ``rows``)
    other: np.ndarray  # not analysed (low attendance, saliva unusable): changes drawn freely (mask over ``rows``)
    mean: np.ndarray  # designed mean change per analyte (pg/mL), synthetic_design.yaml analytes.<x>.change
    sd: np.ndarray  # designed SD of the change per analyte (pg/mL): mean / the design's dz
    tries: int  # draws allowed to keep the complete cases inside the assay range


@dataclass(frozen=True)
class _Trial:
    """The trial patients who stayed (those with a post visit), as array positions computed once per study.

    Every candidate of :func:`_analytes` shares these, so its post-visit values and its distance from the
    published pattern are plain array arithmetic.
    """

    ids: np.ndarray  # record_id of each stayer, roster order (the index of the post-visit table)
    rows: np.ndarray  # their rows in the roster
    arm: np.ndarray  # "MBPM" or "WL" per stayer
    cc: np.ndarray  # complete cases among the stayers
    arms: tuple[_TrialArm, ...]  # MBPM, then WL
    chol: np.ndarray  # Cholesky factor of the between-analyte correlation of the changes
    lo: np.ndarray  # measurable range per analyte (pg/mL), :func:`_measurable_range`: lower end
    hi: np.ndarray  # upper end

    @classmethod
    def of(cls, roster: pd.DataFrame) -> _Trial:
        """The stayers of ``roster`` (columns arm, dropout, _role, _lost) and the design's change values."""
        d = design()["analytes"]
        stay = (roster["arm"] != "none").to_numpy() & (roster["dropout"] == 0).to_numpy()
        rows = np.flatnonzero(stay)
        arm = roster["arm"].to_numpy()[rows]
        core = np.isin(roster["_role"].to_numpy()[rows], ["mbpm_analysed", "wl_analysed"])
        cc = core & ~roster["_lost"].to_numpy()[rows]
        arms = []
        for name in ("MBPM", "WL"):
            at = np.flatnonzero(arm == name)
            mean = np.array([d[x]["change"][name][0] for x in ANALYTES])
            sd = mean / np.array([d[x]["change"][name][1] for x in ANALYTES])
            arms.append(_TrialArm(rows=rows[at], at=at, cc=cc[at], other=~core[at], mean=mean, sd=sd,
                                  tries=50 if cc[at].sum() <= 200 else 1))
        r = d["change_correlation"]
        chol = _exchangeable_cholesky(r)
        lo, hi = _measurable_range()
        return cls(ids=roster["record_id"].to_numpy()[rows], rows=rows, arm=arm, cc=cc, arms=tuple(arms), chol=chol,
                   lo=lo, hi=hi)


def _auc_shift(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """The shift c that gives P(x > y + c) = the attainable probability nearest ``target`` (ties impossible).

    The count of pairs with x_i - y_j > c steps by one at each pairwise difference; c is the midpoint between the
    two differences that bracket the wanted count, so the Mann-Whitney U (and the two-group Kruskal-Wallis H) of
    ``x`` against ``y + c`` is exactly the target's.
    """
    m = len(x) * len(y)
    want = int(np.clip(round(target * m), 1, m - 1))  # pairs with x - y > c
    if m <= 4_000_000:
        # only the two bracketing order statistics are needed: a partial sort puts exactly them in place
        diffs = np.partition(np.subtract.outer(x, y).ravel(), (m - want - 1, m - want))
        return float((diffs[m - want - 1] + diffs[m - want]) / 2)
    # large studies: bisection on c (the count is a non-increasing step function of c), O((n_x + n_y) log n_x)
    xs = np.sort(x)

    def above(c: float) -> int:
        return int(len(xs) * len(y) - np.searchsorted(xs, y + c, side="right").sum())

    lo, hi = float(xs[0] - y.max()) - 1.0, float(xs[-1] - y.min()) + 1.0  # above(lo) = m, above(hi) = 0
    for _ in range(200):
        mid = (lo + hi) / 2
        count = above(mid)
        if count == want:
            return mid
        lo, hi = (mid, hi) if count > want else (lo, mid)
    return (lo + hi) / 2


def _pattern_distance(pre: np.ndarray, post: np.ndarray, hc: np.ndarray, trial: _Trial) -> float:
    """Distance of one candidate study from the published pattern (smaller is closer).

    ``pre``: baseline concentrations (pg/mL), one row per participant in roster order; ``hc``: which rows are
    healthy controls; ``post``: post-visit concentrations, one row per stayer of ``trial``.
    Baseline (all participants): IL-8's P(CP > HC) near the target, IL-8 variances unequal (Levene mean-centred
    p < 0.05), no other analyte differing (Kruskal-Wallis p > 0.10). Trial (complete cases): Pillai's V of the
    Biomarker main effect and of Biomarker x Group near their targets (:func:`_biomarker_pillai`). Every
    concentration of the trial inside the assay's measurable range (1.3 LLOD to ULOQ / 1.3, so that replicate
    noise keeps the replicates in range too). Two-group Kruskal-Wallis H is computed from the rank sum (no ties in
    continuous draws): H = 12 (U - n1 n2 / 2)^2 / (n1 n2 (N + 1)).
    """
    d = design()["analytes"]
    n_cp, n_hc = (~hc).sum(), hc.sum()
    ranks = stats.rankdata(pre, axis=0)
    u = ranks[~hc].sum(axis=0) - n_cp * (n_cp + 1) / 2
    auc = u / (n_cp * n_hc)
    h = 12 * (u - n_cp * n_hc / 2) ** 2 / (n_cp * n_hc * (len(hc) + 1))
    p = stats.chi2.sf(h, 1)
    dev = np.abs(pre - np.where(hc[:, None], pre[hc].mean(axis=0), pre[~hc].mean(axis=0)))
    levene_p = stats.f_oneway(dev[~hc], dev[hc], axis=0).pvalue
    il8 = ANALYTES.index("il8")
    others = np.delete(np.arange(len(ANALYTES)), il8)
    distance = 1000 * abs(auc[il8] - d["il8_auc_target"]) + (levene_p[il8] >= 0.05) + (p[others] <= 0.10).sum()
    pre_trial = pre[trial.rows]
    v_b, v_bg = _biomarker_pillai(pre_trial[trial.cc], post[trial.cc], trial.arm[trial.cc])
    distance += 20 * (abs(v_b - d["pillai_target"]["biomarker"]) + abs(v_bg - d["pillai_target"]["biomarker_group"]))
    inside = np.vstack([pre_trial, post])
    distance += ((inside < trial.lo) | (inside > trial.hi)).sum()
    return float(distance)


def _measurable_range() -> tuple[np.ndarray, np.ndarray]:
    """Per analyte, the concentrations (pg/mL) a designed value must stay within: 1.3 LLOD to ULOQ / 1.3, so that
    replicate noise (CV 5-8 %, 35 % on three samples outside the trial) keeps the replicates inside the range."""
    a = assays()
    return (np.array([1.3 * a[x]["llod"] for x in ANALYTES]), np.array([a[x]["uloq"] / 1.3 for x in ANALYTES]))


def _biomarker_pillai(pre: np.ndarray, post: np.ndarray, arm: np.ndarray) -> tuple[float, float]:
    """Pillai's V of the Biomarker main effect and of Biomarker x Group (type III, two groups).

    The subject's time-averaged profile ``(pre + post) / 2`` is taken to successive analyte differences (any
    basis of contrasts gives the same V); both hypotheses have rank 1, so V = lambda / (1 + lambda) with
    lambda = c m' E^-1 m, E the pooled within-group SSCP, m the unweighted mean of the two group means
    (c = 4 / (1/n1 + 1/n2)) or their difference (c = 1 / (1/n1 + 1/n2)). The full test is
    :func:`helpers.stats.mixed_anova`; this closed form is the generator's fast check of a candidate.
    """
    y = ((pre + post) / 2) @ np.diff(np.eye(pre.shape[1]), axis=0).T
    groups = [y[arm == g] for g in np.unique(arm)]
    n1, n2 = (len(g) for g in groups)
    mu1, mu2 = (g.mean(axis=0) for g in groups)
    e = sum((g - g.mean(axis=0)).T @ (g - g.mean(axis=0)) for g in groups)
    harmonic = 1 / n1 + 1 / n2
    lam_b = 4 / harmonic * ((mu1 + mu2) / 2) @ np.linalg.solve(e, (mu1 + mu2) / 2)
    lam_bg = 1 / harmonic * (mu1 - mu2) @ np.linalg.solve(e, mu1 - mu2)
    return float(lam_b / (1 + lam_b)), float(lam_bg / (1 + lam_bg))


def _analyte_changes(rng: np.random.Generator, pre: np.ndarray, trial: _Trial) -> tuple[np.ndarray, np.ndarray]:
    """Post-visit concentrations for trial patients who stayed; complete cases follow the design exactly.

    ``pre``: baseline concentrations (pg/mL), one row per participant in roster order. Returns the post-visit
    concentrations (pg/mL, one row per stayer of ``trial``, columns as ``ANALYTES``) and each stayer's
    standardised oxytocin change.
    """
    post = np.full((len(trial.ids), len(ANALYTES)), np.nan)
    z_out = np.zeros(len(trial.ids))
    for arm in trial.arms:
        base = pre[arm.rows]
        base_cc = base[arm.cc]
        for _ in range(arm.tries):  # redraw until the complete cases stay in the assay range
            # changes scale with the person's level; correlated across analytes (shared saliva flow rate)
            raw_cc = base_cc * (rng.normal(size=base.shape) @ trial.chol.T)[arm.cc]
            z_cc = _whiten(_standardise(raw_cc)) @ trial.chol.T
            noise_other = rng.normal(size=(arm.other.sum(), len(ANALYTES)))  # drawn every time; the last one is kept
            value_cc = base_cc + arm.mean + z_cc * arm.sd
            if ((value_cc > trial.lo) & (value_cc < trial.hi)).all():
                break
        z = np.zeros_like(base)
        z[arm.cc] = z_cc
        z[arm.other] = noise_other @ trial.chol.T
        # analysed patients with one value lost sit at their arm's mean change: the per-analyte paired tests on
        # all available pairs then differ from the complete-case design only through n
        post[arm.at] = base + arm.mean + z * arm.sd
        z_out[arm.at] = z[:, 0]
    return post, z_out


def _assay_files(rng: np.random.Generator, roster: pd.DataFrame, pre: pd.DataFrame, post: pd.DataFrame):
    """Sample manifest and SalivaLab results (one row per sample x analyte, replicate values as text)."""
    a = assays()
    soft = design()["soft_problems"]
    n = len(roster)
    rid = roster["record_id"].to_numpy()
    post_ids = post.index.to_numpy()
    samples = pd.DataFrame({
        "record_id": np.concatenate([rid, post_ids]),
        "visit": np.array(["pre"] * len(rid) + ["post"] * len(post_ids)),
    })
    start = dt.date(2021, 3, 1)
    base_day = pd.Series(rng.integers(0, 540, n), index=rid)
    offset = np.concatenate([np.zeros(len(rid), int), 63 + rng.integers(0, 15, len(post_ids))])
    days = base_day.reindex(samples["record_id"]).to_numpy() + offset
    samples["collection_date"] = [(start + dt.timedelta(days=int(x))).isoformat() for x in days]
    minutes = rng.integers(8 * 60, 11 * 60 + 30, len(samples))
    samples["collection_time"] = [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]
    space = max(10**6, 10 * len(samples))
    numbers = rng.choice(space, size=len(samples), replace=False)
    width = len(str(space - 1))
    samples.insert(0, "sample_id", [f"SL{x:0{width}d}" for x in numbers])
    samples["collection_method"] = "passive drool"
    samples = samples.sort_values("sample_id", kind="stable").reset_index(drop=True)

    # true concentrations per sample x analyte
    conc = np.where(
        (samples["visit"] == "pre").to_numpy()[:, None],
        pre.reindex(samples["record_id"]).to_numpy(),
        post.reindex(samples["record_id"]).to_numpy(),
    )
    status = np.full(conc.shape, "", dtype=object)
    role = roster.set_index("record_id")["_role"].reindex(samples["record_id"]).to_numpy()
    is_post = (samples["visit"] == "post").to_numpy()
    status[(role == "mbpm_saliva_unusable") & is_post, :] = "QNS"
    lost = roster.set_index("record_id")["_lost"].reindex(samples["record_id"]).to_numpy()
    oxt_lost = lost & (role == "mbpm_analysed") & is_post
    status[oxt_lost, 0] = "Assay failure"
    dheas_lost = lost & (role == "wl_analysed") & is_post
    status[dheas_lost, ANALYTES.index("dheas")] = "QNS"

    non_trial_pre = np.flatnonzero(np.isin(role, ["hc", "cp_baseline_only"]) & ~is_post)
    picks = rng.choice(non_trial_pre, size=_per65(soft["oxytocin_below_llod"], n) + _per65(soft["tnfa_below_llod"], n)
                       + _per65(soft["dheas_above_uloq"], n), replace=False)
    k1 = _per65(soft["oxytocin_below_llod"], n)
    k2 = k1 + _per65(soft["tnfa_below_llod"], n)
    conc[picks[:k1], 0] = rng.uniform(3.0, 7.0, k1)
    conc[picks[k1:k2], ANALYTES.index("tnfa")] = rng.uniform(0.005, 0.03, k2 - k1)
    conc[picks[k2:], ANALYTES.index("dheas")] = rng.uniform(16500, 19000, len(picks) - k2)

    cv = np.array([a[x]["replicate_cv"] for x in ANALYTES])
    cv = np.broadcast_to(cv, conc.shape).copy()
    ok_for_high_cv = np.flatnonzero(~is_post & np.isin(role, ["hc", "cp_baseline_only"]))
    ok_for_high_cv = np.setdiff1d(ok_for_high_cv, picks)
    high = rng.choice(ok_for_high_cv, size=_per65(soft["high_cv_replicates"], n), replace=False)
    cv[high, rng.integers(0, len(ANALYTES), len(high))] = 0.35

    rows = []
    for j, analyte in enumerate(ANALYTES):
        meta = a[analyte]
        k = meta["replicates"]
        eps = rng.normal(size=(len(samples), k))
        eps = eps - eps.mean(axis=1, keepdims=True)  # mean-preserving replicate noise
        reps = conc[:, j : j + 1] * (1 + cv[:, j : j + 1] * eps)
        reps = np.round(reps, 2)
        table = _lab_rows(samples["sample_id"].to_numpy(), meta, reps, status[:, j])
        rows.append(table)
    results = pd.concat(rows, ignore_index=True)
    return samples, results


def _fmt(x: np.ndarray) -> np.ndarray:
    """Two-decimal text of each value; empty where not finite."""
    return np.where(np.isfinite(x), np.char.mod("%.2f", np.nan_to_num(x)), "")


def _lab_rows(sample_id: np.ndarray, meta: dict, reps: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    """The lab's rows for one analyte: replicates as text ("<8.00" below LLOD, ">1000.00" above range)."""
    llod, uloq = meta["llod"], meta["uloq"]
    k = reps.shape[1]
    text = np.where(reps < llod, f"<{llod:.2f}", np.where(reps > uloq, f">{uloq:.2f}", np.char.mod("%.2f", reps)))
    numeric = (reps >= llod) & (reps <= uloq)
    n_num = numeric.sum(axis=1)
    masked = np.where(numeric, reps, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_num > 0, np.nansum(np.where(numeric, reps, 0.0), axis=1) / np.maximum(n_num, 1), np.nan)
        sd = np.where(n_num > 1, np.nanstd(np.where(n_num[:, None] > 1, masked, 0.0), axis=1, ddof=1), np.nan)
        cv_pct = 100 * sd / mean
    below = (reps < llod).all(axis=1)
    above = (reps > uloq).all(axis=1)
    mean_text = np.where(below, f"<{llod:.2f}", np.where(above, f">{uloq:.2f}", _fmt(mean)))
    cv_text = _fmt(cv_pct)
    flags = np.where(below, "<LLOD", np.where(above, ">ULOQ", np.where((reps < llod).any(axis=1), "rep <LLOD", "")))
    failed = status != ""
    out = pd.DataFrame({"sample_id": sample_id, "analyte": meta["lab_name"]})
    for r in range(3):
        col = text[:, r] if r < k else np.full(len(sample_id), "")
        out[f"rep{r + 1}"] = np.where(failed, "", col)
    out["mean"] = np.where(failed, "", mean_text)
    out["cv_pct"] = np.where(failed, "", cv_text)
    out["units"] = meta["units"]
    out["flags"] = np.where(failed, status, flags)
    return out


# ------------------------------------------------------------------------------------------- data dictionary
CHOICES = {
    "promis29": None,  # per item below
    "sfmpq": "0, None | 1, Mild | 2, Moderate | 3, Severe",
    "pam": "1, Disagree strongly | 2, Disagree | 3, Agree | 4, Agree strongly | 5, N/A",
    "pcs": "0, Not at all | 1, To a slight degree | 2, To a moderate degree | 3, To a great degree | 4, All the time",
    "bdi": "0, 0 | 1, 1 | 2, 2 | 3, 3",
    "maia": "0, Never | 1, 1 | 2, 2 | 3, 3 | 4, 4 | 5, Always",
    "ffmq": "1, Never or very rarely true | 2, Rarely true | 3, Sometimes true | 4, Often true | "
            "5, Very often or always true",
}
PROMIS_CHOICES = {
    "promis_physical_function": "5, Without any difficulty | 4, With a little difficulty | 3, With some difficulty"
                                " | 2, With much difficulty | 1, Unable to do",
    "frequency": "1, Never | 2, Rarely | 3, Sometimes | 4, Often | 5, Always",
    "intensity": "1, Not at all | 2, A little bit | 3, Somewhat | 4, Quite a bit | 5, Very much",
    "promis_social_roles": "5, Never | 4, Rarely | 3, Sometimes | 2, Usually | 1, Always",
}
FORM_TITLES = {
    "promis29": "PROMIS-29 Profile v2.0",
    "sfmpq": "Short-form McGill Pain Questionnaire",
    "pam": "Patient Activation Measure (PAM-13)",
    "pcs": "Pain Catastrophizing Scale",
    "bdi": "Beck Depression Inventory-II",
    "maia": "Multidimensional Assessment of Interoceptive Awareness",
    "ffmq": "Five Facet Mindfulness Questionnaire (39 items)",
}
DICTIONARY_COLUMNS = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation",
]


def _promis_choices(scale: str, item_number: int) -> str:
    if scale in ("promis_physical_function", "promis_social_roles"):
        return PROMIS_CHOICES[scale]
    if scale == "promis_sleep_disturbance" and item_number == 17:
        return "5, Very poor | 4, Poor | 3, Fair | 2, Good | 1, Very good"
    if scale == "promis_sleep_disturbance" and item_number == 18:
        return "5, Not at all | 4, A little bit | 3, Somewhat | 2, Quite a bit | 1, Very much"
    if scale in ("promis_anxiety", "promis_depression"):
        return PROMIS_CHOICES["frequency"]
    return PROMIS_CHOICES["intensity"]


def redcap_dictionary() -> pd.DataFrame:
    """The REDCap data dictionary of the questionnaire project (REDCap's own column layout).

    Item labels name the instrument, item number and subscale only: the copyrighted item wording is not shipped.
    """
    rows = [{"Variable / Field Name": "record_id", "Form Name": "promis29", "Field Type": "text",
             "Field Label": "Record ID", "Identifier?": ""}]
    for instrument in INSTRUMENTS:
        k = key_table(instrument)
        first = k.drop_duplicates("item").set_index("item")
        for i, item in enumerate(_ordered_items(instrument)):
            number = int(item.rsplit("_", 1)[1])
            scale = first.loc[item, "scale"]
            row = {
                "Variable / Field Name": item,
                "Form Name": instrument,
                "Section Header": FORM_TITLES[instrument] if i == 0 else "",
                "Field Type": "radio",
                "Field Label": f"{FORM_TITLES[instrument].split(' (')[0]} item {number} ({scale})",
                "Choices, Calculations, OR Slider Labels": (
                    _promis_choices(scale, number) if instrument == "promis29" else CHOICES[instrument]),
                "Required Field?": "",
                "Matrix Group Name": instrument if instrument != "promis29" else scale,
            }
            if item == "promis29_29":
                row.update({"Field Type": "text", "Choices, Calculations, OR Slider Labels": "",
                            "Text Validation Type OR Show Slider Number": "integer",
                            "Text Validation Min": "0", "Text Validation Max": "10", "Matrix Group Name": "",
                            "Field Note": "0 = no pain, 10 = worst pain imaginable"})
            if instrument == "bdi" and number in (16, 18):
                row["Field Note"] = "options 1a/1b, 2a/2b, 3a/3b stored as 1, 2, 3"
            rows.append(row)
    return pd.DataFrame(rows).reindex(columns=DICTIONARY_COLUMNS).astype(object).fillna("")


# ------------------------------------------------------------------------------------------------- top level
def synthesize(seed: int, out_dir: str | Path, n_participants: int = 65) -> list[Path]:
    """Write a synthetic study (the five raw files) into ``out_dir`` and return their paths.

    Deterministic: the same ``seed`` and ``n_participants`` give byte-identical files. The shipped data/raw is
    ``synthesize(SHIPPED_SEED, "data/raw")``.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    plan = flow_plan(n_participants)
    roster = _roster(rng, n_participants)
    lost = np.zeros(len(roster), dtype=bool)
    for role, key in (("mbpm_analysed", "mbpm_oxytocin_lost"), ("wl_analysed", "wl_dheas_lost")):
        candidates = np.flatnonzero((roster["_role"] == role).to_numpy())
        lost[rng.choice(candidates, size=plan[key], replace=False)] = True
    roster["_lost"] = lost
    pre, post, oxt_z = _analytes(rng, roster)
    items = _questionnaires(rng, roster, oxt_z)
    manifest, results = _assay_files(rng, roster, pre, post)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "redcap_export.csv": items,
        "redcap_data_dictionary.csv": redcap_dictionary(),
        "roster.csv": roster.drop(columns=["_role", "_lost"]),
        "sample_manifest.csv": manifest,
        "salivalab_results.csv": results,
    }
    paths = []
    for name in FILES:
        path = out / name
        tables[name].to_csv(path, index=False, lineterminator="\n")
        paths.append(path)
    return paths


def cli(argv: list[str] | None = None) -> int:
    """``mbpm synth --seed N --out DIR [--n-participants N]``."""
    parser = argparse.ArgumentParser(prog="mbpm synth",
                                     description="Write a synthetic study in the raw formats (see data/README.md).")
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED, help=f"random seed (shipped data: {SHIPPED_SEED})")
    parser.add_argument("--out", required=True, help="output folder (created if absent)")
    parser.add_argument("--n-participants", type=int, default=65, help="study size (flow proportions kept)")
    args = parser.parse_args(argv)
    for path in synthesize(args.seed, args.out, args.n_participants):
        print(path)
    return 0
