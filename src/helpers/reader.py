"""The one guarded reader every raw CSV file goes through (before its pandera schema).

A raw file is read as text, cell by cell, with Python's :mod:`csv` module and explicit options, so that what a
data manager, a lab export or a spreadsheet program actually produces either reads exactly as the contract
(data/README.md) describes or stops with a :class:`~helpers.validation.DataValidationError` naming file, row
(spreadsheet-style: header = row 1), column, value and what was expected -- never a bare pandas or codec
exception. What it decides, in order:

- **file**: missing or empty (no header) is an error; a file with a header and no data rows is an error.
- **encoding**: UTF-8, with or without a byte-order mark. Anything else (Latin-1/Windows-1252 from Excel, UTF-16)
  is an error naming the line, byte offset and byte, unless the caller passes ``encoding`` deliberately.
- **delimiter**: a comma. A header that splits into more columns on ``;``, tab or ``|`` than on commas is a
  spreadsheet export in another locale: refused (with its decimal commas it would otherwise be misread).
- **line endings**: ``\\n``, ``\\r\\n`` and ``\\r`` are all accepted (the csv module's universal newlines);
  quoted cells may span lines (the row number counts records, as a spreadsheet does).
- **header**: every column named, no name twice, no leading/trailing spaces.
- **rows**: exactly as many cells as the header (a trailing comma or an unquoted comma in free text is named with
  the cells it shifted); an empty row inside the data is an error; empty rows after the last record are ignored
  (they hold nothing); a NUL byte is an error.

Hand-written on top of :mod:`csv` because pandas' C parser reports none of these with file, row and column, and
no maintained library checks CSV dialect faults against a fixed contract (CSV validators such as frictionless
would be a second schema tool beside pandera).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pandas as pd

from helpers.validation import DataValidationError, compose

DELIMITER = ","
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "vertical bar"}
MAX_PROBLEMS = 25


def _fail(file: str, lines: list[str]) -> DataValidationError:
    return DataValidationError(compose(file, lines))


def decode(data: bytes, file: str, encoding: str | None = None) -> str:
    """The text of a raw file: UTF-8 (a leading byte-order mark is dropped) unless ``encoding`` is given."""
    if encoding is not None:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except LookupError:
            raise DataValidationError(f"{file}: unknown encoding {encoding!r} (a Python codec name such as "
                                      "'utf-8', 'cp1252', 'latin-1')") from None
        except UnicodeDecodeError as err:
            raise _fail(file, [_decode_problem(data, err, file, encoding)]) from None
    for bom, name in ((codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
                      (codecs.BOM_UTF32_LE, "UTF-32")):
        if data.startswith(bom) and not data.startswith(codecs.BOM_UTF8):
            raise _fail(file, [f"{file}: row 1 (header), line 1, byte 0, value {data[:len(bom)].hex(' ')!r}: the file "
                               f"is {name} (byte-order mark); expected UTF-8 -- save it as 'CSV UTF-8' or pass "
                               f"encoding='utf-16' to read it deliberately"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _fail(file, [_decode_problem(data, err, file, "utf-8")]) from None


def _decode_problem(data: bytes, err: UnicodeDecodeError, file: str, encoding: str) -> str:
    start = err.start
    newline = b"\n" if b"\n" in data else b"\r"  # lines end in \n or \r\n, or (old Mac) in \r alone
    line_start = data.rfind(newline, 0, start) + 1
    line = data.count(newline, 0, start) + 1
    prefix = data[line_start:start].decode(encoding, errors="replace").removeprefix("\ufeff")
    column = ""
    header = re.split(rb"\r\n|\r|\n", data, maxsplit=1)[0].decode(encoding, errors="replace").removeprefix("\ufeff")
    names = next(csv.reader([header]), [])
    if line > 1:
        position = len(next(csv.reader([prefix]), [""])) - 1 if prefix else 0
        if 0 <= position < len(names):
            column = f", column {names[position]!r}"
    end = data.find(newline, start)
    context = data[max(line_start, start - 12):start + 12 if end < 0 else min(end, start + 12)]
    hint = ("expected UTF-8 (with or without byte-order mark): the file looks like a Windows-1252/Latin-1 export "
            "-- save it as 'CSV UTF-8', or pass encoding='cp1252' (or the file's encoding) to read it deliberately"
            if encoding == "utf-8" else f"not decodable as {encoding!r}")
    return (f"{file}: row {line}{column}, line {line}, byte offset {start}, value {context!r}: byte "
            f"0x{data[start]:02x} is not valid {encoding.upper()}; {hint}")


def read_raw_csv(path: str | Path, encoding: str | None = None, *, name: str | None = None) -> pd.DataFrame:
    """A raw CSV file as a DataFrame of text (``str``; empty cells missing), index = data row (file row - 2).

    ``encoding``: None reads UTF-8 (with or without BOM) and refuses anything else; a codec name decodes the file
    deliberately with it. ``name`` is the file name used in messages (default: the path's name).
    """
    path = Path(path)
    file = name or path.name
    if not path.is_file():
        raise DataValidationError(f"{file}: file not found in {path.parent} (see data/README.md for the contract)")
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise _fail(file, [f"{file}: row 1 (header), value '': the file is empty; expected a header row naming "
                           "the columns of the contract (data/README.md) and one row per record"])
    text = decode(data, file, encoding)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _fail(file, [f"{file}: row {line}, value '\\x00': a NUL byte; expected a text file (is it a "
                           "spreadsheet saved in a binary format, or UTF-16 read as UTF-8?)"])
    records = _records(file, text)
    header, body = records[0], records[1:]
    _check_delimiter(file, text, header)
    _check_header(file, header)
    while body and not any(cell.strip() for cell in body[-1]):
        body.pop()  # empty rows after the last record hold nothing
    if not body:
        raise _fail(file, [f"{file}: row 2, value '': no data rows after the header; expected at least one record "
                           "(a header-only export is not a data file)"])
    _check_rows(file, header, body)
    # the checks above guarantee a rectangular comma-separated table: pandas' C parser now reads exactly these
    # records (fast; its string dtype), with nothing guessed: every cell is text, only empty cells are missing
    return pd.read_csv(io.StringIO(text), sep=DELIMITER, dtype=str, keep_default_na=False, na_values=[""],
                       skip_blank_lines=False, nrows=len(body), engine="c")


def _records(file: str, text: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True))
    except csv.Error:
        pass
    # slow path, errors only: find the record the parser stopped in
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True)
    n = 0
    try:
        for _ in reader:
            n += 1
    except csv.Error as err:
        raise _fail(file, [f"{file}: row {n + 1}, line {reader.line_num}, value '': {err}; expected a double "
                           "quote only around a whole cell (a quote inside a quoted cell is doubled: \"\")"]) from None
    raise AssertionError("csv.Error not reproduced")  # pragma: no cover


def _check_delimiter(file: str, text: str, header: list[str]) -> None:
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0] if text else ""
    for delim, label in OTHER_DELIMITERS.items():
        other = next(csv.reader([first], delimiter=delim), [])
        if len(other) > max(len(header), 1):
            raise _fail(file, [f"{file}: row 1 (header), value {first[:60]!r}: the file is separated by {delim!r} "
                               f"({label}, {len(other)} columns), not by commas; expected comma-separated values "
                               "with a decimal point (re-export as 'CSV UTF-8 (comma delimited)'; a "
                               f"{label}-separated file with decimal commas is not converted)"])


def _check_header(file: str, header: list[str]) -> None:
    problems = []
    seen: dict[str, int] = {}
    for i, col in enumerate(header, start=1):
        if not col.strip():
            problems.append(f"{file}: row 1 (header), column {i}, value '': a column without a name; expected every "
                            "column named (a trailing comma on the header?)")
        elif col != col.strip():
            problems.append(f"{file}: row 1 (header), column {col!r}, value {col!r}: spaces around a column name; "
                            f"expected {col.strip()!r}")
        if col in seen and col.strip():
            problems.append(f"{file}: row 1 (header), column {col!r}, value {col!r}: the column appears twice "
                            f"(columns {seen[col]} and {i}); expected each column once")
        seen.setdefault(col, i)
    if problems:
        raise _fail(file, problems)


def _check_rows(file: str, header: list[str], body: list[list[str]]) -> None:
    problems = []
    width = len(header)
    if all(len(c) > width and not any(x.strip() for x in c[width:]) for c in body):
        raise _fail(file, [f"{file}: row 2, column {header[-1]!r}, value '': every data row ends with empty cells "
                           f"after the last column (a trailing comma on each row, e.g. an extra empty spreadsheet "
                           f"column); expected {width} cells as in the header"])
    for i, cells in enumerate(body):
        row = i + 2
        if len(cells) == width:
            continue
        if not any(cell.strip() for cell in cells):
            problems.append(f"{file}: row {row}, value '': an empty row inside the data; expected one record per "
                            "row (delete the row, or fill it)")
        elif len(cells) > width:
            extra = cells[width:]
            if not any(c.strip() for c in extra):
                what = (f"{len(extra)} empty cell(s) after the last column {header[-1]!r} (a trailing comma, or "
                        f"an unquoted comma earlier in the row that shifted the cells?); expected {width} cells as "
                        "in the header")
            else:
                what = (f"{len(cells)} cells, the header has {width}: an unquoted comma inside a value (free text, or "
                        "a decimal comma such as 12,5?) shifts the cells after it; expected text with commas in "
                        "double quotes and numbers with a decimal point")
            shown = ", ".join(repr(c) for c in extra[:3])
            problems.append(f"{file}: row {row}, column {header[-1]!r}, value {shown}: {what}")
        else:
            missing = header[len(cells)]
            problems.append(f"{file}: row {row}, column {missing!r}, value '': {len(cells)} cells, the header has "
                            f"{width}; expected a cell for every column (the row ends before {missing!r})")
        if len(problems) >= MAX_PROBLEMS + 1:
            break
    if problems:
        raise _fail(file, problems)
