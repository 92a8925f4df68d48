"""Qualitative claims of the article: every one has a rule, and the verdict follows the rule (hand-made results)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers import claims
from helpers import supplementary as sup

BDI_ONLY_MBPM = ("t2.bdi_total.mbpm.mean_diff < 0 & t2.bdi_total.mbpm.p_adj < 0.05 & "
                 "t2.bdi_total.wl.p_adj >= 0.05")


def test_every_qualitative_claim_has_a_rule_over_known_keys():
    paper = claims.load_paper_values()
    qual = paper[paper["relation"] == "qual"]
    assert len(qual) >= 20
    assert qual["rule"].notna().all() and (qual["rule"].str.strip() != "").all()
    # a rule that does not parse raises; on an empty results file each claim is "not testable", never a verdict
    out = claims.qualitative_claims({}, paper)
    assert set(out["verdict"]) == {"not testable"}


@pytest.mark.parametrize(("results", "verdict"), [
    ({"t2.bdi_total.mbpm.mean_diff": -4.9, "t2.bdi_total.mbpm.p_adj": 0.002, "t2.bdi_total.wl.p_adj": 1.0}, "holds"),
    # fell in both arms significantly: not "MBPM only"
    ({"t2.bdi_total.mbpm.mean_diff": -4.9, "t2.bdi_total.mbpm.p_adj": 0.002, "t2.bdi_total.wl.p_adj": 0.01},
     "does not hold"),
    # rose in MBPM
    ({"t2.bdi_total.mbpm.mean_diff": 1.0, "t2.bdi_total.mbpm.p_adj": 0.002, "t2.bdi_total.wl.p_adj": 1.0},
     "does not hold"),
    # the wait-list test could not be computed
    ({"t2.bdi_total.mbpm.mean_diff": -4.9, "t2.bdi_total.mbpm.p_adj": 0.002, "t2.bdi_total.wl.p_adj": math.nan},
     "not testable"),
    ({"t2.bdi_total.mbpm.mean_diff": -4.9, "t2.bdi_total.mbpm.p_adj": 0.002}, "not testable"),
])
def test_claim_verdict(results, verdict):
    got, evidence = claims.claim_verdict(BDI_ONLY_MBPM, results)
    assert got == verdict
    assert evidence.count(";") == 2  # one entry per condition


def test_claim_verdict_evidence_and_key_to_key_comparison():
    rule = "t1.maia_trusting.p < 0.05 & t1.maia_trusting.cp_mean < t1.maia_trusting.hc_mean"
    got, evidence = claims.claim_verdict(rule, {"t1.maia_trusting.p": 0.012, "t1.maia_trusting.cp_mean": 2.85,
                                             "t1.maia_trusting.hc_mean": 3.65})
    assert got == "holds"
    assert evidence.startswith("t1.maia_trusting.p = 0.012 < 0.05: true")
    assert claims.claim_verdict(rule, {"t1.maia_trusting.p": 0.012, "t1.maia_trusting.cp_mean": 3.9,
                                    "t1.maia_trusting.hc_mean": 3.65})[0] == "does not hold"
    assert claims.claim_verdict("", {})[0] == "not testable"
    with pytest.raises(ValueError, match="not '<operand> <op> <operand>'"):
        claims.claim_verdict("t1.x.p << 0.05", {"t1.x.p": 0.01})


def test_reproduction_table_and_appendix_show_the_verdict():
    paper = pd.DataFrame([
        {"key": "t2.bdi_total.mbpm.p_adj", "quantity": "BDI", "paper_value": None, "relation": "qual",
         "paper_text": "BDI fell in MBPM only", "source": "4", "tolerance": None, "rule": BDI_ONLY_MBPM},
        {"key": "t1.il8.p", "quantity": "IL-8 p", "paper_value": 0.015, "relation": "=", "paper_text": "p = 0.015",
         "source": "3.1", "tolerance": 0.03, "rule": None}])
    results = {"t2.bdi_total.mbpm.mean_diff": -4.9, "t2.bdi_total.mbpm.p_adj": 0.002, "t2.bdi_total.wl.p_adj": 1.0,
               "t1.il8.p": 0.0145}
    repro = sup.reproduction_table(results, paper)
    assert list(repro["status"]) == ["holds", "close"]
    md = claims.claims_markdown(results, paper)
    assert "| BDI fell in MBPM only" in md and "holds" in md and "1 hold, 0 do not, 0 not testable" in md


def test_appendix_rows_name_their_measure_and_no_foreign_section_numbers():
    table = claims.claims_markdown({})
    header, _, *rows = [line for line in table.splitlines() if line.startswith("|")]
    assert "Section" not in header and "Tested on" in header
    cells = [tuple(c.strip() for c in row.strip("|").split("|")) for row in rows]
    assert len(cells) == len(set(cells)), "two identical claim rows"
    decreases = sorted(measure for claim, measure, _ in cells if claim.startswith("decreases in inflammatory"))
    assert [m.split(",")[0] for m in decreases] == ["IL-1β", "IL-6", "IL-8", "TNF-α"]
    assert all(measure for _, measure, _ in cells)
    assert "t(13) = \u22122.302" in table and "= -2" not in table  # the article's numbers with a true minus
