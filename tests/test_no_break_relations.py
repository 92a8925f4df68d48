"""filters/no-break-relations.lua: a relation (=, <, >, ≤, ≥) never breaks from its operands, in the text and in the
front matter (the abstract), whether the author typed the spaces or a shortcode printed the number.

Runs the filter with Quarto's own pandoc (``quarto pandoc``) on chosen sentences; the expected strings are written out
by hand.
"""

from __future__ import annotations

import html
import re
import subprocess

import pytest

from .conftest import ROOT
from .test_manuscript_render import quarto  # noqa: F401 (fixture)

NBSP = "\u00a0"
SOURCE = """---
title: t
abstract: |
  Oxytocin rose (d~z~ = 0.62, uncorrected *p* = 0.039).
---

IL-8 differed (*p* < 0.001; *n* = 12, r ≥ 0.3; d~z~ (= |t|/√n)). The range 1 - 2 and x=1 stay as typed; so does a line
= that starts with a relation sign in the source.
"""


@pytest.fixture(scope="module")
def text(quarto):  # noqa: F811
    out = subprocess.run([quarto, "pandoc", "-f", "markdown", "-t", "html", "-s", "--lua-filter",
                          str(ROOT / "filters" / "no-break-relations.lua")], input=SOURCE, capture_output=True,
                         text=True, check=True).stdout
    body = re.sub(r"<(script|style|head)\b.*?</\1>", "", out, flags=re.S)
    return re.sub(r"[ \n]+", " ", html.unescape(re.sub(r"<[^>]+>", "", body)))  # pandoc wraps its HTML lines


@pytest.mark.parametrize("expected", [
    f"p{NBSP}<{NBSP}0.001",
    f"n{NBSP}={NBSP}12",
    f"r{NBSP}≥{NBSP}0.3",
    f"dz{NBSP}={NBSP}0.62",          # the abstract (front matter)
    f"uncorrected p{NBSP}={NBSP}0.039",
    f"(={NBSP}|t|/√n)",
])
def test_relations_are_glued_to_their_operands(text, expected):
    assert expected in text, text


def test_other_spaces_are_left_alone(text):
    assert "range 1 - 2 and x=1 stay as typed" in text
    assert f"so does a line{NBSP}={NBSP}that" in text  # a line break before "=" in the source is a space too
