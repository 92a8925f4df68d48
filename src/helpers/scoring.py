"""Questionnaire scores from item responses, with the published scoring keys held as data.

Each instrument's key is a table, ``keys/<instrument>.csv`` (item, scale, reverse, min, max: one row per item
and score it enters), and its scoring metadata (sum or mean, missing-item rule, rounding, not-applicable codes,
citation of the scoring source) sits in ``keys/instruments.yaml``. The scorer only reads them: changing a key
never means changing code. Sources, per instrument (full citations in the YAML):

- ``promis29``: PROMIS-29 Profile v2.0, HealthMeasures scoring manual (raw sums; T-scores from a user-supplied
  conversion table, see :func:`score`).
- ``sfmpq``: Melzack 1987. ``pam``: Hibbard et al. 2005 (0-100 activation only from a user-supplied licensed
  table). ``pcs``: Sullivan et al. 1995 and the PCS user manual. ``bdi``: Beck, Steer & Brown 1996.
  ``maia``: Mehling et al. 2012. ``ffmq``: Baer et al. 2006.

Item columns are named as in the REDCap export (``pcs_1`` ... ``pcs_13``). The participant and visit are taken
from ``record_id`` and ``visit`` columns, or from index levels of those names, and are kept in the result.

Scoring is vectorised with numpy over all rows at once. The proration and reverse-keying arithmetic is written
here because no maintained Python library scores these instruments from declarative keys; Cronbach's alpha
comes from pingouin.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import yaml

from helpers.io import project_path
from helpers.validation import DataValidationError

INSTRUMENTS = ("promis29", "sfmpq", "pam", "pcs", "bdi", "maia", "ffmq")
ID_COLUMNS = ("record_id", "visit")
KEY_COLUMNS = ("item", "scale", "reverse", "min", "max")


@dataclass(frozen=True)
class Key:
    """One instrument's scoring key: ``table`` (one row per item and score) and ``meta`` (its YAML entry)."""

    instrument: str
    table: pd.DataFrame
    meta: dict

    @functools.cached_property
    def items(self) -> list[str]:
        """Item columns the instrument needs, in questionnaire order (by item number)."""
        return sorted(set(self.table["item"]), key=lambda item: int(item.rsplit("_", 1)[1]))

    @property
    def scales(self) -> list[str]:
        """Score columns, in key order."""
        return list(dict.fromkeys(self.table["scale"]))

    @functools.cached_property
    def ranges(self) -> pd.DataFrame:
        """One row per item (index, questionnaire order): reverse, min, max."""
        return self.table.drop_duplicates("item").set_index("item").loc[self.items, ["reverse", "min", "max"]]


def _keys_dir():
    return resources.files("helpers") / "keys"


@functools.cache
def _metadata() -> dict:
    return yaml.safe_load((_keys_dir() / "instruments.yaml").read_text(encoding="utf-8"))


@functools.cache
def load_key(instrument: str) -> Key:
    """Read the key table and metadata of ``instrument`` (one of :data:`INSTRUMENTS`) and check they agree."""
    if instrument not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {instrument!r}; known: {', '.join(INSTRUMENTS)}")
    with (_keys_dir() / f"{instrument}.csv").open(encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    missing = [c for c in KEY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"keys/{instrument}.csv lacks columns {missing}")
    table["reverse"] = table["reverse"].astype(bool)
    per_item = table.groupby("item", sort=False)[["reverse", "min", "max"]].nunique()
    inconsistent = per_item[(per_item > 1).any(axis=1)].index.tolist()
    if inconsistent:
        raise ValueError(f"keys/{instrument}.csv gives items {inconsistent} different reverse/min/max per scale")
    meta = _metadata()[instrument]
    unknown = set(table["scale"]) ^ set(meta["scales"])
    if unknown:
        raise ValueError(f"keys/{instrument}.csv and instruments.yaml disagree on scales {sorted(unknown)}")
    return Key(instrument, table, meta)


def _where(items: pd.DataFrame, row: int) -> str:
    """'participant X, visit Y' for row position ``row`` (from columns or index levels; '?' when absent)."""
    found = {}
    for name in ID_COLUMNS:
        if name in items.columns:
            found[name] = items[name].iat[row]
        elif name in (items.index.names or []):
            found[name] = items.index.get_level_values(name)[row]
        else:
            found[name] = "?"
    return f"participant {found['record_id']}, visit {found['visit']}"


def _numeric_column(key: Key, items: pd.DataFrame, col: str) -> np.ndarray:
    """One item column as float numbers (a copy); text that is not a number raises."""
    column = items[col]
    if not pd.api.types.is_numeric_dtype(column):
        as_num = pd.to_numeric(column, errors="coerce")
        bad = as_num.isna().to_numpy() & column.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"{key.instrument}: {_where(items, row)}, item {col}: value {column.iat[row]!r} is not a "
                f"number (rule: numeric response, keys/{key.instrument}.csv)"
            )
        column = as_num
    return column.to_numpy(dtype=float, na_value=np.nan, copy=True)


def _check_range(key: Key, item: str, x: np.ndarray, items: pd.DataFrame) -> None:
    """Raise on a response that is not a whole number within the key's range or a not-applicable code."""
    lo, hi = float(key.ranges.at[item, "min"]), float(key.ranges.at[item, "max"])
    na_codes = key.meta.get("not_applicable") or []
    # NaN fails every comparison, so unanswered items pass
    bad = (x < lo) | (x > hi) | (x != np.floor(x))
    if na_codes:
        bad &= ~np.isin(x, na_codes)
    bad &= ~np.isnan(x)
    if bad.any():
        rows = np.flatnonzero(bad)
        allowed = f"{lo:g}-{hi:g}"
        if na_codes:
            allowed += f" or not-applicable code {', '.join(str(c) for c in na_codes)}"
        more = f" ({len(rows) - 1} more out-of-range responses to this item)" if len(rows) > 1 else ""
        raise DataValidationError(
            f"{key.instrument}: {_where(items, int(rows[0]))}, item {item}: value {x[rows[0]]:g} is outside "
            f"the response range {allowed} (rule: keys/{key.instrument}.csv){more}"
        )


def _keyed_columns(key: Key, items: pd.DataFrame) -> dict[str, np.ndarray]:
    absent = [c for c in key.items if c not in items.columns]
    if absent:
        raise DataValidationError(f"{key.instrument}: item columns missing from the export: {', '.join(absent)}")
    na_codes = key.meta.get("not_applicable") or []
    out = {}
    for item, (reverse, lo, hi) in zip(key.items, key.ranges.itertuples(index=False), strict=True):
        x = _numeric_column(key, items, item)
        _check_range(key, item, x, items)
        if na_codes:
            x[np.isin(x, na_codes)] = np.nan
        out[item] = (lo + hi) - x if reverse else x
    return out


def keyed_responses(instrument: str, items: pd.DataFrame) -> pd.DataFrame:
    """Validated item responses with not-applicable codes set missing and reverse-keyed items reversed.

    A reversed response is ``min + max - response`` (e.g. 6 - x on a 1-5 scale). Same index and item columns as
    ``items``; raises :class:`DataValidationError` naming participant, visit, item and value for a response
    outside the key's range.
    """
    return pd.DataFrame(_keyed_columns(load_key(instrument), items), index=items.index)


def _scale_scores(key: Key, keyed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    answered = {item: ~np.isnan(x) for item, x in keyed.items()}
    filled = {item: np.where(answered[item], x, 0.0) for item, x in keyed.items()}
    out = {}
    for scale, members in key.table.groupby("scale", sort=False)["item"]:
        rule = key.meta["scales"][scale]
        n = len(members)
        total = np.sum([filled[i] for i in members], axis=0)
        n_ans = np.sum([answered[i] for i in members], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if rule["rule"] == "mean":
                value = total / n_ans
            elif rule["rule"] == "sum":
                # total * n is a whole number, so a proration that divides evenly is exact before rounding up
                prorated = total * n / n_ans
                if rule.get("round", "none") == "up":
                    prorated = np.ceil(prorated)
                value = np.where(n_ans == n, total, prorated)
            else:
                raise ValueError(f"{key.instrument}: unknown rule {rule['rule']!r} for {scale}")
        out[scale] = np.where(n - n_ans > rule["max_missing"], np.nan, value)
    return out


def _severity(key: Key, scores: dict[str, np.ndarray]) -> pd.Categorical:
    spec = key.meta["severity"]
    bands = spec["bands"]
    edges = [*bands.values(), np.inf]
    return pd.cut(scores[spec["score"]], bins=edges, right=False, labels=list(bands))


def _lookup(values: pd.Series, table: pd.Series, what: str, items: pd.DataFrame, source: str) -> pd.Series:
    """Map ``values`` through ``table`` (index = raw value); a raw value absent from the table raises."""
    mapped = values.map(table)
    gap = values.notna() & mapped.isna()
    if gap.any():
        row = int(np.flatnonzero(gap.to_numpy())[0])
        raise DataValidationError(
            f"{_where(items, row)}, {what}: raw score {values.iat[row]:g} has no row in {source}"
        )
    return mapped


def _read_conversion(path: str | Path, columns: list[str]) -> pd.DataFrame:
    path = project_path(path)
    table = pd.read_csv(path)
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise DataValidationError(f"{path}: conversion table lacks columns {absent} (needs {columns})")
    return table


def _promis_t_scores(scores: pd.DataFrame, path: str | Path, items: pd.DataFrame) -> dict[str, pd.Series]:
    table = _read_conversion(path, ["scale", "raw", "t_score", "se"])
    out = {}
    for scale, rows in table.groupby("scale", sort=False):
        if scale not in scores.columns:
            raise DataValidationError(f"{path}: unknown PROMIS-29 scale {scale!r}")
        rows = rows.set_index("raw")
        out[f"{scale}_t"] = _lookup(scores[scale], rows["t_score"], scale, items, str(path))
        out[f"{scale}_se"] = _lookup(scores[scale], rows["se"], scale, items, str(path))
    return out


def _pam_activation(raw: pd.Series, path: str | Path, items: pd.DataFrame) -> pd.Series:
    table = _read_conversion(path, ["raw", "activation"])
    # the licensed table lists raw scores to one decimal; prorated raw scores are matched at that precision
    conversion = table.assign(raw=table["raw"].round(1)).set_index("raw")["activation"]
    return _lookup(raw.round(1), conversion, "pam_raw", items, str(path)).rename("pam_activation")


def score(
    instrument: str,
    items: pd.DataFrame,
    *,
    activation_table: str | Path | None = None,
    promis_t_table: str | Path | None = None,
) -> pd.DataFrame:
    """Score one instrument: one row per row of ``items``, one column per score (names as in CONTRIBUTING.md).

    Sums are in raw-score points, means in item-response points. Missing items follow the key's rule (prorate
    within a score when at most ``max_missing`` items are missing, else NaN). ``bdi`` adds ``bdi_severity``.
    ``activation_table`` (PAM only): CSV with columns raw, activation (the licensed conversion) -> adds
    ``pam_activation``. ``promis_t_table`` (PROMIS-29 only): CSV with columns scale, raw, t_score, se (the
    HealthMeasures v2.0 short-form tables) -> adds ``<scale>_t`` and ``<scale>_se``. ``record_id``/``visit``
    columns of ``items`` are kept; the index is kept as it is.
    """
    key = load_key(instrument)
    if activation_table is not None and instrument != "pam":
        raise ValueError("activation_table applies to the PAM-13 only")
    if promis_t_table is not None and instrument != "promis29":
        raise ValueError("promis_t_table applies to the PROMIS-29 only")
    values = _scale_scores(key, _keyed_columns(key, items))
    scores = pd.DataFrame(values, index=items.index)
    if "severity" in key.meta:
        scores[key.meta["severity"]["column"]] = _severity(key, values)
    if activation_table is not None:
        scores["pam_activation"] = _pam_activation(scores["pam_raw"], activation_table, items).to_numpy()
    if promis_t_table is not None:
        for column, converted in _promis_t_scores(scores, promis_t_table, items).items():
            scores[column] = converted.to_numpy()
    present_ids = [c for c in ID_COLUMNS if c in items.columns]
    return pd.concat([items[present_ids], scores], axis=1) if present_ids else scores


def instruments_present(items: pd.DataFrame) -> list[str]:
    """Instruments with at least one item column in ``items`` (in :data:`INSTRUMENTS` order)."""
    return [name for name in INSTRUMENTS if any(c in items.columns for c in load_key(name).items)]


def score_all(
    items: pd.DataFrame,
    *,
    activation_table: str | Path | None = None,
    promis_t_table: str | Path | None = None,
) -> pd.DataFrame:
    """Score every instrument present in ``items`` (an instrument with only some of its items raises)."""
    present_ids = [c for c in ID_COLUMNS if c in items.columns]
    frames = []
    for name in instruments_present(items):
        extra = {}
        if name == "pam":
            extra["activation_table"] = activation_table
        if name == "promis29":
            extra["promis_t_table"] = promis_t_table
        frames.append(score(name, items, **extra).drop(columns=present_ids))
    return pd.concat([items[present_ids], *frames], axis=1)


def alpha_table(items: pd.DataFrame, instruments: list[str] | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Cronbach's alpha (pingouin) with its confidence interval, per score and visit, as a tidy table.

    Columns: instrument, scale, visit, n (complete cases used), n_items, alpha, ci_low, ci_high. Items are
    reverse-keyed first; scores of fewer than two items are skipped, and a score whose item set repeats an
    earlier one (``pam_mean`` after ``pam_raw``) is listed once. Listwise deletion of incomplete rows.
    """
    if "visit" in items.columns:
        visits = pd.Series(items["visit"].to_numpy())
    else:
        visits = pd.Series(items.index.get_level_values("visit"))
    rows = []
    for name in instruments or instruments_present(items):
        key = load_key(name)
        keyed = keyed_responses(name, items).reset_index(drop=True)
        seen = set()
        for scale, members in key.table.groupby("scale", sort=False)["item"]:
            members = tuple(members)
            if len(members) < 2 or members in seen:
                continue
            seen.add(members)
            for visit, idx in visits.groupby(visits, sort=True).groups.items():
                data = keyed.loc[idx, list(members)].dropna()
                alpha, (low, high) = np.nan, (np.nan, np.nan)
                if len(data) >= 3:
                    # items without variance leave alpha undefined: NaN, without a warning per scale
                    with np.errstate(invalid="ignore", divide="ignore"):
                        alpha, (low, high) = pg.cronbach_alpha(data=data, ci=ci)
                rows.append(dict(instrument=name, scale=scale, visit=visit, n=len(data), n_items=len(members),
                                 alpha=alpha, ci_low=low, ci_high=high))
    return pd.DataFrame(rows, columns=["instrument", "scale", "visit", "n", "n_items", "alpha", "ci_low", "ci_high"])
