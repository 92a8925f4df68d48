"""The one number formatter of the report: every table cell, note and caption the Python code writes.

The rules (a journal's, e.g. APA 7 §6.36-6.44) are also those of the prose shortcodes in
``_extensions/results/results.lua``, which cannot call Python at render time and repeats them in a few lines;
``tests/test_formatting.py`` renders the shortcodes on chosen values and compares their strings with these.

* Digits: ``digits`` decimals (2 by default, 3 for test statistics and η²p), half-even on the binary value, as
  C's printf and Python's format both round.
* Sign: a true minus sign (U+2212), never a hyphen-minus; no negative zero ("−0.00" is "0.00").
* Thousands: a comma between groups of three digits from 1,000 up ("1,637.15"); counts, df and years stay
  plain (they go through :func:`count` and :func:`df`).
* p: "< 0.001" below 0.001, else three decimals ("0.038", "1.000"); with ``relation`` the sign in front for prose
  ("= 0.038", "< 0.001").
* Not a finite number: ``missing`` ("" in a table cell, where the note explains; "n/a" in prose, as the Lua,
  whose first n/a of a document carries a footnote saying what it means).
* Spaces inside one reported quantity ("< 0.001", "12.50 (3.01)", "[0.10, 0.30]", "1, 63", "F = 3.008") are
  no-break spaces (U+00A0), so that no format (HTML, Word, JATS) breaks a line inside a number; an estimate and
  its interval are two quantities (an ordinary space).

Written by hand: no well-kept library formats statistics to journal rules (babel formats locales, not p-values).
"""

from __future__ import annotations

import math

MINUS = "\u2212"
NBSP = "\u00a0"
P_FLOOR = 0.001
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")


def _finite(x) -> float | None:
    """``x`` as a float when it is a finite real number, else None (None, NaN, inf, pandas NA, text)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _group(integer: str) -> str:
    """Comma between groups of three digits from 1,000 up."""
    return f"{int(integer):,}" if len(integer) > 3 else integer


def number(x, digits: int = 2, missing: str = "") -> str:
    """``x`` to ``digits`` decimals with a true minus, no negative zero and thousands commas: "−0.45", "1,637.15"."""
    v = _finite(x)
    if v is None:
        return missing
    s = f"{abs(v):.{digits}f}"
    integer, _, decimals = s.partition(".")
    s = _group(integer) + ("." + decimals if decimals else "")
    negative = v < 0 and any(ch in "123456789" for ch in s)  # no negative zero
    return (MINUS + s) if negative else s


def count(x, missing: str = "") -> str:
    """A whole number without separators (n, df, years): "65"; a true minus if negative."""
    v = _finite(x)
    if v is None:
        return missing
    return number(v, 0).replace(",", "")


def p_value(p, relation: bool = False, missing: str = "") -> str:
    """p to three decimals, "< 0.001" below 0.001; with ``relation`` "= 0.038" / "< 0.001" (for prose)."""
    v = _finite(p)
    if v is None:
        return (f"={NBSP}{missing}" if relation and missing else missing)
    if v < P_FLOOR:
        return f"<{NBSP}{P_FLOOR:.3f}"
    s = number(v, 3)
    return f"={NBSP}{s}" if relation else s


def mean_sd(mean, sd, digits: int = 2, missing: str = "") -> str:
    """``mean (SD)`` on one line: "12.50 (3.01)"; the mean alone when the SD is missing."""
    if _finite(mean) is None:
        return missing
    if _finite(sd) is None:
        return number(mean, digits)
    return f"{number(mean, digits)}{NBSP}({number(sd, digits)})"


def interval(low, high, digits: int = 2, missing: str = "") -> str:
    """A confidence interval "[−0.10, 1.10]"."""
    return f"[{number(low, digits, missing)},{NBSP}{number(high, digits, missing)}]"


def ci(estimate, low, high, digits: int = 2, missing: str = "") -> str:
    """An estimate with its interval, "0.50 [−0.10, 1.10]"; ``missing`` when the estimate is. A narrow column may
    put the interval under the estimate (an ordinary space between them), never break the interval itself."""
    if _finite(estimate) is None:
        return missing
    return f"{number(estimate, digits)} {interval(low, high, digits, missing)}"


def df(df1, df2=None, digits: int = 2) -> str:
    """Degrees of freedom: whole numbers plain ("1, 63"), corrected (fractional) ones to ``digits``."""
    def one(d):
        v = _finite(d)
        if v is None:
            return ""
        return count(v) if abs(v - round(v)) < 1e-9 else number(v, digits).replace(",", "")
    return one(df1) if _finite(df2) is None else f"{one(df1)},{NBSP}{one(df2)}"


def statistic(letter: str, value, digits: int = 3) -> str:
    """A test statistic with its letter, "F = 3.008", "H = 5.976", "χ² = 1.20"; "" when the value is missing."""
    s = number(value, digits)
    return f"{letter}{NBSP}={NBSP}{s}" if s else ""


def percent(part, whole, digits: int = 1) -> str:
    """``part`` as a percentage of ``whole``: "12.5%"."""
    if _finite(part) is None or not _finite(whole):
        return ""
    return f"{number(100 * float(part) / float(whole), digits)}%"


def count_words(k: int) -> str:
    """A count as a word from zero to twelve, digits from 13 up (journals' rule for numbers in running text)."""
    return NUMBER_WORDS[k] if 0 <= k < len(NUMBER_WORDS) else count(k)


def share(k: int, n: int, noun: str = "") -> str:
    """How many of ``n`` things, as written English: "all four cytokines", "none of the four cytokines", "one of
    the four cytokines", "both arms"; without ``noun``: "all of them", "none of them", "one of them"."""
    k, n = int(k), int(n)
    if not 0 <= k <= n:
        raise ValueError(f"share: {k} of {n} is not a count between 0 and the total")
    whole = count_words(n)
    if noun:
        if k == n:
            return f"both {noun}" if n == 2 else f"all {whole} {noun}"
        return f"{'none' if k == 0 else count_words(k)} of the {whole} {noun}"
    if k == n:
        return "both of them" if n == 2 else "all of them"
    return f"{'none' if k == 0 else count_words(k)} of them"
