"""Notes that name a method are built from the code path taken: the mixed model's fitting function, the
correction named by the ``correction`` parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import claims, tables
from helpers.stats import robustness


def small_trial() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = [{"record_id": f"P{i}", "visit": visit, "arm": "MBPM" if i < 6 else "WL",
             "value": 10 + i % 3 + (visit == "post") * (i < 6) + rng.normal(0, 0.5)}
            for i in range(12) for visit in ("pre", "post")]
    return pd.DataFrame(rows)


def test_mixedlm_note_names_the_function_that_fits_the_model(monkeypatch):
    note = " ".join(tables.mixedlm_notes(log_transform=True))
    fitter = robustness.random_intercept_reml
    calls = []

    def recording(*args, **kwargs):
        calls.append(1)
        return fitter(*args, **kwargs)

    monkeypatch.setattr(robustness, "random_intercept_reml", recording)
    robustness.mixedlm_time_group(small_trial(), "value", "record_id", "visit", "arm")
    assert calls, "mixedlm_time_group no longer fits through random_intercept_reml: the note would name the wrong one"
    assert f"`{fitter.__module__}.{fitter.__qualname__}`" in note
    assert "statsmodels MixedLM" not in note
    assert "natural-log" in note and "raw pg/mL" in " ".join(tables.mixedlm_notes(log_transform=False))


def test_fitter_name_follows_the_function_given():
    assert tables.fitter_name(small_trial) == f"{__name__}.small_trial"


@pytest.mark.parametrize(("correction", "name", "other"), [("bonferroni", "Bonferroni", "Holm"),
                                                            ("holm", "Holm", "Bonferroni")])
def test_claims_note_names_the_correction_of_the_run(correction, name, other):
    text = claims.claims_markdown({"t2.correction": correction})
    assert f"{name} within the family" in text
    assert f"{other} within the family" not in text


@pytest.mark.parametrize(("correction", "name"), [("bonferroni", "Bonferroni"), ("holm", "Holm")])
def test_survival_note_names_the_correction_parameter(correction, name):
    note = " ".join(tables.survival_notes(0.05, correction, log_transform=True))
    assert f"Multiplicity-corrected: {name} over the 12 arm × analyte paired tests" in note
