"""Input validation: schemas for the raw files and the error that names what is wrong."""

from __future__ import annotations


class DataValidationError(ValueError):
    """Bad input: the message names file, row (spreadsheet-style, header = row 1), column, value and rule."""
