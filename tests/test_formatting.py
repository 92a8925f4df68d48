"""The one number formatter (helpers.formatting) and its Lua twin in the prose shortcodes agree, string for string.

The unit tests state the journal rules with hand-written expected strings. The agreement test renders a small Quarto
document with the real extension (_extensions/results) on a results.json of chosen values, edge cases included,
and compares every shortcode's output with the Python formatter's; it skips without Quarto unless
MBPM_REQUIRE_QUARTO=1 (CI), as tests/test_manuscript_render.py does.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess

import pytest

from helpers import formatting as fmt
from helpers import render

from .conftest import ROOT

M, S = "\u2212", "\u00a0"  # true minus, no-break space


@pytest.mark.parametrize(("x", "digits", "want"), [
    (-0.45, 2, f"{M}0.45"),
    (-0.004, 2, "0.00"),  # no negative zero
    (-0.0, 2, "0.00"),
    (-1e-12, 3, "0.000"),
    (1e-12, 2, "0.00"),
    (0.005, 2, "0.01"),  # 0.005 is 0.005000000000000000104 in binary: up
    (2.675, 2, "2.67"),  # 2.67499999999999982236431605997495353221893310546875: down
    (1637.154, 2, "1,637.15"),
    (999.999, 2, "1,000.00"),
    (-12345678.91, 1, f"{M}12,345,678.9"),
    (65, 0, "65"),
    (-3.0841, 3, f"{M}3.084"),
])
def test_number(x, digits, want):
    assert fmt.number(x, digits) == want


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf, None, "text"])
def test_missing_is_empty_in_a_cell_and_na_in_prose(x):
    assert fmt.number(x) == "" and fmt.number(x, missing="n/a") == "n/a"
    assert fmt.p_value(x) == "" and fmt.p_value(x, relation=True, missing="n/a") == f"={S}n/a"


@pytest.mark.parametrize(("p", "cell", "prose"), [
    (0.0005, f"<{S}0.001", f"<{S}0.001"),
    (1e-12, f"<{S}0.001", f"<{S}0.001"),
    (0.00099, f"<{S}0.001", f"<{S}0.001"),
    (0.001, "0.001", f"={S}0.001"),
    (0.0384, "0.038", f"={S}0.038"),
    (0.04996, "0.050", f"={S}0.050"),
    (0.9996, "1.000", f"={S}1.000"),
])
def test_p_value(p, cell, prose):
    assert fmt.p_value(p) == cell and fmt.p_value(p, relation=True) == prose


def test_composite_quantities_stay_on_one_line():
    assert fmt.mean_sd(12.5, 3.0149) == f"12.50{S}(3.01)"
    assert fmt.mean_sd(12.5, math.nan) == "12.50" and fmt.mean_sd(math.nan, 1.0) == ""
    assert fmt.ci(0.5, -0.1, 1.1) == f"0.50 [{M}0.10,{S}1.10]"
    assert fmt.interval(-0.004, 0.2) == f"[0.00,{S}0.20]"
    assert fmt.df(1, 63) == f"1,{S}63" and fmt.df(4.31, 103.4) == f"4.31,{S}103.40" and fmt.df(9998) == "9998"
    assert fmt.statistic("H", 5.9764) == f"H{S}={S}5.976" and fmt.statistic("F", math.nan) == ""
    assert fmt.percent(1, 3) == "33.3%" and fmt.count(10000) == "10000"


@pytest.mark.parametrize(("k", "n", "noun", "want"), [
    (0, 4, "cytokines", "none of the four cytokines"),
    (1, 4, "cytokines", "one of the four cytokines"),
    (2, 4, "cytokines", "two of the four cytokines"),
    (3, 4, "cytokines", "three of the four cytokines"),
    (4, 4, "cytokines", "all four cytokines"),
    (0, 4, "", "none of them"),
    (1, 4, "", "one of them"),
    (3, 4, "", "three of them"),
    (4, 4, "", "all of them"),
    (0, 2, "arms", "none of the two arms"),
    (1, 2, "arms", "one of the two arms"),
    (2, 2, "arms", "both arms"),
    (2, 2, "", "both of them"),
    (13, 20, "tests", "13 of the 20 tests"),
])
def test_share_reads_as_english(k, n, noun, want):
    assert fmt.share(k, n, noun) == want


def test_share_refuses_an_impossible_count():
    with pytest.raises(ValueError, match="5 of 4"):
        fmt.share(5, 4)


# --- the shortcodes against the formatter ---------------------------------------------------------------------------

NUMBERS = [(-0.45, 2), (-0.004, 2), (-1e-12, 3), (1e-12, 2), (0.005, 2), (2.675, 2), (1637.154, 2), (999.999, 2),
           (-12345678.91, 1), (65, 0), (-3.0841, 3), (None, 2)]
PVALUES = [0.0005, 1e-12, 0.00099, 0.001, 0.0384, 0.04996, 0.9996, None]
MEAN_SD = [(12.5, 3.0149), (-0.004, 0.0012), (1637.154, 1020.3)]
CI = [(-0.1, 1.1), (-0.004, 0.004), (-1234.5, -2.25)]
SHARES = [(k, n) for n in (2, 4) for k in range(n + 1)]


def _document() -> tuple[dict, str, list[tuple[str, str]]]:
    """results.json values, the .qmd body and, per marked line, the string the Python formatter gives."""
    results, lines, want = {}, [], []

    def line(shortcode: str, expected: str):
        i = len(want)
        lines.append(f"L{i}:{shortcode}:E{i}\n")
        want.append((f"L{i}", expected))

    for i, (x, d) in enumerate(NUMBERS):
        results[f"num{i}"] = x
        line(f"{{{{< num num{i} {d} >}}}}", fmt.number(x, d, missing="n/a"))
    for i, p in enumerate(PVALUES):
        results[f"p{i}"] = p
        line(f"{{{{< pv p{i} >}}}}", fmt.p_value(p, relation=True, missing="n/a"))
    for i, (m, s) in enumerate(MEAN_SD):
        results[f"msd{i}.cp_mean"], results[f"msd{i}.cp_sd"] = m, s
        line(f"{{{{< msd msd{i} cp >}}}}", fmt.mean_sd(m, s))
    for i, (lo, hi) in enumerate(CI):
        results[f"ci{i}.ci_low"], results[f"ci{i}.ci_high"] = lo, hi
        line(f"{{{{< ci ci{i} >}}}}", fmt.interval(lo, hi))
    for k, n in SHARES:
        results[f"k{k}of{n}"] = k
        line(f"{{{{< share k{k}of{n} {n} cytokines >}}}}", fmt.share(k, n, "cytokines"))
        line(f"{{{{< share k{k}of{n} {n} >}}}}", fmt.share(k, n))
    # a pattern counted below a threshold (a results key): 2 of the 3 tests.p values are below 0.05
    results.update({"tests.a.p": 0.01, "tests.b.p": 0.04, "tests.c.p": 0.2, "alpha": 0.05, "n_tests": 3})
    line("{{< share tests.*.p n_tests tests below alpha >}}", fmt.share(2, 3, "tests"))
    line("{{< share tests.*.p n_tests below 0.001 >}}", fmt.share(0, 3))
    return results, "\n".join(lines), want


def test_shortcodes_print_what_the_python_formatter_prints(tmp_path):
    exe = render.find_quarto()
    if not render.quarto_ok(render.quarto_version(exe)):
        if os.environ.get("MBPM_REQUIRE_QUARTO") == "1":
            pytest.fail("no usable Quarto (MBPM_REQUIRE_QUARTO=1)")
        pytest.skip("no usable Quarto; `make install` or put quarto on PATH")
    results, body, want = _document()
    shutil.copytree(ROOT / "_extensions", tmp_path / "_extensions")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (tmp_path / "_quarto.yml").write_text("project:\n  type: default\n", encoding="utf-8")
    (tmp_path / "doc.qmd").write_text("---\nformat:\n  plain:\n    wrap: none\n---\n\n" + body, encoding="utf-8")
    out = subprocess.run([exe, "render", "doc.qmd"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MBPM_BUILD_DIR": "build"})
    assert out.returncode == 0, out.stderr[-3000:]
    text = (tmp_path / "doc.txt").read_text(encoding="utf-8")
    # the first n/a of the document carries the footnote explaining it: its marker ([1] in plain text) is not the number
    got = {k: re.sub(r"\[\d+\]$", "", v) for k, v in re.findall(r"(L\d+):(.*?):E\d+", text)}
    mismatches = [(k, got.get(k), w) for k, w in want if got.get(k) != w]
    assert not mismatches, mismatches
