"""Property tests (hypothesis) of reverse keying and proration, over every instrument's key.

The expectations are arithmetic facts about the keys' rules (a reversed response counts min + max - x; a
prorated sum is the mean of the answered items times the number of items), never outputs of the scorer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import scoring

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame(key: scoring.Key, values: dict[str, float]) -> pd.DataFrame:
    row = {"record_id": "P001", "visit": "pre"}
    row.update({item: values.get(item, np.nan) for item in key.items})
    return pd.DataFrame([row])


def numeric_scores(instrument: str, items: pd.DataFrame) -> pd.Series:
    scores = scoring.score(instrument, items).iloc[0]
    return scores[scoring.load_key(instrument).scales].astype(float)


@st.composite
def complete_row(draw, instrument=None):
    name = instrument or draw(st.sampled_from(scoring.INSTRUMENTS))
    key = scoring.load_key(name)
    values = {
        item: float(draw(st.integers(int(r["min"]), int(r["max"])))) for item, r in key.ranges.iterrows()
    }
    return name, key, values


@SETTINGS
@given(complete_row(), st.data())
def test_reversing_a_response_mirrors_its_contribution(row, data):
    """Swapping an item's response x for min + max - x moves each of its scores by the mirrored amount."""
    name, key, values = row
    item = data.draw(st.sampled_from(key.items))
    lo, hi, reverse = (key.ranges.loc[item, c] for c in ("min", "max", "reverse"))
    x = values[item]
    mirrored = dict(values, **{item: lo + hi - x})
    before, after = numeric_scores(name, frame(key, values)), numeric_scores(name, frame(key, mirrored))
    counted_before = (lo + hi - x) if reverse else x
    counted_after = x if reverse else (lo + hi - x)
    for scale, members in key.table.groupby("scale")["item"]:
        rule = key.meta["scales"][scale]
        n = len(members)
        if item not in set(members):
            assert after[scale] == before[scale]
            continue
        step = (counted_after - counted_before) / (n if rule["rule"] == "mean" else 1)
        assert math.isclose(after[scale] - before[scale], step, abs_tol=1e-9), (scale, item)


@SETTINGS
@given(complete_row())
def test_complete_row_scores_equal_the_plain_sum_or_mean(row):
    """With nothing missing, proration changes nothing: a sum is the plain sum of keyed responses."""
    name, key, values = row
    scores = numeric_scores(name, frame(key, values))
    for scale, members in key.table.groupby("scale")["item"]:
        keyed = [
            (key.ranges.loc[i, "min"] + key.ranges.loc[i, "max"] - values[i])
            if key.ranges.loc[i, "reverse"]
            else values[i]
            for i in members
        ]
        expected = sum(keyed) / len(keyed) if key.meta["scales"][scale]["rule"] == "mean" else sum(keyed)
        assert math.isclose(scores[scale], expected, abs_tol=1e-9), scale


@st.composite
def scale_with_allowed_gaps(draw):
    name = draw(st.sampled_from(scoring.INSTRUMENTS))
    key = scoring.load_key(name)
    scale = draw(st.sampled_from([s for s in key.scales if key.meta["scales"][s]["max_missing"] > 0]))
    members = list(key.table.loc[key.table["scale"] == scale, "item"])
    n_missing = draw(st.integers(1, key.meta["scales"][scale]["max_missing"]))
    missing = draw(st.lists(st.sampled_from(members), min_size=n_missing, max_size=n_missing, unique=True))
    return name, key, scale, members, missing


@SETTINGS
@given(scale_with_allowed_gaps(), st.data())
def test_equal_answers_give_the_same_score_whichever_allowed_items_are_missing(case, data):
    """All answered keyed responses equal to v: the mean is v and the prorated sum v x n, whatever is missing."""
    name, key, scale, members, missing = case
    lo = int(key.ranges.loc[members, "min"].max())
    hi = int(key.ranges.loc[members, "max"].min())
    v = data.draw(st.integers(lo, hi))
    values = {}
    for item in key.items:
        r = key.ranges.loc[item]
        values[item] = float(r["min"] + r["max"] - v if r["reverse"] else v)
    for item in missing:
        values[item] = np.nan
    score = numeric_scores(name, frame(key, values))[scale]
    rule = key.meta["scales"][scale]
    expected = v if rule["rule"] == "mean" else v * len(members)
    assert math.isclose(score, expected, abs_tol=1e-9)


@SETTINGS
@given(scale_with_allowed_gaps(), st.data())
def test_prorated_sum_is_the_answered_mean_times_the_item_count(case, data):
    name, key, scale, members, missing = case
    _, _, values = data.draw(complete_row(name))
    for item in missing:
        values[item] = np.nan
    score = numeric_scores(name, frame(key, values))[scale]
    r = key.ranges.loc[members]
    keyed = np.where(r["reverse"], r["min"] + r["max"] - r.index.map(values), r.index.map(values))
    mean = np.nanmean(keyed)
    rule = key.meta["scales"][scale]
    if rule["rule"] == "mean":
        assert math.isclose(score, mean, abs_tol=1e-9)
    elif rule.get("round") == "up":
        exact = mean * len(members)
        assert score == math.ceil(round(exact, 9)) and exact <= score < exact + 1
    else:
        assert math.isclose(score, mean * len(members), abs_tol=1e-9)


@SETTINGS
@given(st.data())
def test_one_missing_item_too_many_gives_no_score(data):
    name = data.draw(st.sampled_from(scoring.INSTRUMENTS))
    key = scoring.load_key(name)
    scale = data.draw(st.sampled_from(key.scales))
    members = list(key.table.loc[key.table["scale"] == scale, "item"])
    k = key.meta["scales"][scale]["max_missing"] + 1
    missing = data.draw(st.lists(st.sampled_from(members), min_size=k, max_size=k, unique=True))
    _, _, values = data.draw(complete_row(name))
    for item in missing:
        values[item] = np.nan
    assert math.isnan(numeric_scores(name, frame(key, values))[scale])


@pytest.mark.slow  # many hypothesis examples of whole batches
@SETTINGS
@given(st.lists(complete_row("maia"), min_size=2, max_size=6), st.data())
def test_scoring_a_batch_equals_scoring_each_row(rows, data):
    """Vectorised scoring: each row's scores do not depend on the other rows."""
    key = scoring.load_key("maia")
    frames = []
    for i, (_, _, values) in enumerate(rows):
        gaps = data.draw(st.lists(st.sampled_from(key.items), max_size=4, unique=True))
        f = frame(key, dict(values, **{g: np.nan for g in gaps})).assign(record_id=f"P{i:03d}")
        frames.append(f)
    batch = scoring.score("maia", pd.concat(frames, ignore_index=True))
    for i, f in enumerate(frames):
        single = scoring.score("maia", f)
        pd.testing.assert_frame_equal(batch.iloc[[i]].reset_index(drop=True), single)
