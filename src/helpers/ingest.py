"""Read, validate and tidy the raw study files; detection limits, replicate statistics, data quality and flow.

The raw contract (data/README.md): ``roster.csv``, ``redcap_export.csv`` + ``redcap_data_dictionary.csv``,
``sample_manifest.csv`` and ``salivalab_results.csv``. Every file is read by the guarded reader
(:mod:`helpers.reader`: encoding, delimiter, ragged rows, empty files), validated with its pandera schema
(:mod:`helpers.validation`) and checked by the plausibility rules of ``plausibility.csv``
(:mod:`helpers.plausibility`: missing codes, values outside the assay range without a marker, absent or
unexpected visits, visit dates, duplicate samples, empty design cells) before anything is derived from it or
written. Hard problems raise :class:`~helpers.validation.DataValidationError`; soft problems (replicate CV above
threshold, values outside the assay range, lab failures, incomplete forms, unanswered or not-applicable items,
plausibility findings whose action is exclude-and-flag or flag-only) are kept and listed in the data-quality
table. Flow counts are computed from the roster and the assay files (:func:`flow_table`,
:func:`plausibility_flow`).

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

from helpers import io, plausibility, reader, validation
from helpers.validation import EVENTS, DataValidationError  # noqa: F401  (re-exported)

__data_files__ = ["assays.yaml"]  # read by assays(): a change re-runs 01_ingest

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
    """The validated raw files (coerced dtypes; the index is the 0-based data row, file row = index + 2).

    ``quality``: data-quality rows of the plausibility rules applied while loading (cells an exclude rule set
    missing are already missing in the frames).
    """

    roster: pd.DataFrame
    dictionary: pd.DataFrame
    items: pd.DataFrame
    manifest: pd.DataFrame
    results: pd.DataFrame
    quality: pd.DataFrame


def read_csv(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """A raw CSV as text through the guarded reader (:mod:`helpers.reader`); empty cells are missing."""
    return reader.read_raw_csv(path, encoding)


def _encoding(encoding: str | dict | None, file: str) -> str | None:
    if isinstance(encoding, dict):
        return encoding.get(file)
    return encoding


def load_raw(raw_dir: str | Path, encoding: str | dict[str, str] | None = None) -> RawStudy:
    """Read and validate the five raw files, in dependency order (roster first: the others refer to it).

    Each file goes through the guarded reader, the declared missing codes (plausibility rule ``missing_code``),
    its pandera schema and then the plausibility rules that concern it (``plausibility.csv``). ``encoding``: None
    (UTF-8 only), one codec name for every file, or ``{file name: codec}``.
    """
    raw = io.project_path(raw_dir)
    dq: list[pd.DataFrame] = []

    def read(key: str) -> pd.DataFrame:
        return read_csv(raw / FILES[key], _encoding(encoding, FILES[key]))

    def codes(frame: pd.DataFrame, key: str, columns: list[str], ids: pd.DataFrame | None = None) -> None:
        found = plausibility.find_missing_codes(frame, FILES[key], columns, ids)
        dq.append(plausibility.apply("missing_code", found, frame))

    roster = validation.validate(read("roster"), validation.roster_schema(), FILES["roster"])
    ids = roster["record_id"].tolist()
    dictionary = validation.validate(read("dictionary"), validation.dictionary_schema(), FILES["dictionary"])

    items = read("items")
    item_fields = set(dictionary["Variable / Field Name"]) - {"record_id"}
    codes(items, "items", [c for c in items.columns if c in item_fields])
    items = validation.validate(items, validation.redcap_schema(dictionary, ids), FILES["items"])
    visits = items["redcap_event_name"].map(EVENTS)
    present = pd.DataFrame({"record_id": items["record_id"], "visit": visits})
    dq.append(plausibility.apply("absent_from_export", plausibility.find_absent(
        roster, present, "absent_from_export", FILES["items"], "record_id x redcap_event_name")))
    dq.append(plausibility.apply("unexpected_visit", plausibility.find_unexpected(roster, items, visits,
                                                                                  FILES["items"])))

    manifest = read("manifest")
    codes(manifest, "manifest", ["collection_time"])
    manifest = validation.validate(manifest, validation.manifest_schema(ids), FILES["manifest"])
    dates = plausibility.find_visit_dates(manifest)
    dq.append(plausibility.apply("visit_order", dates["visit_order"]))
    dq.append(plausibility.apply("visit_interval", dates["visit_interval"]))
    dq.append(plausibility.apply("absent_from_manifest", plausibility.find_absent(
        roster, manifest, "absent_from_manifest", FILES["manifest"], "record_id x visit")))
    dq.append(plausibility.apply("unexpected_visit", plausibility.find_unexpected(roster, manifest,
                                                                                  manifest["visit"],
                                                                                  FILES["manifest"])))

    samples = manifest.set_index("sample_id")[["record_id", "visit"]]
    results = read("results")
    codes(results, "results", ["rep1", "rep2", "rep3", "mean", "cv_pct"], samples)
    units = {meta["lab_name"]: meta["units"] for meta in assays().values()}
    results = validation.validate(results, validation.results_schema(manifest["sample_id"].tolist(), units),
                                  FILES["results"])
    dq.append(plausibility.apply("duplicate_sample", plausibility.find_duplicate_samples(results, samples)))
    dq.append(plausibility.apply("lab_failure_with_values", plausibility.find_lab_failures(results, samples),
                                 results))
    dq.append(plausibility.apply("extra_replicate", plausibility.find_extra_replicates(
        results, samples, {meta["lab_name"]: meta["replicates"] for meta in assays().values()}), results))
    limits = {meta["lab_name"]: (meta["llod"], meta["uloq"]) for meta in assays().values()}
    for rule, found in plausibility.find_unmarked_out_of_range(results, samples, limits).items():
        dq.append(plausibility.apply(rule, found, results))
    dq.append(plausibility.apply("absent_from_lab", plausibility.find_absent_lab_rows(
        results, manifest, list(units))))
    quality = pd.concat([d for d in dq if not d.empty], ignore_index=True) if any(not d.empty for d in dq) \
        else pd.DataFrame(columns=DQ_COLUMNS)
    return RawStudy(roster, dictionary, items, manifest, results, quality)


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
    replicate: a failed or QNS sample is not reported), file_row. :func:`ingest` adds ``excluded`` (the
    plausibility rules that set cells of the row missing; those cells are already missing in ``results``, so an
    excluded result is not reported) and ``flags``.
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
    # a result emptied by a plausibility rule is listed by that rule; the lab's own failure flag is still listed
    lost = ~m["reported"] & ((m["excluded"] == "") | (flags != "") if "excluded" in m else True)
    failed = base[lost].assign(
        value=flags[lost],
        rule=("no result from the lab (" + flags[lost] + ")").str.replace(" ()", "", regex=False),
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
    encoding: str | dict[str, str] | None = None,
) -> IngestResult:
    """Validate the raw files, derive the tidy tables and write them to ``build_dir/data`` (parquet).

    Every check (reader, schemas, plausibility rules including the empty-design-cell rule) runs before the first
    file is written: a rejected input leaves ``build_dir`` untouched. ``encoding``: see :func:`load_raw`.
    """
    raw = load_raw(raw_dir, encoding)
    thresholds = cv_thresholds(cv_threshold_oxytocin_pct, cv_threshold_cytokines_pct, cv_threshold_dheas_pct)
    replicates = assay_replicates(raw.results, raw.manifest)
    markers = biomarkers(raw.results, raw.manifest, lod_rule)
    markers["excluded"] = excluded_by(raw.quality, markers)
    markers["flags"] = np.where(markers["cv_pct"] > markers["analyte"].map(thresholds), "high_cv", "")
    markers["flags"] = markers["flags"].str.cat(
        np.where(markers["censored"] != "", "censored", ""), sep=";").str.strip(";")
    markers["flags"] = markers["flags"].str.cat(
        np.where(~markers["reported"], "no_result", ""), sep=";").str.strip(";")
    markers["flags"] = markers["flags"].str.cat(
        np.where(markers["excluded"] != "", "excluded", ""), sep=";").str.strip(";")
    items = tidy_items(raw.items)
    flags = flow_flags(raw.roster, markers, min_sessions)
    plausibility.apply("empty_design_cell", plausibility.find_empty_cells(
        flags, markers, {name: meta["lab_name"] for name, meta in assays().items()}))
    dq = pd.concat([_without_coded(item_quality(raw.items, raw.dictionary), raw.quality),
                    assay_quality(markers, thresholds, lod_rule), raw.quality], ignore_index=True)
    dq = dq.astype({"row": int}).sort_values(["file", "row", "column"], kind="stable").reset_index(drop=True)
    flow = pd.concat([flow_table(flags, markers), plausibility_flow(raw.quality, markers)], ignore_index=True)
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


def excluded_by(quality: pd.DataFrame, markers: pd.DataFrame) -> pd.Series:
    """Per biomarkers row: the plausibility rules that set some of its lab cells missing (``;``-joined)."""
    q = quality[(quality["file"] == FILES["results"])
                & (quality["action"] == plausibility.ACTIONS["exclude_and_flag"])]
    by_row = q.assign(rule=q["rule"].str.split(":").str[0]).groupby("row")["rule"].agg(
        lambda r: ";".join(dict.fromkeys(r)))
    mapped = markers["file_row"].map(by_row).astype(object)
    return mapped.where(mapped.notna(), "").astype(str)


def _without_coded(item_dq: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """Item-quality rows minus 'item not answered' for cells already listed as a declared missing code."""
    coded = quality[quality["rule"].str.startswith("missing_code:") & (quality["file"] == FILES["items"])]
    keys = set(zip(coded["row"].astype(int), coded["column"], strict=True))
    drop = item_dq.apply(lambda r: r["rule"] == "item not answered" and (int(r["row"]), r["column"]) in keys,
                         axis=1) if len(item_dq) else pd.Series(dtype=bool)
    return item_dq[~drop] if len(item_dq) else item_dq


def plausibility_flow(quality: pd.DataFrame, markers: pd.DataFrame) -> pd.DataFrame:
    """Flow counts of what the plausibility rules found: absent questionnaires and samples, excluded results."""
    def absent(rule: str, visit: str) -> int:
        q = quality[quality["rule"].str.startswith(rule + ":") & (quality["visit"] == visit)]
        return int(q["record_id"].nunique())

    rows = [
        ("n_questionnaire_missing_pre", absent("absent_from_export", "pre"),
         "participants without a baseline questionnaire row (absent_from_export; listed in the data-quality table)"),
        ("n_questionnaire_missing_post", absent("absent_from_export", "post"),
         "trial patients who did not drop out without a post-visit questionnaire row (absent_from_export)"),
        ("n_saliva_missing_pre", absent("absent_from_manifest", "pre"),
         "participants without a baseline saliva sample in the manifest (absent_from_manifest)"),
        ("n_saliva_missing_post", absent("absent_from_manifest", "post"),
         "trial patients who did not drop out without a post-visit saliva sample (absent_from_manifest)"),
        ("n_results_excluded", int(((markers["excluded"] != "") & ~markers["reported"]).sum()),
         "sample x analyte results left without any usable value by a plausibility rule (excluded, listed)"),
    ]
    return pd.DataFrame(rows, columns=["key", "n", "description"]).astype({"n": int})


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
    for rule, row in plausibility.rules().iterrows():
        if row["action"] != "reject":
            res.add(f"dq.n_{rule}", plausibility.count(dq, rule),
                    f"data-quality rows of plausibility rule {rule} ({row['action']}; data/README.md)")
    res.add("dq.lod_rule", lod_rule, "rule applied to values below the lower limit of detection")
