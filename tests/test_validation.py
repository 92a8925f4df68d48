"""Each bad input in tests/bad_inputs/ is named (file, row, column, value, rule) or handled by its plausibility rule.

``cases.csv`` drives the cases. A case is either a small bad file (``bad_file``) that replaces a shipped raw file
(``replaces``; a companion may replace a second one), or a ``mutation`` applied at test time to a copy of the
shipped file ``replaces`` -- so the cases do not depend on the shipped values, which another seed changes.
``outcome``:

- ``error``: ingest raises DataValidationError; one line names row, column, value and rule; nothing is written to
  the build folder and the raw folder is unchanged.
- ``excluded`` / ``flagged``: ingest completes; the data-quality table has a row with that file, row, column,
  value and rule, and the action of an exclude-and-flag / flag-only rule.
- ``accepted``: ingest completes with exactly the tables of the shipped files (a deliberate acceptance).

Mutations (``op:args``, several joined by `` | ``), applied to the target file's cells, then to its bytes:

- ``set:SEL:column=value`` -- SEL is a file row number (header = 1) or ``column=value&...`` (first matching row);
  a value ``@col=v`` is the record_id of the first roster participant with ``col == v``
- ``raw:ROW:column=text`` -- write ``text`` into the cell unquoted (an unquoted comma or quote)
- ``drop_participant:column=value`` -- drop every row of the first roster participant matching (row = roster row)
- ``add_post:column=value`` -- copy the baseline row of the first matching roster participant as a post row
- ``swap_dates:N`` / ``interval:N:days`` -- the N-th post-visit sample gets its pre date swapped / pre + days
- ``clone_sample:A>B`` -- every lab row of the sample on row B takes the values of the sample on row A
- ``drop:SEL`` -- delete one row
- ``rename:old=new``, ``truncate:ROW``, ``blank_line:ROW``, ``trailing_comma:all``, ``header_only``, ``empty``,
  ``encode:codec``, ``utf16``, ``bom``, ``crlf``, ``cr``, ``delimiter:;`` (with decimal commas)

In the expected ``row``, ``{row}`` stands for the row a selector picked, ``*`` for any row (a finding reported on
another file's row, e.g. the manifest row of a sample whose lab row was deleted).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers import ingest, plausibility
from helpers.validation import DataValidationError

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
BAD = ROOT / "tests" / "bad_inputs"
CASES = pd.read_csv(BAD / "cases.csv", dtype=str, keep_default_na=False)
COMPANION_TARGET = {"sample_manifest_small.csv": "sample_manifest.csv"}
EVENT_OF = {"pre": "baseline_arm_1", "post": "post_arm_1"}


# ------------------------------------------------------------------------------------------------ mutations
class Mutated:
    """A raw file as header + rows of cells, mutated by the ops of a case, then written with byte ops."""

    def __init__(self, raw: Path, name: str):
        self.raw, self.name = raw, name
        rows = list(csv.reader(io.StringIO((raw / name).read_text("utf-8"), newline="")))
        self.header, self.rows = rows[0], rows[1:]
        self.raw_cells: dict[tuple[int, str], str] = {}
        self.picked: int | None = None
        self.byte_ops: list[tuple[str, str]] = []

    def col(self, name: str) -> int:
        return self.header.index(name)

    def select(self, sel: str) -> int:
        """Index into rows of a file row number or the first row matching ``column=value&...``."""
        if sel.isdigit():
            return int(sel) - 2
        conds = [c.split("=", 1) for c in sel.split("&")]
        for i, row in enumerate(self.rows):
            if all(row[self.col(c)] == v for c, v in conds):
                return i
        raise LookupError(f"{self.name}: no row with {sel}")

    def roster(self) -> pd.DataFrame:
        return pd.read_csv(self.raw / "roster.csv", dtype=str, keep_default_na=False)

    def apply(self, op: str) -> None:
        kind, _, args = op.partition(":")
        if kind == "set":
            sel, _, assign = args.partition(":")
            column, _, value = assign.partition("=")
            if value.startswith("@"):  # @col=value: the first roster participant with that value
                c, v = value[1:].split("=", 1)
                roster = self.roster()
                value = roster.loc[roster[c] == v, "record_id"].iloc[0]
            i = self.select(sel)
            self.rows[i][self.col(column)] = value
            self.picked = i + 2
        elif kind == "raw":
            sel, _, assign = args.partition(":")
            column, _, value = assign.partition("=")
            i = self.select(sel)
            self.rows[i][self.col(column)] = f"@RAW{len(self.raw_cells)}@"
            self.raw_cells[(i, column)] = value
            self.picked = i + 2
        elif kind == "drop_participant":
            roster = self.roster()
            c, v = args.split("=", 1)
            rid = roster.loc[roster[c] == v, "record_id"].iloc[0]
            self.picked = int(roster.index[roster["record_id"] == rid][0]) + 2
            self.rows = [r for r in self.rows if r[self.col("record_id")] != rid]
        elif kind == "add_post":
            roster = self.roster()
            c, v = args.split("=", 1)
            rid = roster.loc[roster[c] == v, "record_id"].iloc[0]
            i = self.select(f"record_id={rid}&redcap_event_name=baseline_arm_1")
            self.rows.append(list(self.rows[i]))
            self.rows[-1][self.col("redcap_event_name")] = "post_arm_1"
            self.picked = len(self.rows) + 1
        elif kind in ("swap_dates", "interval"):
            n, _, days = args.partition(":")
            posts = [i for i, r in enumerate(self.rows) if r[self.col("visit")] == "post"]
            i = posts[int(n) - 1]
            rid = self.rows[i][self.col("record_id")]
            j = self.select(f"record_id={rid}&visit=pre")
            d = self.col("collection_date")
            if kind == "swap_dates":
                self.rows[i][d], self.rows[j][d] = self.rows[j][d], self.rows[i][d]
            else:
                self.rows[i][d] = str((pd.Timestamp(self.rows[j][d]) + pd.Timedelta(days=int(days))).date())
            self.picked = i + 2
        elif kind == "clone_sample":
            a, b = (int(x) - 2 for x in args.split(">"))
            sid = self.col("sample_id")
            src, dst = self.rows[a][sid], self.rows[b][sid]
            values = {r[self.col("analyte")]: r for r in self.rows if r[sid] == src}
            for r in self.rows:
                if r[sid] == dst and r[self.col("analyte")] in values:
                    r[:] = [dst] + values[r[self.col("analyte")]][1:]
            self.picked = b + 2
        elif kind == "drop":
            i = self.select(args)
            self.picked = i + 2
            del self.rows[i]
        elif kind == "rename":
            old, new = args.split("=", 1)
            self.header[self.col(old)] = new
        elif kind == "truncate":
            self.rows[int(args) - 2] = self.rows[int(args) - 2][:-1]
        else:
            self.byte_ops.append((kind, args))

    def write(self) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([self.header, *self.rows])
        text = buf.getvalue()
        for (i, column), value in self.raw_cells.items():
            text = text.replace(f"@RAW{list(self.raw_cells).index((i, column))}@", value, 1)
        for kind, args in self.byte_ops:
            if kind == "header_only":
                text = text.split("\n", 1)[0] + "\n"
            elif kind == "empty":
                text = ""
            elif kind == "blank_line":
                lines = text.split("\n")
                lines.insert(int(args) - 1, "")
                text = "\n".join(lines)
            elif kind == "trailing_comma":
                head, _, body = text.partition("\n")
                text = head + "\n" + "\n".join(line + "," if line else line for line in body.split("\n"))
            elif kind == "delimiter":
                rows = list(csv.reader(io.StringIO(text)))
                rows = [[re.sub(r"^([<>]?\d+)\.(\d+)$", r"\1,\2", c) for c in r] for r in rows]
                buf = io.StringIO()
                csv.writer(buf, delimiter=args, lineterminator="\n").writerows(rows)
                text = buf.getvalue()
            elif kind == "crlf":
                text = text.replace("\n", "\r\n")
            elif kind == "cr":
                text = text.replace("\n", "\r")
        data = text.encode("utf-8")
        for kind, args in self.byte_ops:
            if kind == "encode":
                data = text.encode(args)
            elif kind == "utf16":
                data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
            elif kind == "bom":
                data = codecs.BOM_UTF8 + data
        (self.raw / self.name).write_bytes(data)


def _raw_with(tmp_path: Path, case: pd.Series) -> tuple[Path, str]:
    """A copy of data/raw with the case applied; the expected row (``{row}`` resolved)."""
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    row = case["row"]
    if case["bad_file"]:
        shutil.copy(BAD / case["bad_file"], raw / case["replaces"])
    if case["companion"]:
        shutil.copy(BAD / "companions" / case["companion"], raw / COMPANION_TARGET[case["companion"]])
    if case["mutation"]:
        target = Mutated(raw, case["replaces"])
        for op in case["mutation"].split(" | "):
            target.apply(op)
        target.write()
        row = row.replace("{row}", str(target.picked))
    return raw, row


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    return ingest.ingest(RAW, tmp_path_factory.mktemp("shipped"))


# ---------------------------------------------------------------------------------------------------- cases
def test_every_bad_file_has_a_case():
    files = {p.name for p in BAD.glob("*.csv")} - {"cases.csv"}
    assert files == set(CASES.loc[CASES["bad_file"] != "", "bad_file"])
    assert CASES["case"].is_unique
    assert set(CASES["outcome"]) <= {"error", "excluded", "flagged", "accepted"}


@pytest.mark.parametrize("case", [row for _, row in CASES.iterrows()], ids=list(CASES["case"]))
def test_bad_input_is_named(tmp_path, case, shipped):
    raw, row = _raw_with(tmp_path, case)
    before = _digest(raw)
    build = tmp_path / "build"
    file = case["file"] or case["replaces"]
    if case["outcome"] == "error":
        with pytest.raises(DataValidationError) as err:
            ingest.ingest(raw, build)
        assert not build.exists(), "a rejected input wrote to the build folder"
        assert _digest(raw) == before, "ingest changed the raw folder"
        message = str(err.value)
        assert message.startswith(f"{file} failed validation"), message
        lines = [line for line in message.splitlines() if f"row {row}," in line or f"row {row} " in line]
        assert lines, f"no line names row {row}:\n{message}"
        matching = [line for line in lines
                    if case["column"] in line and case["value"] in line and case["rule"] in line]
        assert matching, (f"no line names column {case['column']!r}, value {case['value']!r}, "
                          f"rule {case['rule']!r}:\n{message}")
        return
    result = ingest.ingest(raw, build)
    assert _digest(raw) == before
    if case["outcome"] == "accepted":
        for name in ("roster", "items", "biomarkers", "data_quality", "flow"):
            pd.testing.assert_frame_equal(getattr(result, name), getattr(shipped, name), obj=name)
        return
    dq = result.data_quality
    hits = dq[(dq["file"] == file) & ((dq["row"] == int(row)) if row != "*" else True) & dq["column"].str.contains(case["column"], regex=False)
              & dq["value"].str.contains(case["value"], regex=False) & dq["rule"].str.contains(case["rule"],
                                                                                               regex=False)]
    assert len(hits), f"no data-quality row {file} row {row} {case['column']} {case['value']} {case['rule']}:\n" \
                      f"{dq[dq['rule'].str.contains(':')].to_string()}"
    action = plausibility.ACTIONS["exclude_and_flag" if case["outcome"] == "excluded" else "flag_only"]
    assert set(hits["action"]) == {action}
    assert plausibility.action(case["rule"].split(":")[0]) == (
        "exclude_and_flag" if case["outcome"] == "excluded" else "flag_only")


def test_missing_file_is_named(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    (raw / "roster.csv").unlink()
    with pytest.raises(DataValidationError, match="roster.csv: file not found"):
        ingest.load_raw(raw)


def test_shipped_data_validate():
    raw = ingest.load_raw(RAW)
    assert len(raw.roster) == 65
    assert set(raw.items["redcap_event_name"]) == {"baseline_arm_1", "post_arm_1"}


def test_no_plausibility_rule_fires_on_the_shipped_data(shipped):
    """No false positives: the shipped study passes every plausibility rule."""
    fired = shipped.data_quality["rule"].str.extract(r"^([a-z_]+):")[0].dropna()
    assert fired.empty, fired.value_counts()


def test_explicit_encoding_reads_a_latin1_file(tmp_path):
    """A Windows-1252 file is refused by default and read deliberately with ``encoding``."""
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    roster = pd.read_csv(raw / "roster.csv", dtype=str, keep_default_na=False)
    roster.loc[0, "race"] = "Métis"
    (raw / "roster.csv").write_bytes(roster.to_csv(index=False, lineterminator="\n").encode("cp1252"))
    with pytest.raises(DataValidationError, match=r"row 2, column 'race', line 2, byte offset \d+"):
        ingest.load_raw(raw)
    study = ingest.load_raw(raw, encoding={"roster.csv": "cp1252"})
    assert study.roster.loc[0, "race"] == "Métis"


def test_companion_manifest_is_valid_on_its_own(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    shutil.copy(BAD / "companions" / "sample_manifest_small.csv", raw / "sample_manifest.csv")
    with pytest.raises(DataValidationError) as err:
        ingest.load_raw(raw)
    # the full lab file then refers to samples the small manifest lacks: reported, not the manifest itself
    assert str(err.value).startswith("salivalab_results.csv failed validation")
    assert "a sample listed in sample_manifest.csv" in str(err.value)


def test_dictionary_documents_every_contract_column():
    """data/dictionary.csv names exactly the columns the schemas accept (items come from the REDCap dictionary)."""
    from helpers import validation

    doc = pd.read_csv(ROOT / "data" / "dictionary.csv")
    documented = {f: set(g["field"]) for f, g in doc.groupby("file")}
    assert documented["roster.csv"] == set(validation.roster_schema().columns)
    assert documented["sample_manifest.csv"] == set(validation.manifest_schema([]).columns)
    assert documented["salivalab_results.csv"] == set(validation.results_schema([], {}).columns)


def test_dictionary_declares_the_missing_codes_the_rule_uses():
    """The missing codes in data/dictionary.csv are the ``missing_code`` rule's parameter, field by field."""
    doc = pd.read_csv(ROOT / "data" / "dictionary.csv", dtype=str, keep_default_na=False)
    declared = doc[doc["missing_codes"] != ""]
    codes = " | ".join(plausibility.missing_codes())
    assert set(declared["missing_codes"]) == {codes}
    assert set(zip(declared["file"], declared["field"], strict=True)) == {
        ("salivalab_results.csv", c) for c in ("rep1", "rep2", "rep3", "mean", "cv_pct")} | {
        ("sample_manifest.csv", "collection_time"), ("redcap_export.csv", "<item>")}


def test_rules_table_is_complete_and_documented():
    """Every rule has an action the code supports, a parameter and a source, and data/README.md names it."""
    table = plausibility.rules()
    readme = (ROOT / "data" / "README.md").read_text("utf-8")
    for rule, row in table.iterrows():
        assert row["action"] in plausibility.ACTIONS
        assert row["parameter"] and row["source"] and row["description"], rule
        assert f"`{rule}`" in readme, f"data/README.md does not describe rule {rule}"


def test_header_case_mismatch_does_not_crash_the_formatter():
    """A header in another case: a clear error, not a KeyError in the failure formatter (issue 12)."""
    from helpers import validation

    data = pd.DataFrame({"Record_ID": ["P001"], "redcap_event_name": ["baseline_arm_1"]})
    schema = validation.redcap_schema(pd.DataFrame(columns=validation.REDCAP_DICTIONARY_COLUMNS), ["P001"])
    with pytest.raises(DataValidationError, match="case-sensitive and exact; expected 'record_id'"):
        validation.validate(data, schema, "redcap_export.csv")
