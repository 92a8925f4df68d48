"""Input validation: pandera schemas for the raw files and the error that names what is wrong.

One schema per raw file (the contract documented in data/README.md). Schemas that depend on another file (the
participants the roster knows, the samples the manifest lists, the item codes the REDCap data dictionary allows)
are built from that file, so a cross-file problem (a visit for an unknown participant, an item value outside the
dictionary's codes) is reported by the same machinery as a malformed cell. :func:`validate` runs a schema lazily
(all problems at once) and turns pandera's failure cases into one :class:`DataValidationError` whose lines name
file, row (spreadsheet-style: the header is row 1, the first record row 2), column, offending value and rule.
"""

from __future__ import annotations

import re

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

MAX_LINES = 25

EVENTS = {"baseline_arm_1": "pre", "post_arm_1": "post"}
VISITS = ("pre", "post")
FORM_STATUS = {0: "Incomplete", 1: "Unverified", 2: "Complete"}
REDCAP_DICTIONARY_COLUMNS = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation",
)
LAB_VALUE = r"^([<>]?\d+(\.\d+)?)?$"  # empty, a number, or a censored number such as <8.00 / >1000.00


class DataValidationError(ValueError):
    """Bad input: the message names file, row (spreadsheet-style, header = row 1), column, value and rule."""


# ------------------------------------------------------------------------------------------ failure messages
_BUILTIN_RULES = {
    "column_in_schema": "unknown column (not part of this file's contract, see data/README.md)",
    "column_in_dataframe": "required column missing",
    "not_nullable": "a value is required",
    "field_uniqueness": "duplicate value (must be unique)",
}


def _rule(check: str, unique: list[str] | None) -> str:
    if check in _BUILTIN_RULES:
        return _BUILTIN_RULES[check]
    if check == "multiple_fields_uniqueness":
        return f"duplicate {' x '.join(unique or [])} (each combination must appear once)"
    m = re.match(r"coerce_dtype\('(\w+)'\)", check)
    if m:
        kind = {"Int64": "a whole number", "int64": "a whole number", "float64": "a number"}.get(m.group(1), m.group(1))
        return f"must be {kind}"
    return check


def _row(index) -> str:
    try:
        return str(int(index) + 2)
    except (TypeError, ValueError):
        return "1 (header)"


def failure_messages(err: SchemaErrors, file: str, data: pd.DataFrame, unique: list[str] | None = None) -> list[str]:
    """One line per problem: ``file: row R, column 'C', value 'V': rule``.

    Dataframe-wide checks name the columns they involve in their error text (``[col_a, col_b] rule``); their
    failure is reported once per row with those columns' values.
    """
    cases = err.failure_cases.copy()
    coerce_failed = set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"].dropna())
    lines: list[str] = []
    seen: set[tuple] = set()
    for case in cases.itertuples(index=False):
        check = str(case.check)
        column = None if pd.isna(case.column) else str(case.column)
        if check.startswith("dtype(") or (column in coerce_failed and not check.startswith("coerce_dtype")):
            continue  # consequence of a failed coercion, already reported
        if case.index is None and check not in ("column_in_schema", "column_in_dataframe"):
            continue  # a check that could not run on uncoerced values
        m = re.match(r"^\[([^\]]+)\] (.*)$", check)
        if m:  # dataframe-wide check naming its columns
            columns = [c.strip() for c in m.group(1).split(",")]
            key = (case.index, check)
            if key in seen:
                continue
            seen.add(key)
            row = data.loc[case.index] if case.index in data.index else None
            values = ", ".join(f"{c}={row[c]!r}" if row is not None and c in row.index else c for c in columns)
            lines.append(f"{file}: row {_row(case.index)}, columns {', '.join(columns)}, values {values}: {m.group(2)}")
            continue
        if check == "column_in_schema":
            lines.append(f"{file}: row 1 (header), column {case.failure_case!r}: {_rule(check, unique)}")
            continue
        if check == "column_in_dataframe":
            lines.append(f"{file}: row 1 (header), column {case.failure_case!r}: {_rule(check, unique)}")
            continue
        value = case.failure_case
        if hasattr(value, "item") and not isinstance(value, str):
            value = value.item()  # numpy scalar: show 999, not np.int64(999)
        if check == "multiple_fields_uniqueness" and case.index in data.index:
            value = ", ".join(str(data.loc[case.index, c]) if c in data.columns else "?" for c in unique or [])
            column = " x ".join(unique or [])
        key = (case.index, column, check)
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"{file}: row {_row(case.index)}, column {column!r}, value {value!r}: {_rule(check, unique)}")
    return lines


def header_problems(columns, schema: pa.DataFrameSchema, file: str) -> list[str]:
    """Header names that match a contract column only up to case or spaces (``Record_ID`` for ``record_id``).

    Reported before the schema runs: otherwise the column is both unknown and missing, and every check that uses
    it fails for a reason the message would not show.
    """
    expected = {str(c).strip().lower(): c for c in schema.columns}
    lines = []
    for col in columns:
        if col in schema.columns:
            continue
        match = expected.get(str(col).strip().lower())
        if match is not None and match not in columns:
            lines.append(f"{file}: row 1 (header), column {col!r}, value {col!r}: column names are case-sensitive "
                         f"and exact; expected {match!r}")
    return lines


def validate(data: pd.DataFrame, schema: pa.DataFrameSchema, file: str) -> pd.DataFrame:
    """Validate ``data`` (as read from ``file``) with ``schema``; the coerced frame, or DataValidationError."""
    header = header_problems(list(data.columns), schema, file)
    if header:
        raise DataValidationError(compose(file, header))
    try:
        return schema.validate(data, lazy=True)
    except SchemaErrors as err:
        unique = schema.unique if isinstance(schema.unique, list) else None
        lines = failure_messages(err, file, data, unique)
        raise DataValidationError(compose(file, lines)) from None


def compose(file: str, lines: list[str]) -> str:
    """The error message: ``<file> failed validation (N problems):`` and one indented line per problem."""
    shown = lines[:MAX_LINES]
    more = f"\n  ... and {len(lines) - MAX_LINES} more" if len(lines) > MAX_LINES else ""
    return f"{file} failed validation ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  " + "\n  ".join(
        shown) + more


# -------------------------------------------------------------------------------------------------- schemas
def _flag(error: str) -> pa.Check:
    return pa.Check.isin([0, 1], error=f"{error} must be 0 (no) or 1 (yes)")


def roster_schema() -> pa.DataFrameSchema:
    """roster.csv: one row per participant with cohort, arm, demographics and flow events."""
    return pa.DataFrameSchema(
        {
            "record_id": pa.Column(str, pa.Check.str_matches(r"^\S+$", error="an id without spaces"), unique=True),
            "cohort": pa.Column(str, pa.Check.isin(["CP", "HC"], error="one of CP, HC")),
            "arm": pa.Column(str, pa.Check.isin(["MBPM", "WL", "none"], error="one of MBPM, WL, none")),
            "age": pa.Column("Int64", pa.Check.in_range(18, 100, error="age in years between 18 and 100"), coerce=True),
            "gender": pa.Column(str, pa.Check.isin(["female", "male", "non-binary"],
                                                   error="one of female, male, non-binary")),
            "race": pa.Column(str),
            "ethnicity": pa.Column(str, pa.Check.isin(["Hispanic or Latino", "Not Hispanic or Latino"],
                                                      error="Hispanic or Latino / Not Hispanic or Latino")),
            "enrolled": pa.Column("Int64", _flag("enrolled"), coerce=True),
            "allocated": pa.Column("Int64", _flag("allocated"), coerce=True),
            "dropout": pa.Column("Int64", _flag("dropout"), coerce=True),
            "dropout_reason": pa.Column(str, nullable=True),
            "sessions_attended": pa.Column("Int64", pa.Check.in_range(0, 8, error="MBPM sessions attended, 0-8"),
                                           coerce=True, nullable=True),
        },
        checks=[
            pa.Check(lambda d: (d["cohort"] == "CP") | ((d["arm"] == "none") & (d["enrolled"] == 0)),
                     error="[cohort, arm, enrolled] healthy controls are not enrolled in the trial"),
            pa.Check(lambda d: (d["allocated"] == 1) == (d["arm"] != "none"),
                     error="[arm, allocated] allocated = 1 exactly when arm is MBPM or WL"),
            pa.Check(lambda d: (d["allocated"] == 0) | (d["enrolled"] == 1),
                     error="[enrolled, allocated] only enrolled patients are allocated"),
            pa.Check(lambda d: (d["dropout"] == 0) | (d["allocated"] == 1),
                     error="[allocated, dropout] only allocated patients can drop out"),
            pa.Check(lambda d: (d["dropout"] == 1) == d["dropout_reason"].fillna("").ne(""),
                     error="[dropout, dropout_reason] a drop-out has a reason and only a drop-out has one"),
            pa.Check(lambda d: (d["arm"] == "MBPM") | d["sessions_attended"].isna(),
                     error="[arm, sessions_attended] sessions are recorded for MBPM patients only"),
        ],
        strict=True,
        ordered=False,
        name="roster.csv",
    )


def dictionary_schema() -> pa.DataFrameSchema:
    """redcap_data_dictionary.csv: REDCap's own data-dictionary layout."""
    columns = {c: pa.Column(str, nullable=True) for c in REDCAP_DICTIONARY_COLUMNS}
    columns["Variable / Field Name"] = pa.Column(str, pa.Check.str_matches(r"^[a-z][a-z0-9_]*$",
                                                                           error="a REDCap variable name"),
                                                 unique=True)
    columns["Form Name"] = pa.Column(str)
    columns[CHOICES] = pa.Column(str, pa.Check(_choices_ok, error="REDCap choices 'code, label | code, label' with "
                                               "whole-number codes"), nullable=True)
    for bound in ("Text Validation Min", "Text Validation Max"):
        columns[bound] = pa.Column(str, pa.Check(lambda s: pd.to_numeric(s, errors="coerce").notna(),
                                                 error="a number (validation min/max)"), nullable=True)
    columns["Field Type"] = pa.Column(str, pa.Check.isin(
        ["text", "radio", "dropdown", "checkbox", "yesno", "truefalse", "notes", "calc", "slider", "descriptive"],
        error="a REDCap field type"))
    return pa.DataFrameSchema(columns, strict=True, name="redcap_data_dictionary.csv")


CHOICES = "Choices, Calculations, OR Slider Labels"
_CHOICE = re.compile(r"^\s*-?\d+\s*,")


def _choices_ok(s: pd.Series) -> pd.Series:
    """Choice lists (text with ``|`` or starting ``code,``) have a whole-number code before every label."""
    def ok(text: str) -> bool:
        if "|" not in text and not _CHOICE.match(text):
            return True  # a calculation or slider labels, not a choice list
        return all(_CHOICE.match(part) for part in text.split("|") if part.strip())
    return s.map(ok)


def choice_codes(choices: str) -> list[int]:
    """The numeric codes of a REDCap choices string such as ``"0, None | 1, Mild"``."""
    return [int(part.split(",", 1)[0].strip()) for part in str(choices).split("|") if part.strip()]


def redcap_schema(dictionary: pd.DataFrame, known_ids: list[str]) -> pa.DataFrameSchema:
    """redcap_export.csv: the flat REDCap export, one row per record_id x event, validated against the dictionary.

    Radio/dropdown fields accept the dictionary's choice codes; integer text fields its validation min/max;
    each form's ``<form>_complete`` is 0 (Incomplete), 1 (Unverified) or 2 (Complete).
    """
    columns = {
        "record_id": pa.Column(str, pa.Check.isin(known_ids, error="a participant listed in roster.csv")),
        "redcap_event_name": pa.Column(str, pa.Check.isin(list(EVENTS), error=f"one of {', '.join(EVENTS)}")),
    }
    for field in dictionary.itertuples(index=False):
        name, ftype = field[0], field[3]
        if name == "record_id" or ftype == "descriptive":
            continue
        if ftype in ("radio", "dropdown"):
            codes = choice_codes(field[5])
            check = pa.Check.isin(codes, error=f"a choice code of the data dictionary ({', '.join(map(str, codes))})")
            columns[name] = pa.Column("Int64", check, coerce=True, nullable=True)
        elif ftype == "text" and field[7] in ("integer", "number"):
            lo, hi = field[8], field[9]
            checks = []
            if pd.notna(lo) and str(lo) != "" and pd.notna(hi) and str(hi) != "":
                checks.append(pa.Check.in_range(float(lo), float(hi),
                                                error=f"within the data dictionary's min {lo} and max {hi}"))
            columns[name] = pa.Column("Int64" if field[7] == "integer" else float, checks, coerce=True, nullable=True)
        else:
            columns[name] = pa.Column(str, nullable=True)
    for form in dict.fromkeys(dictionary["Form Name"]):
        columns[f"{form}_complete"] = pa.Column("Int64", pa.Check.isin(list(FORM_STATUS),
                                                                       error="0 Incomplete, 1 Unverified, 2 Complete"),
                                                coerce=True)
    return pa.DataFrameSchema(columns, strict=True, unique=["record_id", "redcap_event_name"],
                              name="redcap_export.csv")


def manifest_schema(known_ids: list[str]) -> pa.DataFrameSchema:
    """sample_manifest.csv: one row per saliva sample, mapping sample_id to participant and visit."""
    return pa.DataFrameSchema(
        {
            "sample_id": pa.Column(str, pa.Check.str_matches(r"^\S+$", error="an id without spaces"), unique=True),
            "record_id": pa.Column(str, pa.Check.isin(known_ids, error="a participant listed in roster.csv")),
            "visit": pa.Column(str, pa.Check.isin(list(VISITS), error="pre or post")),
            "collection_date": pa.Column(str, [
                pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$", error="a date YYYY-MM-DD"),
                pa.Check(lambda s: pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").notna(),
                         error="a calendar date"),
            ]),
            "collection_time": pa.Column(str, pa.Check.str_matches(r"^([01]\d|2[0-3]):[0-5]\d$",
                                                                   error="a time HH:MM"), nullable=True),
            "collection_method": pa.Column(str, nullable=True),
        },
        strict=True,
        unique=["record_id", "visit"],
        name="sample_manifest.csv",
    )


def results_schema(known_samples: list[str], units: dict[str, str]) -> pa.DataFrameSchema:
    """salivalab_results.csv: one row per sample x analyte; replicate values as text (``<8.00``, ``>1000``).

    ``units`` maps the lab's analyte label to the one unit accepted for it (mixed units are an error: nothing
    is converted silently).
    """
    value = pa.Check.str_matches(LAB_VALUE, error="a number, <number (below range), >number (above range) or empty")
    return pa.DataFrameSchema(
        {
            "sample_id": pa.Column(str, pa.Check.isin(known_samples, error="a sample listed in sample_manifest.csv")),
            "analyte": pa.Column(str, pa.Check.isin(list(units), error=f"one of {', '.join(units)}")),
            "rep1": pa.Column(str, value, nullable=True),
            "rep2": pa.Column(str, value, nullable=True),
            "rep3": pa.Column(str, value, nullable=True),
            "mean": pa.Column(str, value, nullable=True),
            "cv_pct": pa.Column(float, pa.Check.ge(0, error="a CV in percent, >= 0"), coerce=True, nullable=True),
            "units": pa.Column(str),
            "flags": pa.Column(str, nullable=True),
        },
        checks=[
            pa.Check(lambda d: d["units"] == d["analyte"].map(units).fillna(d["units"]),
                     error="[analyte, units] units must be the analyte's unit ("
                     + "; ".join(f"{a}: {u}" for a, u in units.items()) + "); mixed units are not converted"),
        ],
        strict=True,
        unique=["sample_id", "analyte"],
        name="salivalab_results.csv",
    )
