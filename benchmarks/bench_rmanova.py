"""Speed of helpers.stats.mixed_anova: 10,000 subjects x 12 within cells (target: under 1 s).

2 Time x 6 Biomarker within, 2 groups between (unequal: 5,400 vs 4,600), log-normal values on different scales,
long format (120,000 rows) as the notebooks pass it. Run with ``make bench`` (pytest-benchmark); not part of
``make test``. The time includes validation, the long-to-wide step and both the univariate and multivariate tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.stats import mixed_anova

N_SUBJECTS = 10_000
TARGET_SECONDS = 1.0
ANALYTES = ["oxytocin", "il1b", "il6", "il8", "tnfa", "dheas"]


@pytest.fixture(scope="module")
def long_data() -> pd.DataFrame:
    rng = np.random.default_rng(20250501)
    n_cells = 2 * len(ANALYTES)
    subj = np.repeat(np.arange(N_SUBJECTS), n_cells)
    visit = np.tile(np.repeat(["pre", "post"], len(ANALYTES)), N_SUBJECTS)
    analyte = np.tile(ANALYTES * 2, N_SUBJECTS)
    group = np.where(subj < 5_400, "MBPM", "WL")
    log_mu = np.tile(np.log([40, 60, 4, 250, 2.5, 2500] * 2), N_SUBJECTS)
    subj_effect = np.repeat(rng.normal(0, 0.5, (N_SUBJECTS, len(ANALYTES))), 2, axis=0).reshape(-1)
    value = np.exp(log_mu + subj_effect + rng.normal(0, 0.3, subj.size))
    return pd.DataFrame(
        {
            "record_id": np.char.add("S", subj.astype(str)),
            "group": group,
            "visit": visit,
            "analyte": analyte,
            "value": value,
        }
    )


@pytest.mark.parametrize("convention", ["spss", "car"])
def test_mixed_anova_10k_subjects_12_cells(benchmark, long_data, convention):
    res = benchmark.pedantic(
        mixed_anova,
        args=(long_data, "value", "record_id", ["visit", "analyte"], "group"),
        kwargs={"convention": convention},
        rounds=5,
        iterations=1,
        warmup_rounds=1,
    )
    assert res.n_subjects == N_SUBJECTS
    assert len(res.multivariate) == 4 * 6
    assert benchmark.stats["median"] < TARGET_SECONDS
