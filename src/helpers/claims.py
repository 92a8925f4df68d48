"""The published article's qualitative claims (a direction, a significance, a change in one arm only) judged on
this run's results, for the manuscript's appendix (and the supplementary's claims page).

Each claim is a row of ``paper_values.csv`` with ``relation == 'qual'``: ``paper_text`` (the article's wording),
``quantity`` (the measure the claim is about, e.g. "IL-6, MBPM, mean change (pg/mL)") and ``rule`` (conditions on
results keys, see :func:`claim_verdict`). Written by hand: the rule language is three tokens per condition.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from helpers import formatting as fmt
from helpers import tables

PAPER_VALUES = Path(__file__).with_name("paper_values.csv")
VERDICTS = ("holds", "does not hold", "not testable")
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
# the CSV spells Greek letters in ASCII (IL-1b, TNF-a); the reader sees the analytes' names
_GREEK = {"IL-1b": "IL-1β", "TNF-a": "TNF-α", " x ": " × "}


def load_paper_values(path: str | Path = PAPER_VALUES) -> pd.DataFrame:
    """The source article's reported results (one row per reported value or claim), as strings where textual."""
    return pd.read_csv(path, dtype={"key": str, "quantity": str, "relation": str, "paper_text": str, "source": str,
                                    "rule": str})


def _operand(token: str, results: dict) -> float | None:
    """A number written in the rule, or the value of a results key (None when absent or not a finite number)."""
    try:
        return float(token)
    except ValueError:
        pass
    value = results.get(token)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _shown(token: str, value: float) -> str:
    """``key = value`` for a results key, the number itself for a number written in the rule."""
    try:
        float(token)
    except ValueError:
        return f"{token} = {value:.4g}"
    return token


def claim_verdict(rule: str, results: dict) -> tuple[str, str]:
    """Verdict of one qualitative claim on ``results``: ``(verdict, evidence)``.

    ``rule`` is a conjunction ``cond & cond & ...``, each ``cond`` being ``<key or number> <op> <key or number>``
    with op one of ``< <= > >=`` and keys those of the results file. The claim **holds** when every condition is
    true, **does not hold** when every operand is computed and some condition is false, and is **not testable**
    when the rule is empty or an operand is missing (a key the run did not compute, or NaN). ``evidence`` lists
    each condition with the values used, e.g. ``t2.bdi_total.mbpm.p_adj = 0.0021 < 0.05: true``.
    """
    if not isinstance(rule, str) or not rule.strip():
        return "not testable", "no rule stated"
    evidence, truth, missing = [], [], []
    for cond in rule.split("&"):
        parts = cond.split()
        if len(parts) != 3 or parts[1] not in _OPS:
            raise ValueError(f"claim rule condition {cond.strip()!r} is not '<operand> <op> <operand>' "
                             f"(op one of {sorted(_OPS)}) in rule {rule!r}")
        left, op, right = parts
        a, b = _operand(left, results), _operand(right, results)
        if a is None or b is None:
            missing.extend(t for t, v in ((left, a), (right, b)) if v is None)
            evidence.append(f"{cond.strip()}: not computed")
            continue
        ok = _OPS[op](a, b)
        truth.append(ok)
        evidence.append(f"{_shown(left, a)} {op} {_shown(right, b)}: {'true' if ok else 'false'}")
    if missing:
        return "not testable", "; ".join(evidence)
    return ("holds" if all(truth) else "does not hold"), "; ".join(evidence)


def shown_text(text: str) -> str:
    """A claim or measure as the reader sees it: Greek letters ("IL-1b" -> "IL-1β") and a true minus before a
    number the article printed ("t(13) = -2.302" -> "t(13) = −2.302")."""
    text = str(text)
    for ascii_, shown in _GREEK.items():
        text = text.replace(ascii_, shown)
    return re.sub(r"(?<![\w-])-(?=\d)", fmt.MINUS, text)


def qualitative_claims(results: dict, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every qualitative claim of the paper with its verdict on this run (:func:`claim_verdict`): ``claim`` (the
    paper's wording), ``measure`` (what it was tested on), ``verdict``, ``rule``, ``evidence``."""
    paper = load_paper_values() if paper is None else paper
    rows = []
    for _, p in paper[paper["relation"] == "qual"].iterrows():
        rule = p["rule"] if isinstance(p.get("rule"), str) else ""
        verdict, evidence = claim_verdict(rule, results)
        rows.append({"claim": shown_text(p["paper_text"]), "measure": shown_text(p["quantity"]), "verdict": verdict,
                     "rule": rule, "evidence": evidence})
    return pd.DataFrame(rows, columns=["claim", "measure", "verdict", "rule", "evidence"])


def adjusted_within(results: dict) -> str:
    """The correction behind the ``p_adj`` keys, from the run's ``t2.correction`` (the ``correction`` parameter)."""
    return tables.correction_name(results.get("t2.correction", "bonferroni"))


def claims_markdown(results: dict, paper: pd.DataFrame | None = None) -> str:
    """The appendix table: the article's claim in its own words, the measure it was tested on here, and the
    verdict, with the rule and the tally below it."""
    q = qualitative_claims(results, paper)
    counts = q["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    shown = pd.DataFrame({"Claim of the article (its wording)": q["claim"], "Tested on": q["measure"],
                          "Verdict on this run": q["verdict"]})
    note = (f"*Rule.* Each claim is written as conditions on this run's results (p-values unadjusted unless "
            f"marked as adjusted: {adjusted_within(results)} within the family): it holds when every condition is "
            "true, does not hold when one is false, and is not testable when a value was not computed. The "
            f"conditions and the values used are listed in the supplementary material. Here: {counts['holds']} hold, {counts['does not hold']} do not, "
            f"{counts['not testable']} not testable.")
    return tables.to_markdown(shown, [note])
