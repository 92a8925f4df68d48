"""Read, validate and tidy the raw study files; detection limits, replicate statistics, data quality and flow.

The raw contract (data/README.md): ``roster.csv``, ``redcap_export.csv`` + ``redcap_data_dictionary.csv``,
``sample_manifest.csv`` and ``salivalab_results.csv``. Every file is validated with its pandera schema
(:mod:`helpers.validation`) before anything is derived from it; hard problems raise
:class:`~helpers.validation.DataValidationError`, soft problems (replicate CV above threshold, values outside the
assay range, lab failures, incomplete forms, unanswered or not-applicable items) are kept and listed in the
data-quality table. Flow counts are computed from the roster and the assay files (:func:`flow_table`).

Assay facts (lab analyte labels, units, LLOD, ULOQ, replicates) come from ``assays.yaml`` (paper, Methods 2.5).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from helpers import io, validation
from helpers.validation import EVENTS, DataValidationError

FILES = {
    "roster": "roster.csv",
    "dictionary": "redcap_data_dictionary.csv",
    "items": "redcap_export.csv",
    "manifest": "sample_manifest.csv",
    "results": "salivalab_results.csv",
}
LOD_RULES = ("half", "sqrt2", "lod", "missing")
DQ_COLUMNS = ["file", "row", "record_id", "visit", "column", "value", "rule", "action"]


@functools.cache
def assays() -> dict:
    """Assay facts per analyte (``assays.yaml``), keyed by the project's analyte name."""
    return yaml.safe_load(resources.files("helpers").joinpath("assays.yaml").read_text("utf-8"))


def lab_names() -> dict[str, str]:
    """The lab's analyte label -> the project's analyte name (``Oxytocin`` -> ``oxytocin``)."""
    return {meta["lab_name"]: name for name, meta in assays().items()}


@dataclass
class RawStudy:
    """The validated raw files (coerced dtypes; the index is the 0-based data row, file row = index + 2)."""

    roster: pd.DataFrame
    dictionary: pd.DataFrame
    items: pd.DataFrame
    manifest: pd.DataFrame
    results: pd.DataFrame


def read_csv(path: Path) -> pd.DataFrame:
    """A raw CSV as text (no type guessing: the schemas coerce); empty cells are missing."""
    if not path.is_file():
        raise DataValidationError(f"{path.name}: file not found in {path.parent} (see data/README.md for the contract)")
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def load_raw(raw_dir: str | Path) -> RawStudy:
    """Read and validate the five raw files, in dependency order (roster first: the others refer to it)."""
    raw = io.project_path(raw_dir)
    roster = validation.validate(read_csv(raw / FILES["roster"]), validation.roster_schema(), FILES["roster"])
    ids = roster["record_id"].tolist()
    dictionary = validation.validate(read_csv(raw / FILES["dictionary"]), validation.dictionary_schema(),
                                     FILES["dictionary"])
    items = validation.validate(read_csv(raw / FILES["items"]), validation.redcap_schema(dictionary, ids),
                                FILES["items"])
    manifest = validation.validate(read_csv(raw / FILES["manifest"]), validation.manifest_schema(ids),
                                   FILES["manifest"])
    units = {meta["lab_name"]: meta["units"] for meta in assays().values()}
    results = validation.validate(read_csv(raw / FILES["results"]),
                                  validation.results_schema(manifest["sample_id"].tolist(), units), FILES["results"])
    return RawStudy(roster, dictionary, items, manifest, results)


# ---------------------------------------------------------------------------------------------- questionnaires
def tidy_items(items: pd.DataFrame) -> pd.DataFrame:
    """One row per record_id x visit (``pre``/``post``), item and ``<form>_complete`` columns as integers."""
    out = items.copy()
    out.insert(1, "visit", out.pop("redcap_event_name").map(EVENTS))
    out.insert(2, "file_row", out.index + 2)
    return out.reset_index(drop=True)


def item_quality(items: pd.DataFrame, dictionary: pd.DataFrame) -> pd.DataFrame:
    """Soft problems of the questionnaire export: forms not Complete, unanswered items, not-applicable answers."""
    forms = list(dict.fromkeys(dictionary["Form Name"]))
    fields = dictionary.loc[dictionary["Variable / Field Name"] != "record_id"]
    na_codes = {
        f.iloc[0]: [c for c, label in _choices(f.iloc[5]) if label.strip().upper() in ("N/A", "NOT APPLICABLE")]
        for _, f in fields.iterrows()
    }
    file = "redcap_export.csv"
    meta = items[["record_id", "redcap_event_name"]]
    frames = []
    for form in forms:
        col = f"{form}_complete"
        bad = items.index[items[col] != 2]
        frames.append(pd.DataFrame({
            "index": bad, "column": col, "value": items.loc[bad, col].astype(str),
            "rule": [f"form status {validation.FORM_STATUS[int(v)]} (not Complete)" for v in items.loc[bad, col]],
            "action": "kept; its items are scored under the instrument's missing-item rule"}))
    item_cols = [c for c in fields["Variable / Field Name"] if c in items.columns]
    form_of = pd.Series(dict(zip(fields["Variable / Field Name"], fields["Form Name"], strict=True)))
    status = items[[f"{f}_complete" for f in forms]].set_axis(forms, axis=1)
    missing = items[item_cols].isna().stack()
    missing = missing[missing].reset_index().set_axis(["index", "column", "_"], axis=1)
    # an unanswered item of a form that is not Complete is reported once, as the incomplete form
    form_status = status.to_numpy()[items.index.get_indexer(missing["index"]),
                                    missing["column"].map(form_of).map({f: i for i, f in enumerate(forms)})]
    missing = missing[form_status == 2]
    frames.append(missing.assign(value="", rule="item not answered",
                                 action="kept as missing; scoring prorates or sets the score missing per the key")
                  .drop(columns="_"))
    for column, codes in na_codes.items():
        if codes:
            hit = items.index[items[column].isin(codes)]
            frames.append(pd.DataFrame({"index": hit, "column": column, "value": items.loc[hit, column].astype(str),
                                        "rule": "answered 'not applicable'",
                                        "action": "kept; scored as missing (PAM-13 rule)"}))
    dq = pd.concat(frames, ignore_index=True)
    dq["file"] = file
    dq["row"] = dq["index"].astype(int) + 2
    dq["record_id"] = meta.loc[dq["index"], "record_id"].to_numpy()
    dq["visit"] = meta.loc[dq["index"], "redcap_event_name"].map(EVENTS).to_numpy()
    return dq[DQ_COLUMNS]


def _choices(choices) -> list[tuple[int, str]]:
    if pd.isna(choices) or not str(choices).strip():
        return []
    out = []
    for part in str(choices).split("|"):
        code, _, label = part.partition(",")
        out.append((int(code.strip()), label.strip()))
    return out


def _dq(file, index, row, column, value, rule, action) -> dict:
    visit = row.get("visit") if "visit" in row else EVENTS.get(row.get("redcap_event_name"), None)
    return {"file": file, "row": int(index) + 2, "record_id": row.get("record_id"), "visit": visit,
            "column": column, "value": "" if pd.isna(value) else str(value), "rule": rule, "action": action}


# ------------------------------------------------------------------------------------------------------ assays
def assay_replicates(results: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Long replicate table: sample_id, record_id, visit, analyte, replicate, value_raw, value, censored, bound.

    ``value`` is the measured concentration (pg/mL) or missing when the replicate is censored (``<x``: below the
    lab's lower limit, ``censored = "<LLOD"``; ``>x``: above range, ``">ULOQ"``), with the printed limit in
    ``bound``. Replicates the lab did not run (empty cells) are not rows.
    """
    names = lab_names()
    res = results.assign(analyte=results["analyte"].map(names), file_row=results.index + 2)
    n_reps = {name: meta["replicates"] for name, meta in assays().items()}
    long = res.melt(id_vars=["sample_id", "analyte", "file_row"], value_vars=["rep1", "rep2", "rep3"],
                    var_name="replicate", value_name="value_raw")
    long["replicate"] = long["replicate"].str[3:].astype(int)
    long = long[long["value_raw"].notna() & (long["replicate"] <= long["analyte"].map(n_reps))]
    text = long["value_raw"].astype(str)
    long["censored"] = np.select([text.str.startswith("<"), text.str.startswith(">")], ["<LLOD", ">ULOQ"], "")
    number = pd.to_numeric(text.str.lstrip("<>"), errors="raise")
    long["value"] = number.where(long["censored"] == "")
    long["bound"] = number.where(long["censored"] != "")
    long = long.merge(manifest[["sample_id", "record_id", "visit"]], on="sample_id", how="left")
    cols = ["sample_id", "record_id", "visit", "analyte", "replicate", "value_raw", "value", "censored", "bound",
            "file_row"]
    return long[cols].sort_values(["record_id", "visit", "analyte", "replicate"], kind="stable").reset_index(drop=True)


def lod_value(bound: pd.Series, censored: pd.Series, rule: str) -> pd.Series:
    """The value a censored replicate takes under ``rule`` (pg/mL).

    Below the lower limit L: ``half`` L/2 (default), ``sqrt2`` L/sqrt(2) (Hornung & Reed 1990, Appl Occup Environ
    Hyg 5:46-51), ``lod`` L, ``missing`` no value. Above the range U: U under every rule except ``missing``.
    """
    if rule not in LOD_RULES:
        raise ValueError(f"lod_rule must be one of {', '.join(LOD_RULES)}, got {rule!r}")
    factor = {"half": 0.5, "sqrt2": 1 / np.sqrt(2), "lod": 1.0, "missing": np.nan}[rule]
    low = bound * factor
    high = bound if rule != "missing" else bound * np.nan
    return pd.Series(np.where(censored == "<LLOD", low, np.where(censored == ">ULOQ", high, np.nan)), index=bound.index)


def cv_thresholds(oxytocin: float = 20.0, cytokines: float = 15.0, dheas: float = 15.0) -> dict[str, float]:
    """Replicate CV threshold (%) per analyte from the per-family parameters (``cv_family`` in assays.yaml)."""
    family = {"oxytocin": oxytocin, "cytokines": cytokines, "dheas": dheas}
    return {name: family[meta["cv_family"]] for name, meta in assays().items()}


def biomarkers(results: pd.DataFrame, manifest: pd.DataFrame, lod_rule: str = "half") -> pd.DataFrame:
    """One row per record_id x visit x analyte: value (pg/mL, mean of replicates after the detection-limit rule).

    Columns: sample_id, record_id, visit, analyte, value, cv_pct (replicate CV of the measured replicates, ddof 1,
    needs two), n_replicates (replicates with a value), censored (``<LLOD``/``>ULOQ`` when every replicate is
    censored, ``partly`` when some are), lab_mean, lab_cv_pct, lab_flags, reported (the lab returned any
    replicate: a failed or QNS sample is not reported), file_row.
    """
    reps = assay_replicates(results, manifest)
    reps["used"] = reps["value"].fillna(lod_value(reps["bound"], reps["censored"], lod_rule))
    keys = ["sample_id", "analyte"]
    reps = reps.assign(low=reps["censored"] == "<LLOD", high=reps["censored"] == ">ULOQ")
    grouped = reps.groupby(keys, sort=False)
    summary = grouped.agg(value=("used", "mean"), n_replicates=("used", "count"), measured_mean=("value", "mean"),
                          measured_sd=("value", "std"), n_measured=("value", "count"), n_low=("low", "sum"),
                          n_high=("high", "sum"), n_reported=("value_raw", "count")).reset_index()
    summary["cv_pct"] = (100 * summary["measured_sd"] / summary["measured_mean"]).where(summary["n_measured"] > 1)
    summary["n_censored"] = summary["n_low"] + summary["n_high"]
    summary["censor_kind"] = np.select([(summary["n_low"] > 0) & (summary["n_high"] > 0), summary["n_low"] > 0,
                                        summary["n_high"] > 0], ["<LLOD;>ULOQ", "<LLOD", ">ULOQ"], "")
    res = results.assign(analyte=results["analyte"].map(lab_names()), file_row=results.index + 2)
    out = res[["sample_id", "analyte", "mean", "cv_pct", "flags", "file_row"]].rename(
        columns={"mean": "lab_mean", "cv_pct": "lab_cv_pct", "flags": "lab_flags"})
    out = out.merge(manifest[["sample_id", "record_id", "visit"]], on="sample_id", how="left")
    out = out.merge(summary, on=keys, how="left")
    out["n_replicates"] = out["n_replicates"].fillna(0).astype(int)
    out["reported"] = out["n_reported"].fillna(0) > 0
    full = out["n_censored"].fillna(0) == out["n_reported"].fillna(0)
    out["censored"] = np.where(~out["reported"] | (out["n_censored"].fillna(0) == 0), "",
                               np.where(full, out["censor_kind"].fillna(""), "partly"))
    cols = ["sample_id", "record_id", "visit", "analyte", "value", "cv_pct", "n_replicates", "censored", "reported",
            "lab_mean", "lab_cv_pct", "lab_flags", "file_row"]
    order = {a: i for i, a in enumerate(assays())}
    out = out[cols].assign(_a=out["analyte"].map(order)).sort_values(["record_id", "visit", "_a"], kind="stable")
    return out.drop(columns="_a").reset_index(drop=True)


def assay_quality(markers: pd.DataFrame, thresholds: dict[str, float], lod_rule: str) -> pd.DataFrame:
    """Soft problems of the assay results: lab failures, censored values, replicate CV above threshold."""
    action_low = {"half": "replaced by LLOD/2", "sqrt2": "replaced by LLOD/sqrt(2)", "lod": "replaced by LLOD",
                  "missing": "set missing"}[lod_rule]
    action_high = "replaced by the upper limit" if lod_rule != "missing" else "set missing"
    m = markers
    base = pd.DataFrame({"file": "salivalab_results.csv", "row": m["file_row"].astype(int),
                         "record_id": m["record_id"], "visit": m["visit"], "column": m["analyte"]})
    flags = m["lab_flags"].fillna("").astype(str)
    failed = base[~m["reported"]].assign(
        value=flags[~m["reported"]],
        rule=("no result from the lab (" + flags[~m["reported"]] + ")").str.replace(" ()", "", regex=False),
        action="kept as missing")
    cens = m["reported"] & (m["censored"] != "")
    kind = m.loc[cens, "censored"].map({"<LLOD": "below the lower limit of detection",
                                        ">ULOQ": "above the assay range",
                                        "partly": "some replicates outside the assay range"}).fillna(
        "replicates below and above the assay range")
    action = np.where(m.loc[cens, "censored"] == ">ULOQ", action_high, action_low)
    censored = base[cens].assign(value=m.loc[cens, "lab_mean"].fillna("").astype(str), rule=kind,
                                 action=pd.Series(action, index=kind.index) + f" (lod_rule = {lod_rule})")
    limit = m["analyte"].map(thresholds)
    high = m["reported"] & (m["cv_pct"] > limit)
    high_cv = base[high].assign(value=m.loc[high, "cv_pct"].map("{:.1f}".format),
                                rule="replicate CV above " + limit[high].map("{:g}%".format),
                                action="kept; flagged high_cv (mean of replicates used)")
    return pd.concat([failed, censored, high_cv], ignore_index=True)[DQ_COLUMNS]


# -------------------------------------------------------------------------------------------------------- flow
def flow_flags(roster: pd.DataFrame, markers: pd.DataFrame, min_sessions: int = 6) -> pd.DataFrame:
    """The roster with flow flags derived from it and from the assay files.

    ``saliva_pre`` / ``saliva_post``: the lab reported at least one analyte for that visit's sample.
    ``attendance_ok``: MBPM patients attended at least ``min_sessions`` of 8 sessions (WL: not applicable, true).
    ``analysed``: allocated, not dropped out, attendance_ok, saliva usable at both visits.
    ``exclusion``: the first reason a trial patient is not analysed (dropout, attendance, saliva), in that order.
    """
    reported = markers[markers["reported"]].groupby(["record_id", "visit"]).size().unstack(fill_value=0)
    out = roster.copy()
    for visit in ("pre", "post"):
        col = reported[visit] if visit in reported else pd.Series(dtype=int)
        out[f"saliva_{visit}"] = out["record_id"].map(col).fillna(0).gt(0)
    trial = out["allocated"] == 1
    out["attendance_ok"] = (out["arm"] != "MBPM") | (out["sessions_attended"].fillna(0) >= min_sessions)
    stayed = trial & (out["dropout"] == 0)
    usable = out["saliva_pre"] & out["saliva_post"]
    out["analysed"] = stayed & out["attendance_ok"] & usable
    out["exclusion"] = np.select(
        [~trial, out["dropout"] == 1, ~out["attendance_ok"], ~usable], ["", "dropout", "attendance", "saliva"], "")
    out["exclusion"] = out["exclusion"].where(~out["analysed"], "")
    return out


def complete_cases(flags: pd.DataFrame, markers: pd.DataFrame) -> pd.Series:
    """Analysed patients with every analyte reported at both visits (record_id -> bool)."""
    reported = markers[markers["reported"]]
    cells = reported[["record_id", "visit", "analyte"]].drop_duplicates().groupby("record_id").size()
    ids = flags.loc[flags["analysed"], "record_id"]
    need = 2 * len(assays())
    return pd.Series(ids.map(cells).fillna(0).to_numpy() == need, index=ids.to_numpy())


def flow_table(flags: pd.DataFrame, markers: pd.DataFrame) -> pd.DataFrame:
    """Participant flow (key, n, description), every count computed from the roster and assay files."""
    f = flags
    cc = complete_cases(f, markers)
    arm = f.set_index("record_id")["arm"]

    def pairs(analyte: str, group: str) -> int:
        m = markers[(markers["analyte"] == analyte) & markers["reported"]]
        ids = f.loc[f["analysed"] & (f["arm"] == group), "record_id"]
        both = m[m["record_id"].isin(ids)].groupby("record_id")["visit"].nunique()
        return int((both == 2).sum())

    rows = [
        ("n_total", len(f), "participants in the roster"),
        ("n_cp", (f["cohort"] == "CP").sum(), "chronic-pain patients"),
        ("n_hc", (f["cohort"] == "HC").sum(), "healthy controls"),
        ("n_cp_baseline_only", ((f["cohort"] == "CP") & (f["enrolled"] == 0)).sum(),
         "chronic-pain patients with baseline data only (not enrolled in the trial)"),
        ("n_trial", (f["enrolled"] == 1).sum(), "chronic-pain patients enrolled in the trial"),
    ]
    for group in ("MBPM", "WL"):
        g = f[f["arm"] == group]
        key = group.lower()
        rows += [
            (f"n_{key}_allocated", len(g), f"allocated to {group}"),
            (f"n_{key}_dropout", (g["exclusion"] == "dropout").sum(), f"{group}: dropped out"),
            (f"n_{key}_low_attendance", (g["exclusion"] == "attendance").sum(),
             f"{group}: attended fewer than the minimum sessions"),
            (f"n_{key}_saliva_unusable", (g["exclusion"] == "saliva").sum(),
             f"{group}: no usable saliva sample at one visit"),
            (f"n_{key}_lost", len(g) - g["analysed"].sum(), f"{group}: allocated but not analysed"),
            (f"n_{key}_analysed", g["analysed"].sum(), f"{group}: analysed"),
            (f"n_{key}_complete_cases", int(cc[cc.index.map(arm) == group].sum()),
             f"{group}: analysed with all six analytes at both visits"),
        ]
        for analyte in assays():
            rows.append((f"n_{key}_analysed_{analyte}", pairs(analyte, group),
                         f"{group}: analysed patients with {analyte} at both visits"))
    rows.append(("n_complete_cases", int(cc.sum()), "analysed patients with all six analytes at both visits"))
    table = pd.DataFrame(rows, columns=["key", "n", "description"])
    table["n"] = table["n"].astype(int)
    return table


# ------------------------------------------------------------------------------------------------- top level
@dataclass
class IngestResult:
    """What 01_ingest writes and shows."""

    roster: pd.DataFrame
    items: pd.DataFrame
    replicates: pd.DataFrame
    biomarkers: pd.DataFrame
    data_quality: pd.DataFrame
    flow: pd.DataFrame
    paths: dict[str, Path]


def ingest(
    raw_dir: str | Path,
    build_dir: str | Path,
    lod_rule: str = "half",
    cv_threshold_oxytocin_pct: float = 20.0,
    cv_threshold_cytokines_pct: float = 15.0,
    cv_threshold_dheas_pct: float = 15.0,
    min_sessions: int = 6,
) -> IngestResult:
    """Validate the raw files, derive the tidy tables and write them to ``build_dir/data`` (parquet)."""
    raw = load_raw(raw_dir)
    thresholds = cv_thresholds(cv_threshold_oxytocin_pct, cv_threshold_cytokines_pct, cv_threshold_dheas_pct)
    replicates = assay_replicates(raw.results, raw.manifest)
    markers = biomarkers(raw.results, raw.manifest, lod_rule)
    markers["flags"] = np.where(markers["cv_pct"] > markers["analyte"].map(thresholds), "high_cv", "")
    markers["flags"] = markers["flags"].str.cat(
        np.where(markers["censored"] != "", "censored", ""), sep=";").str.strip(";")
    markers["flags"] = markers["flags"].str.cat(
        np.where(~markers["reported"], "no_result", ""), sep=";").str.strip(";")
    items = tidy_items(raw.items)
    flags = flow_flags(raw.roster, markers, min_sessions)
    dq = pd.concat([item_quality(raw.items, raw.dictionary), assay_quality(markers, thresholds, lod_rule)],
                   ignore_index=True)
    dq = dq.sort_values(["file", "row", "column"], kind="stable").reset_index(drop=True)
    flow = flow_table(flags, markers)
    data_dir = io.project_path(build_dir) / "data"
    tables = {
        "roster": flags.reset_index(drop=True),
        "items": items,
        "assay_replicates": replicates,
        "biomarkers": markers,
        "data_quality": dq,
        "flow": flow,
    }
    paths = {name: io.write_table(table, data_dir / f"{name}.parquet") for name, table in tables.items()}
    return IngestResult(flags, items, replicates, markers, dq, flow, paths)


DQ_KEYS = {
    "item not answered": ("n_missing_items", "questionnaire items left unanswered (kept as missing)"),
    "answered 'not applicable'": ("n_not_applicable", "PAM-13 items answered not applicable (scored as missing)"),
    "form status Incomplete (not Complete)": ("n_incomplete_forms", "questionnaire forms with status Incomplete"),
    "below the lower limit of detection": ("n_below_llod", "assay results below the lower limit of detection"),
    "above the assay range": ("n_above_range", "assay results above the assay range"),
    "some replicates outside the assay range": ("n_partly_censored", "assay results with some replicates censored"),
}


def data_quality_summary(dq: pd.DataFrame) -> pd.DataFrame:
    """Counts of soft problems per file and rule (what the notebook shows instead of participant rows)."""
    return (dq.groupby(["file", "rule", "action"], sort=True).size().rename("n").reset_index()
            .sort_values(["file", "rule"], kind="stable").reset_index(drop=True))


def record_results(res: io.Results, result: IngestResult, lod_rule: str) -> None:
    """Add the flow counts (``flow.*``) and data-quality counts (``dq.*``) of an ingest to ``res``."""
    for row in result.flow.itertuples(index=False):
        res.add(f"flow.{row.key}", int(row.n), row.description)
    dq = result.data_quality
    for rule, (key, description) in DQ_KEYS.items():
        res.add(f"dq.{key}", int((dq["rule"] == rule).sum()), description)
    res.add("dq.n_high_cv", int(dq["rule"].str.startswith("replicate CV above").sum()),
            "assay results whose replicate CV exceeds the analyte family's threshold (kept, flagged)")
    res.add("dq.n_no_result", int(dq["rule"].str.startswith("no result").sum()),
            "sample x analyte rows without a lab result (QNS or assay failure)")
    res.add("dq.lod_rule", lod_rule, "rule applied to values below the lower limit of detection")
