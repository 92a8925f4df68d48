"""Speed of questionnaire scoring: 100,000 participant-visits, all seven instruments (target: under 2 s).

Run with ``make bench`` (pytest-benchmark); not part of ``make test``. Responses are drawn uniformly within each
item's range from a fixed seed, with 3 % of responses missing so that proration runs too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import scoring

N_ROWS = 100_000
TARGET_SECONDS = 2.0


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    rng = np.random.default_rng(20250101)
    columns = {
        "record_id": np.char.add("P", np.arange(N_ROWS).astype(str)),
        "visit": np.where(np.arange(N_ROWS) % 2, "post", "pre"),
    }
    for name in scoring.INSTRUMENTS:
        for item, r in scoring.load_key(name).ranges.iterrows():
            values = rng.integers(int(r["min"]), int(r["max"]) + 1, N_ROWS).astype(float)
            values[rng.random(N_ROWS) < 0.03] = np.nan
            columns[item] = values
    return pd.DataFrame(columns)


def test_score_all_100k(benchmark, export):
    scored = benchmark.pedantic(scoring.score_all, args=(export,), rounds=5, iterations=1, warmup_rounds=1)
    assert len(scored) == N_ROWS
    assert benchmark.stats["median"] < TARGET_SECONDS
