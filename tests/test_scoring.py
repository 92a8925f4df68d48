"""Questionnaire scoring: hand-worked examples from each instrument's scoring rules, errors, reliability.

Every expected value below is worked out by hand from the published key (subscale membership, reverse-keyed
items, proration rule stated in keys/instruments.yaml), never taken from the scorer's output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers import scoring
from helpers.validation import DataValidationError


def responses(prefix: str, values: list, record_id: str = "P001", visit: str = "pre") -> pd.DataFrame:
    """One participant-visit with items prefix_1..prefix_n set to ``values`` (None = not answered)."""
    row = {"record_id": record_id, "visit": visit}
    row.update({f"{prefix}_{i}": (np.nan if v is None else v) for i, v in enumerate(values, start=1)})
    return pd.DataFrame([row])


def only(df: pd.DataFrame) -> pd.Series:
    assert len(df) == 1
    return df.iloc[0]


# --- PCS (Sullivan 1995): rumination 8-11, magnification 6, 7, 13, helplessness 1-5, 12 -----------------------

PCS = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]


def test_pcs_hand_worked():
    s = only(scoring.score("pcs", responses("pcs", PCS)))
    assert s["pcs_rumination"] == 2 + 3 + 4 + 0
    assert s["pcs_magnification"] == 0 + 1 + 2
    assert s["pcs_helplessness"] == 0 + 1 + 2 + 3 + 4 + 1
    assert s["pcs_total"] == 23
    assert s["record_id"] == "P001" and s["visit"] == "pre"


def test_pcs_prorated_and_too_many_missing():
    values = list(PCS)
    values[8] = None  # pcs_9 (rumination, answered 3)
    s = only(scoring.score("pcs", responses("pcs", values)))
    assert s["pcs_rumination"] == pytest.approx((2 + 4 + 0) / 3 * 4)  # 8.0
    assert s["pcs_total"] == pytest.approx(20 / 12 * 13)
    values[9] = None  # pcs_10 too: two of four rumination items missing (rule allows one)
    s = only(scoring.score("pcs", responses("pcs", values)))
    assert math.isnan(s["pcs_rumination"])
    assert s["pcs_total"] == pytest.approx(16 / 11 * 13)  # two of 13 missing: still prorated
    assert s["pcs_helplessness"] == 11


# --- BDI-II (Beck 1996): sum of 21 items, bands 0-13 / 14-19 / 20-28 / 29-63 ----------------------------------

@pytest.mark.parametrize(
    "ones, band",
    [(0, "minimal"), (13, "minimal"), (14, "mild"), (19, "mild"), (20, "moderate"), (21, "moderate")],
)
def test_bdi_bands_at_the_cut_points(ones, band):
    s = only(scoring.score("bdi", responses("bdi", [1] * ones + [0] * (21 - ones))))
    assert s["bdi_total"] == ones
    assert s["bdi_severity"] == band


def test_bdi_moderate_severe_boundary_and_top():
    s = only(scoring.score("bdi", responses("bdi", [3] * 9 + [1] * 1 + [0] * 11)))  # 27 + 1 = 28
    assert (s["bdi_total"], s["bdi_severity"]) == (28, "moderate")
    s = only(scoring.score("bdi", responses("bdi", [3] * 9 + [2] + [0] * 11)))  # 29
    assert (s["bdi_total"], s["bdi_severity"]) == (29, "severe")
    s = only(scoring.score("bdi", responses("bdi", [3] * 21)))
    assert (s["bdi_total"], s["bdi_severity"]) == (63, "severe")


def test_bdi_prorated_total_falls_in_the_band_that_holds_it():
    s = only(scoring.score("bdi", responses("bdi", [1] * 19 + [0] + [None])))
    assert s["bdi_total"] == pytest.approx(19 * 21 / 20)  # 19.95
    assert s["bdi_severity"] == "mild"
    s = only(scoring.score("bdi", responses("bdi", [1] * 18 + [None] * 3)))
    assert math.isnan(s["bdi_total"]) and pd.isna(s["bdi_severity"])


# --- MAIA (Mehling 2012): subscale means, items 5-9 reversed (5 - x) ------------------------------------------

MAIA = [5, 4, 3, 2,            # noticing
        0, 1, 5,               # not-distracting, all reversed -> 5, 4, 0
        1, 2, 3,               # not-worrying, 8 and 9 reversed -> 4, 3, 3
        1, 2, 3, 4, 5, 0, 1,   # attention regulation
        2, 2, 2, 2, 2,         # emotional awareness
        5, 5, 5, 5,            # self-regulation
        0, 0, 3,               # body listening
        4, 5, None]            # trusting, one missing


def test_maia_hand_worked_with_reverse_keys_and_a_missing_item():
    s = only(scoring.score("maia", responses("maia", MAIA)))
    assert s["maia_noticing"] == pytest.approx(3.5)
    assert s["maia_not_distracting"] == pytest.approx(3.0)
    assert s["maia_not_worrying"] == pytest.approx(10 / 3)
    assert s["maia_attention_regulation"] == pytest.approx(16 / 7)
    assert s["maia_emotional_awareness"] == pytest.approx(2.0)
    assert s["maia_self_regulation"] == pytest.approx(5.0)
    assert s["maia_body_listening"] == pytest.approx(1.0)
    assert s["maia_trusting"] == pytest.approx(4.5)


def test_maia_two_of_three_missing_is_no_score():
    values = list(MAIA)
    values[29] = None
    assert math.isnan(only(scoring.score("maia", responses("maia", values)))["maia_trusting"])


# --- FFMQ-39 (Baer 2006): facet sums, 19 items reversed (6 - x) -----------------------------------------------

def test_ffmq_hand_worked_all_twos():
    s = only(scoring.score("ffmq", responses("ffmq", [2] * 39)))
    assert s["ffmq_observing"] == 16            # 8 x 2
    assert s["ffmq_describing"] == 22           # 5 x 2 + 3 reversed x 4
    assert s["ffmq_acting_with_awareness"] == 32  # 8 reversed x 4
    assert s["ffmq_nonjudging"] == 32           # 8 reversed x 4
    assert s["ffmq_nonreactivity"] == 14        # 7 x 2
    assert s["ffmq_total"] == 116               # 20 x 2 + 19 x 4


def test_ffmq_prorated_facet():
    values = [2] * 39
    values[11] = None  # ffmq_12, a reversed describing item
    s = only(scoring.score("ffmq", responses("ffmq", values)))
    assert s["ffmq_describing"] == pytest.approx(18 * 8 / 7)
    assert s["ffmq_total"] == pytest.approx(112 * 39 / 38)
    values[15] = None  # ffmq_16: second describing item missing
    assert math.isnan(only(scoring.score("ffmq", responses("ffmq", values)))["ffmq_describing"])


# --- SF-MPQ (Melzack 1987): sensory 1-11, affective 12-15 -----------------------------------------------------

def test_sfmpq_hand_worked_and_prorated():
    values = [3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 2]
    s = only(scoring.score("sfmpq", responses("sfmpq", values)))
    assert (s["sfmpq_sensory"], s["sfmpq_affective"], s["sfmpq_total"]) == (7, 4, 11)
    values[0] = None
    s = only(scoring.score("sfmpq", responses("sfmpq", values)))
    assert s["sfmpq_sensory"] == pytest.approx(4 * 11 / 10)
    assert s["sfmpq_total"] == pytest.approx(8 * 15 / 14)
    assert s["sfmpq_affective"] == 4


# --- PAM-13 (Hibbard 2005): 5 = not applicable -> missing; at least 10 of 13 answered -------------------------

PAM = [1, 2, 3, 4, 4, 3, 2, 1, 4, 4, 4, 4, 4]


def test_pam_raw_and_mean():
    s = only(scoring.score("pam", responses("pam", PAM)))
    assert s["pam_raw"] == 40
    assert s["pam_mean"] == pytest.approx(40 / 13)


def test_pam_not_applicable_is_missing_and_prorated():
    values = PAM[:12] + [5]
    s = only(scoring.score("pam", responses("pam", values)))
    assert s["pam_mean"] == pytest.approx(3.0)  # 36 / 12
    assert s["pam_raw"] == pytest.approx(39.0)  # 3.0 x 13
    values = PAM[:9] + [5, 5, None, 5]  # four not answered: fewer than 10 valid
    s = only(scoring.score("pam", responses("pam", values)))
    assert math.isnan(s["pam_raw"]) and math.isnan(s["pam_mean"])


def test_pam_activation_from_a_user_table(tmp_path):
    # a fixture table with invented activation values: the real one is licensed and not shipped
    table = tmp_path / "pam_activation.csv"
    pd.DataFrame({"raw": [39.0, 40.0], "activation": [55.5, 60.0]}).to_csv(table, index=False)
    items = pd.concat([responses("pam", PAM, "P001"), responses("pam", PAM[:12] + [5], "P002")])
    s = scoring.score("pam", items, activation_table=table)
    assert s["pam_activation"].tolist() == [60.0, 55.5]
    with pytest.raises(DataValidationError, match=r"P003.*pam_raw.*13"):
        scoring.score("pam", responses("pam", [1] * 13, "P003"), activation_table=table)


def test_activation_table_is_for_pam_only(tmp_path):
    with pytest.raises(ValueError, match="PAM"):
        scoring.score("pcs", responses("pcs", PCS), activation_table=tmp_path / "x.csv")


# --- PROMIS-29 v2.0 (HealthMeasures): raw sums per 4-item domain; prorate >= 50 % answered, round up ----------

PROMIS = [5, 5, 4, 4,   # physical function 18
          1, 2, 1, 2,   # anxiety 6
          1, 1, 1, 1,   # depression 4
          3, 3, 3, 3,   # fatigue 12
          2, 2, 3, 3,   # sleep disturbance 10
          5, 4, 5, 4,   # social roles 18
          3, 4, 3, 2,   # pain interference 12
          6]            # pain intensity 0-10


def test_promis_raw_sums():
    s = only(scoring.score("promis29", responses("promis29", PROMIS)))
    expected = {"promis_physical_function": 18, "promis_anxiety": 6, "promis_depression": 4,
                "promis_fatigue": 12, "promis_sleep_disturbance": 10, "promis_social_roles": 18,
                "promis_pain_interference": 12, "promis_pain_intensity": 6}
    assert s.drop(["record_id", "visit"]).to_dict() == expected


def test_promis_proration_rounds_up_and_needs_half_the_items():
    values = list(PROMIS)
    values[27] = None  # 3 + 4 + 3 = 10 -> 10 x 4 / 3 = 13.33 -> 14
    assert only(scoring.score("promis29", responses("promis29", values)))["promis_pain_interference"] == 14
    values[26] = None  # 3 + 4 = 7 -> 14
    assert only(scoring.score("promis29", responses("promis29", values)))["promis_pain_interference"] == 14
    values[25] = None  # one of four answered: below 50 %
    assert math.isnan(only(scoring.score("promis29", responses("promis29", values)))["promis_pain_interference"])
    values = list(PROMIS)
    values[28] = None
    assert math.isnan(only(scoring.score("promis29", responses("promis29", values)))["promis_pain_intensity"])


def test_promis_pain_intensity_range_is_0_to_10():
    values = list(PROMIS)
    values[28] = 0
    assert only(scoring.score("promis29", responses("promis29", values)))["promis_pain_intensity"] == 0
    values[28] = 11
    with pytest.raises(DataValidationError, match=r"promis29_29: value 11 .*0-10"):
        scoring.score("promis29", responses("promis29", values))


def test_promis_t_scores_from_a_user_table(tmp_path):
    # invented fixture values: the real conversion tables are supplied by the user (see keys/instruments.yaml)
    table = tmp_path / "promis_t.csv"
    pd.DataFrame({"scale": ["promis_pain_interference"] * 2, "raw": [12, 14],
                  "t_score": [60.5, 63.5], "se": [1.5, 1.75]}).to_csv(table, index=False)
    values = list(PROMIS)
    items = pd.concat([responses("promis29", values, "P001"),
                       responses("promis29", values[:27] + [None, 6], "P002")])
    s = scoring.score("promis29", items, promis_t_table=table)
    assert s["promis_pain_interference_t"].tolist() == [60.5, 63.5]
    assert s["promis_pain_interference_se"].tolist() == [1.5, 1.75]
    assert "promis_anxiety_t" not in s.columns
    values[24:28] = [1, 1, 1, 1]
    with pytest.raises(DataValidationError, match=r"P009, visit pre, promis_pain_interference: raw score 4 "):
        scoring.score("promis29", responses("promis29", values, "P009"), promis_t_table=table)


# --- bad input ------------------------------------------------------------------------------------------------

def test_out_of_range_names_participant_visit_item_value():
    values = list(PCS)
    values[3] = 7
    items = pd.concat([responses("pcs", PCS, "P001"), responses("pcs", values, "P017", "post")])
    with pytest.raises(DataValidationError) as err:
        scoring.score("pcs", items)
    message = str(err.value)
    for part in ("participant P017", "visit post", "item pcs_4", "value 7", "0-4"):
        assert part in message


def test_out_of_range_is_not_clipped_even_at_scale_edges():
    with pytest.raises(DataValidationError, match=r"item ffmq_1: value 0 "):
        scoring.score("ffmq", responses("ffmq", [0] + [3] * 38))
    with pytest.raises(DataValidationError, match=r"item maia_32: value -1 "):
        scoring.score("maia", responses("maia", [3] * 31 + [-1]))


def test_not_applicable_code_is_an_error_where_the_instrument_has_none():
    with pytest.raises(DataValidationError, match=r"item bdi_21: value 5 "):
        scoring.score("bdi", responses("bdi", [0] * 20 + [5]))


def test_fractional_and_text_responses_raise():
    with pytest.raises(DataValidationError, match=r"item pcs_1: value 2.5 "):
        scoring.score("pcs", responses("pcs", [2.5] + PCS[1:]))
    with pytest.raises(DataValidationError, match=r"participant P001, visit pre, item pcs_2: value 'often'"):
        scoring.score("pcs", responses("pcs", [1, "often"] + PCS[2:]))


def test_identity_from_the_index_is_named_too():
    values = list(PCS)
    values[0] = 9
    items = responses("pcs", values, "P042", "post").set_index(["record_id", "visit"])
    with pytest.raises(DataValidationError, match=r"participant P042, visit post, item pcs_1: value 9"):
        scoring.score("pcs", items)
    scored = scoring.score("pcs", responses("pcs", PCS, "P042", "post").set_index(["record_id", "visit"]))
    assert scored.index.tolist() == [("P042", "post")]
    assert scored["pcs_total"].tolist() == [23]


def test_missing_item_column_raises():
    items = responses("pcs", PCS).drop(columns="pcs_13")
    with pytest.raises(DataValidationError, match=r"pcs: item columns missing from the export: pcs_13"):
        scoring.score("pcs", items)


def test_scoring_does_not_modify_the_input():
    items = responses("ffmq", [2] * 39)
    before = items.copy()
    scoring.score("ffmq", items)
    pd.testing.assert_frame_equal(items, before)


# --- the whole export -----------------------------------------------------------------------------------------

ALL_SCORES = [
    "promis_physical_function", "promis_anxiety", "promis_depression", "promis_fatigue",
    "promis_sleep_disturbance", "promis_social_roles", "promis_pain_interference", "promis_pain_intensity",
    "sfmpq_sensory", "sfmpq_affective", "sfmpq_total", "pam_raw", "pam_mean",
    "pcs_rumination", "pcs_magnification", "pcs_helplessness", "pcs_total", "bdi_total", "bdi_severity",
    "maia_noticing", "maia_not_distracting", "maia_not_worrying", "maia_attention_regulation",
    "maia_emotional_awareness", "maia_self_regulation", "maia_body_listening", "maia_trusting",
    "ffmq_observing", "ffmq_describing", "ffmq_acting_with_awareness", "ffmq_nonjudging", "ffmq_nonreactivity",
    "ffmq_total",
]


def export_row(record_id="P001", visit="pre") -> pd.DataFrame:
    parts = [responses(p, v, record_id, visit) for p, v in
             [("promis29", PROMIS), ("sfmpq", [1] * 15), ("pam", PAM), ("pcs", PCS), ("bdi", [1] * 21),
              ("maia", MAIA), ("ffmq", [2] * 39)]]
    return pd.concat([parts[0]] + [p.drop(columns=["record_id", "visit"]) for p in parts[1:]], axis=1)


def test_score_all_gives_the_contract_columns_and_the_same_values():
    items = pd.concat([export_row("P001", "pre"), export_row("P001", "post")], ignore_index=True)
    scored = scoring.score_all(items)
    assert list(scored.columns) == ["record_id", "visit", *ALL_SCORES]
    assert scored["visit"].tolist() == ["pre", "post"]
    assert scored["pcs_total"].tolist() == [23, 23]
    assert scored["ffmq_total"].tolist() == [116, 116]
    assert scored["promis_pain_interference"].tolist() == [12, 12]


def test_score_all_skips_absent_instruments_and_rejects_partial_ones():
    items = responses("pcs", PCS)
    assert list(scoring.score_all(items).columns) == [
        "record_id", "visit", "pcs_rumination", "pcs_magnification", "pcs_helplessness", "pcs_total"]
    with pytest.raises(DataValidationError, match="bdi: item columns missing"):
        scoring.score_all(items.assign(bdi_1=0))


# --- keys are data --------------------------------------------------------------------------------------------

def test_keys_declare_every_item_once_per_score_and_cite_a_source():
    for name in scoring.INSTRUMENTS:
        key = scoring.load_key(name)
        assert not key.table.duplicated(["item", "scale"]).any(), name
        assert key.meta["citation"].strip(), name
        for scale, rule in key.meta["scales"].items():
            assert rule["rule"] in {"sum", "mean"}, scale
            assert rule["missing_rule_source"].strip(), scale


def test_key_item_counts_match_the_instruments():
    counts = {"promis29": 29, "sfmpq": 15, "pam": 13, "pcs": 13, "bdi": 21, "maia": 32, "ffmq": 39}
    for name, n in counts.items():
        assert scoring.load_key(name).items == [f"{name}_{i}" for i in range(1, n + 1)]
    reversed_ffmq = scoring.load_key("ffmq").ranges.query("reverse").index
    assert sorted(int(i.split("_")[1]) for i in reversed_ffmq) == [
        3, 5, 8, 10, 12, 13, 14, 16, 17, 18, 22, 23, 25, 28, 30, 34, 35, 38, 39]
    reversed_maia = scoring.load_key("maia").ranges.query("reverse").index
    assert list(reversed_maia) == ["maia_5", "maia_6", "maia_7", "maia_8", "maia_9"]


# --- reliability ----------------------------------------------------------------------------------------------

def hand_alpha(data: np.ndarray) -> float:
    k = data.shape[1]
    return k / (k - 1) * (1 - data.var(axis=0, ddof=1).sum() / data.sum(axis=1).var(ddof=1))


def test_alpha_table_matches_the_textbook_formula_per_visit():
    magnification = np.array([[0, 1, 1], [2, 2, 3], [4, 3, 4], [1, 1, 0], [3, 4, 4]])
    rows = []
    for visit, block in (("pre", magnification), ("post", magnification[::-1] % 3)):
        for i, (a, b, c) in enumerate(block):
            values = [0] * 13
            values[5], values[6], values[12] = a, b, c
            rows.append(responses("pcs", values, f"P{i:03d}", visit))
    table = scoring.alpha_table(pd.concat(rows, ignore_index=True))
    mag = table.query("scale == 'pcs_magnification'").set_index("visit")
    assert mag.loc["pre", "alpha"] == pytest.approx(hand_alpha(magnification))
    assert mag.loc["post", "alpha"] == pytest.approx(hand_alpha(magnification[::-1] % 3))
    assert mag.loc["pre", "n"] == 5 and mag.loc["pre", "n_items"] == 3
    assert mag.loc["pre", "ci_low"] < mag.loc["pre", "alpha"] < mag.loc["pre", "ci_high"]
    assert list(table.columns) == ["instrument", "scale", "visit", "n", "n_items", "alpha", "ci_low", "ci_high"]


def test_alpha_uses_reverse_keyed_items():
    # not-distracting items are all reverse-keyed; answering 5 - x on one of them would break consistency
    base = np.array([[0, 1, 0], [2, 2, 3], [5, 4, 5], [1, 1, 2], [3, 4, 4]])
    rows = []
    for i, (a, b, c) in enumerate(base):
        values = [2] * 32
        values[4], values[5], values[6] = a, b, c
        rows.append(responses("maia", values, f"P{i:03d}"))
    table = scoring.alpha_table(pd.concat(rows, ignore_index=True), instruments=["maia"])
    alpha = table.set_index("scale").loc["maia_not_distracting", "alpha"]
    assert alpha == pytest.approx(hand_alpha(5 - base))
    # single-item pain intensity has no alpha; pam_mean repeats pam_raw's items and is listed once
    assert "promis_pain_intensity" not in set(scoring.alpha_table(export_row(), ["promis29"])["scale"])
    assert list(scoring.alpha_table(export_row(), ["pam"])["scale"]) == ["pam_raw"]
