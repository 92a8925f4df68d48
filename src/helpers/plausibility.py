"""Plausibility rules of the raw-data contract: values that pass the schema but cannot be used as they stand.

The rules are data: ``plausibility.csv`` (next to ``assays.yaml``) lists each rule with the file and columns it
reads, its **action** (``reject``: stop ingest before anything is written; ``exclude_and_flag``: the value is set
missing and listed; ``flag_only``: the value is used as reported and listed), its parameter and its source
(assay manual, data dictionary, protocol). data/README.md states the same table for readers. The functions here
find the cells each rule is about (``find_*``); :func:`apply` carries out the action the table gives, so changing
an action is an edit of the table, not of code. Each finding becomes a row of the data-quality table (file, row,
record_id, visit, column, value, rule, action) whose ``rule`` starts with the rule's name (``far_above_range: ...``),
so the counts (``dq.n_<rule>``) and the flow counts follow from the table.

Schema faults (wrong type, unknown id, duplicate key) stay in :mod:`helpers.validation`; the lab's own ``<x`` /
``>x`` markers keep the detection-limit rule of :mod:`helpers.ingest` (``lod_rule``).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import numpy as np
import pandas as pd

from helpers.validation import DataValidationError, compose

__data_files__ = ["plausibility.csv"]

ACTIONS = {
    "reject": "rejected: the file must be corrected",
    "exclude_and_flag": "excluded (set missing, not used) and listed",
    "flag_only": "kept (used as reported) and listed",
}
# actions each rule can carry out (absent data cannot be excluded twice; a reject-only rule has no safe fallback)
SUPPORTED = {
    "missing_code": {"reject", "exclude_and_flag"},
    "lab_failure_with_values": {"reject", "exclude_and_flag", "flag_only"},
    "zero_concentration": {"reject", "exclude_and_flag"},
    "below_range_unmarked": {"reject", "exclude_and_flag", "flag_only"},
    "above_range_unmarked": {"reject", "exclude_and_flag", "flag_only"},
    "far_above_range": {"reject", "exclude_and_flag", "flag_only"},
    "extra_replicate": {"reject", "exclude_and_flag"},
    "absent_from_export": {"reject", "exclude_and_flag", "flag_only"},
    "absent_from_manifest": {"reject", "exclude_and_flag", "flag_only"},
    "absent_from_lab": {"reject", "exclude_and_flag", "flag_only"},
    "unexpected_visit": {"reject", "flag_only"},
    "visit_order": {"reject", "flag_only"},
    "visit_interval": {"reject", "flag_only"},
    "duplicate_sample": {"reject", "flag_only"},
    "empty_design_cell": {"reject"},
}
FINDING_COLUMNS = ["file", "index", "record_id", "visit", "column", "value", "detail", "mask"]
DQ_COLUMNS = ["file", "row", "record_id", "visit", "column", "value", "rule", "action"]
REPLICATES = ["rep1", "rep2", "rep3"]


@functools.cache
def rules() -> pd.DataFrame:
    """The rules table (``plausibility.csv``), indexed by rule name; checked against what the code supports."""
    table = pd.read_csv(resources.files("helpers").joinpath("plausibility.csv").open(encoding="utf-8"),
                        dtype=str, keep_default_na=False).set_index("rule")
    for rule, row in table.iterrows():
        if rule not in SUPPORTED:
            raise ValueError(f"plausibility.csv: rule {rule!r} has no implementation in helpers.plausibility")
        if row["action"] not in SUPPORTED[rule]:
            raise ValueError(f"plausibility.csv: rule {rule!r} cannot take action {row['action']!r} "
                             f"(one of {', '.join(sorted(SUPPORTED[rule]))})")
    missing = set(SUPPORTED) - set(table.index)
    if missing:
        raise ValueError(f"plausibility.csv: no row for rule(s) {', '.join(sorted(missing))}")
    return table


def parameter(rule: str) -> dict[str, str]:
    """A rule's parameter as ``{key: text}`` (the table writes ``key=value; key=value``)."""
    out = {}
    for part in rules().loc[rule, "parameter"].split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def action(rule: str) -> str:
    return rules().loc[rule, "action"]


def missing_codes() -> list[str]:
    """The declared missing codes (``missing_code`` rule; data/dictionary.csv, column ``missing_codes``)."""
    return parameter("missing_code")["codes"].split("|")


# ------------------------------------------------------------------------------------------------- the engine
def findings(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def apply(rule: str, found: pd.DataFrame, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Carry out ``rule``'s action (from the table) on its findings; the data-quality rows.

    ``reject`` raises :class:`DataValidationError` (file, row, column, value, rule). ``exclude_and_flag`` sets the
    cells named in each finding's ``mask`` to missing in ``frame`` (in place). Both listing actions return one
    data-quality row per finding.
    """
    if found.empty:
        return pd.DataFrame(columns=DQ_COLUMNS)
    act = action(rule)
    if act == "reject":
        file = found["file"].iloc[0]
        lines = [f"{f.file}: row {_row(f.index)}, column {f.column!r}, value {f.value!r}: {rule}: {f.detail} "
                 f"(plausibility rule, action reject; see data/README.md)" for f in found.itertuples(index=False)]
        raise DataValidationError(compose(file, lines))
    if act == "exclude_and_flag" and frame is not None:
        for f in found.itertuples(index=False):
            if f.mask:
                frame.loc[f.index, list(f.mask)] = np.nan
    dq = pd.DataFrame({
        "file": found["file"], "row": [_row_int(i) for i in found["index"]], "record_id": found["record_id"],
        "visit": found["visit"], "column": found["column"], "value": found["value"].astype(str),
        "rule": rule + ": " + found["detail"], "action": ACTIONS[act]})
    return dq[DQ_COLUMNS]


def _row(index) -> str:
    return "1 (header)" if index is None or pd.isna(index) else str(int(index) + 2)


def _row_int(index) -> int:
    return 1 if index is None or pd.isna(index) else int(index) + 2


def count(dq: pd.DataFrame, rule: str) -> int:
    """Data-quality rows written by ``rule``."""
    return int(dq["rule"].str.startswith(rule + ":").sum())


# ------------------------------------------------------------------------------------------- missing codes
def find_missing_codes(frame: pd.DataFrame, file: str, columns: list[str], ids: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """Cells of ``columns`` holding a declared missing code (compared after trimming, letters case-insensitive)."""
    codes = {c.upper() for c in missing_codes()}
    columns = [c for c in columns if c in frame.columns]
    distinct = pd.unique(frame[columns].to_numpy().ravel()) if columns else []
    coded = [v for v in distinct if isinstance(v, str) and v.strip().upper() in codes]
    rows = []
    if not coded:
        return findings(rows)
    hits = frame[columns].isin(coded)
    for col in hits.columns[hits.any()]:
        for idx in frame.index[hits[col]]:
            value = str(frame.loc[idx, col]).strip()
            rec, visit = _who(frame, idx, ids)
            rows.append({"file": file, "index": idx, "record_id": rec, "visit": visit, "column": col,
                         "value": value, "detail": f"{value!r} is a declared missing code (data/dictionary.csv)",
                         "mask": (col,)})
    return findings(rows)


def _who(frame: pd.DataFrame, idx, ids: pd.DataFrame | None) -> tuple:
    """record_id and visit of a row (lab rows: through the manifest's sample_id)."""
    row = frame.loc[idx]
    if "record_id" in frame.columns:
        visit = row.get("visit")
        if visit is None and "redcap_event_name" in frame.columns:
            visit = {"baseline_arm_1": "pre", "post_arm_1": "post"}.get(row["redcap_event_name"])
        return row["record_id"], visit
    if ids is not None and "sample_id" in frame.columns and row["sample_id"] in ids.index:
        hit = ids.loc[row["sample_id"]]
        return hit["record_id"], hit["visit"]
    return None, None


# ------------------------------------------------------------------------------------------------- lab values
def find_lab_failures(results: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    """Results the lab flags as failed (``flags`` parameter) that nevertheless carry replicate values."""
    failed_flags = parameter("lab_failure_with_values")["flags"].split("|")
    flags = results["flags"].fillna("").astype(str)
    failed = flags.str.contains("|".join(map(re.escape, failed_flags)), case=False, regex=True)
    has_values = results[REPLICATES].notna().any(axis=1)
    rows = []
    for idx in results.index[failed & has_values]:
        cells = [c for c in REPLICATES if pd.notna(results.loc[idx, c])]
        rec, visit = _who(results, idx, ids)
        rows.append({"file": "salivalab_results.csv", "index": idx, "record_id": rec, "visit": visit,
                     "column": ", ".join(cells), "value": ", ".join(results.loc[idx, cells]),
                     "detail": f"{results.loc[idx, 'analyte']} flagged {flags[idx]!r} by the lab but has values",
                     "mask": (*REPLICATES, "mean")})
    return findings(rows)


def find_extra_replicates(results: pd.DataFrame, ids: pd.DataFrame, replicates: dict[str, int]) -> pd.DataFrame:
    """Values in replicate columns the assay does not run (``rep3`` of a duplicate assay; ``replicates``: lab label
    -> replicates per sample from assays.yaml)."""
    n = results["analyte"].map(replicates)
    rows = []
    for k, col in enumerate(REPLICATES, start=1):
        for idx in results.index[results[col].notna() & (n < k)]:
            rec, visit = _who(results, idx, ids)
            rows.append({"file": "salivalab_results.csv", "index": idx, "record_id": rec, "visit": visit,
                         "column": col, "value": results.loc[idx, col],
                         "detail": (f"{results.loc[idx, 'analyte']} is run in {n[idx]} replicates (assays.yaml); a "
                                    f"value in {col} is not used"), "mask": (col,)})
    return findings(rows)


def find_unmarked_out_of_range(results: pd.DataFrame, ids: pd.DataFrame, limits: dict[str, tuple[float, float]]
                               ) -> dict[str, pd.DataFrame]:
    """Replicates without a ``<``/``>`` marker outside the assay's range, per rule.

    ``limits`` maps the lab's analyte label to (llod, uloq) in pg/mL (assays.yaml). Returns findings for
    ``zero_concentration`` (<= 0), ``below_range_unmarked`` (0 < x < llod), ``above_range_unmarked``
    (uloq < x <= factor x uloq) and ``far_above_range`` (> factor x uloq).
    """
    factor = float(parameter("far_above_range")["above_factor"])
    llod = results["analyte"].map({k: v[0] for k, v in limits.items()})
    uloq = results["analyte"].map({k: v[1] for k, v in limits.items()})
    out: dict[str, list] = {r: [] for r in ("zero_concentration", "below_range_unmarked", "above_range_unmarked",
                                            "far_above_range")}
    values = {c: pd.to_numeric(results[c].where(~results[c].fillna("").astype(str).str[:1].isin(["<", ">"])),
                               errors="coerce") for c in REPLICATES}
    tests = {
        "zero_concentration": lambda v: v <= 0,
        "below_range_unmarked": lambda v: (v > 0) & (v < llod),
        "above_range_unmarked": lambda v: (v > uloq) & (v <= factor * uloq),
        "far_above_range": lambda v: v > factor * uloq,
    }
    details = {
        "zero_concentration": lambda a, lo, hi: f"{a}: not a concentration (<= 0) and no '<' marker",
        "below_range_unmarked": lambda a, lo, hi: f"{a}: below the lower limit {lo:g} pg/mL without a '<' marker",
        "above_range_unmarked": lambda a, lo, hi: (f"{a}: above the upper limit {hi:g} pg/mL (up to {factor:g} x) "
                                                   "without a '>' marker"),
        "far_above_range": lambda a, lo, hi: (f"{a}: more than {factor:g} x the upper limit {hi:g} pg/mL without a "
                                              "'>' marker"),
    }
    for rule, test in tests.items():
        hits = pd.DataFrame({c: test(values[c]).fillna(False) for c in REPLICATES})
        for idx in results.index[hits.any(axis=1)]:
            cells = [c for c in REPLICATES if hits.loc[idx, c]]
            rec, visit = _who(results, idx, ids)
            analyte = results.loc[idx, "analyte"]
            out[rule].append({"file": "salivalab_results.csv", "index": idx, "record_id": rec, "visit": visit,
                              "column": ", ".join(cells), "value": ", ".join(results.loc[idx, cells]),
                              "detail": details[rule](analyte, llod[idx], uloq[idx]), "mask": tuple(cells)})
    return {rule: findings(rows) for rule, rows in out.items()}


def find_duplicate_samples(results: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    """Two sample ids whose results agree for every analyte (at least one measured, uncensored replicate)."""
    cells = results[REPLICATES].fillna("").astype(str)
    signature = cells["rep1"] + "|" + cells["rep2"] + "|" + cells["rep3"]
    measured = pd.DataFrame({c: pd.to_numeric(results[c], errors="coerce").notna() for c in REPLICATES}).any(axis=1)
    frame = pd.DataFrame({"sample_id": results["sample_id"], "analyte": results["analyte"], "sig": signature})
    wide = frame.pivot(index="sample_id", columns="analyte", values="sig").fillna("")
    wide = wide[measured.groupby(results["sample_id"]).any().reindex(wide.index, fill_value=False)]
    hashed = pd.util.hash_pandas_object(wide, index=False)
    dup = hashed[hashed.duplicated(keep=False)]
    if dup.empty:
        return findings([])
    first_row = results.reset_index().groupby("sample_id")["index"].min()
    rows = []
    for _, group in dup.groupby(dup):
        ordered = sorted(group.index, key=lambda s: first_row[s])
        for sample in ordered[1:]:
            if not wide.loc[sample].equals(wide.loc[ordered[0]]):
                continue  # a hash collision, not a duplicate
            idx = first_row[sample]
            rec, visit = _who(results, idx, ids)
            rows.append({"file": "salivalab_results.csv", "index": idx, "record_id": rec, "visit": visit,
                         "column": "sample_id", "value": sample,
                         "detail": (f"every analyte's replicates equal those of sample {ordered[0]} (row "
                                    f"{first_row[ordered[0]] + 2}): one sample entered under two ids"),
                         "mask": ()})
    return findings(rows)


def find_absent_lab_rows(results: pd.DataFrame, manifest: pd.DataFrame, analytes: list[str]) -> pd.DataFrame:
    """Manifest samples without a lab row for an analyte (``analytes``: the lab's labels)."""
    grid = pd.MultiIndex.from_product([manifest["sample_id"], analytes], names=["sample_id", "analyte"])
    have = pd.MultiIndex.from_frame(results[["sample_id", "analyte"]])
    missing = grid[~grid.isin(have)].to_frame(index=False)
    if missing.empty:
        return findings([])
    lacking = missing.groupby("sample_id", sort=False)["analyte"].agg(", ".join)
    row_of = pd.Series(manifest.index, index=manifest["sample_id"])
    rows = []
    for sample, labels in lacking.items():
        idx = row_of[sample]
        rows.append({"file": "sample_manifest.csv", "index": idx, "record_id": manifest.loc[idx, "record_id"],
                     "visit": manifest.loc[idx, "visit"], "column": "sample_id x analyte",
                     "value": f"{sample}: {labels}",
                     "detail": "no row in salivalab_results.csv for this sample and analyte(s); treated as no result",
                     "mask": ()})
    return findings(rows)


# ---------------------------------------------------------------------------------------- who is expected where
def expected_visits(roster: pd.DataFrame) -> pd.DataFrame:
    """(record_id, visit) pairs the roster expects: pre for everyone, post for allocated non-drop-outs."""
    pre = roster[["record_id"]].assign(visit="pre")
    post = roster.loc[(roster["allocated"] == 1) & (roster["dropout"] == 0), ["record_id"]].assign(visit="post")
    return pd.concat([pre, post], ignore_index=True)


def find_absent(roster: pd.DataFrame, present: pd.DataFrame, rule: str, target: str, key: str) -> pd.DataFrame:
    """Roster participants expected at a visit without a row in ``target`` (``present``: record_id, visit)."""
    expected = expected_visits(roster)
    have = pd.MultiIndex.from_frame(present[["record_id", "visit"]].astype(str))
    missing = expected[~pd.MultiIndex.from_frame(expected.astype(str)).isin(have)]
    row_of = pd.Series(roster.index, index=roster["record_id"])
    return findings([{"file": "roster.csv", "index": row_of[rec], "record_id": rec, "visit": visit,
                      "column": f"{target}: {key}", "value": f"{rec}, {visit}",
                      "detail": f"expected at visit {visit} by the roster, no row in {target}", "mask": ()}
                     for rec, visit in missing.itertuples(index=False)])


def find_unexpected(roster: pd.DataFrame, frame: pd.DataFrame, visits: pd.Series, file: str) -> pd.DataFrame:
    """Post-visit rows of ``file`` for participants the roster does not expect at post."""
    expected = set(expected_visits(roster).query("visit == 'post'")["record_id"])
    hit = frame.index[(visits == "post") & ~frame["record_id"].isin(expected)]
    return findings([{"file": file, "index": idx, "record_id": frame.loc[idx, "record_id"], "visit": "post",
                      "column": "record_id", "value": frame.loc[idx, "record_id"],
                      "detail": "a post-visit row for a participant not allocated or dropped out (roster.csv); "
                                "not analysed", "mask": ()} for idx in hit])


def find_visit_dates(manifest: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``visit_order`` (post on or before pre) and ``visit_interval`` (outside min_days..max_days) findings."""
    p = parameter("visit_interval")
    lo, hi = int(p["min_days"]), int(p["max_days"])
    m = manifest.assign(date=pd.to_datetime(manifest["collection_date"], format="%Y-%m-%d"), index=manifest.index)
    pairs = m[m["visit"] == "post"].merge(m[m["visit"] == "pre"][["record_id", "date", "index"]], on="record_id",
                                          suffixes=("", "_pre"))
    pairs["days"] = (pairs["date"] - pairs["date_pre"]).dt.days
    out: dict[str, list] = {"visit_order": [], "visit_interval": []}
    bad = pairs[(pairs["days"] <= 0) | (pairs["days"] < lo) | (pairs["days"] > hi)]
    for f in bad.itertuples(index=False):
        base = {"file": "sample_manifest.csv", "index": f.index, "record_id": f.record_id, "visit": "post",
                "column": "collection_date", "value": f.collection_date, "mask": ()}
        pre_text = f"pre-visit sample {f.date_pre:%Y-%m-%d} (row {f.index_pre + 2})"
        if f.days <= 0:
            out["visit_order"].append({**base, "detail": f"post-visit sample not after the {pre_text}"})
        else:
            out["visit_interval"].append({**base, "detail": f"{f.days} days after the {pre_text}; expected {lo}-{hi}"})
    return {rule: findings(rows) for rule, rows in out.items()}


# ------------------------------------------------------------------------------------------ empty design cells
def find_empty_cells(flags: pd.DataFrame, markers: pd.DataFrame, analytes: dict[str, str]) -> pd.DataFrame:
    """Arm x analyte (and cohort x analyte at baseline) cells with too few usable results for the analyses.

    ``markers``: the biomarkers table after every exclusion (``reported`` = usable); ``analytes``: project name ->
    lab label. Parameters (``empty_design_cell``): ``min_pairs`` analysed patients with the analyte at both visits
    per arm, ``min_complete`` complete cases per arm, ``min_baseline`` baseline values per cohort.
    """
    p = {k: int(v) for k, v in parameter("empty_design_cell").items()}
    usable = markers.loc[markers["reported"], ["record_id", "visit", "analyte"]].drop_duplicates()
    person = flags.set_index("record_id")
    # per participant x analyte: visits with a usable result
    visits = usable.groupby(["record_id", "analyte"]).size().unstack(fill_value=0)
    visits = visits.reindex(index=person.index, columns=list(analytes), fill_value=0)
    pre = usable[usable["visit"] == "pre"].assign(one=1).pivot_table(
        index="record_id", columns="analyte", values="one", aggfunc="size", fill_value=0)
    pre = pre.reindex(index=person.index, columns=list(analytes), fill_value=0)
    rows = []
    for arm in ("MBPM", "WL"):
        members = person.index[person["analysed"] & (person["arm"] == arm)]
        if members.empty:
            rows.append(_cell_finding(markers, flags, arm, None, 0, p["min_pairs"], "analysed patients"))
            continue
        both = visits.loc[members] == 2
        for name in analytes:
            n = int(both[name].sum())
            if n < p["min_pairs"]:
                rows.append(_cell_finding(markers, flags, arm, name, n, p["min_pairs"],
                                          f"analysed patients with {name} at both visits", analytes[name]))
        complete = int(both.all(axis=1).sum())
        if complete < p["min_complete"]:
            rows.append(_cell_finding(markers, flags, arm, None, complete, p["min_complete"],
                                      "complete cases (all analytes at both visits)"))
    for cohort in ("CP", "HC"):
        members = person.index[person["cohort"] == cohort]
        for name in analytes:
            n = int((pre.loc[members, name] > 0).sum())
            if n < p["min_baseline"]:
                rows.append(_cell_finding(markers, flags, cohort, name, n, p["min_baseline"],
                                          f"baseline {name} values", analytes[name], column="cohort"))
    return findings(rows)


def _cell_finding(markers, flags, group, analyte, n, need, what, label=None, column="arm") -> dict:
    members = flags.loc[flags[column] == group, "record_id"]
    if column == "arm":
        members = flags.loc[flags["analysed"] & (flags["arm"] == group), "record_id"]
    cell = markers[markers["record_id"].isin(members)]
    if analyte is not None:
        cell = cell[cell["analyte"] == analyte]
    unusable = cell[~cell["reported"]]
    why = unusable["lab_flags"].fillna("").replace("", "no value").value_counts()
    if "excluded" in unusable:
        excluded = unusable["excluded"].fillna("")
        why = excluded.where(excluded != "", unusable["lab_flags"].fillna("").replace("", "no value")).value_counts()
    reasons = "; ".join(f"{k} x{v}" for k, v in why.items()) or "no results"
    rows = sorted(cell.loc[~cell["reported"], "file_row"].dropna().astype(int).tolist())
    shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
    return {"file": "salivalab_results.csv", "index": (rows[0] - 2) if rows else None, "record_id": None,
            "visit": None, "column": "analyte" if analyte else column,
            "value": label if label else group,
            "detail": (f"{column} {group} has {n} {what}; the analyses need at least {need} (paired t-tests, the "
                       f"Time x Biomarker x Group ANOVA, the baseline comparison); unusable results ({reasons}) in "
                       f"rows {shown or 'none'}; ingest stops before writing anything"),
            "mask": ()}
