"""Speed of the synthetic-study generator and of the ingest: 10,000 participants (target: a few seconds each).

Run with ``make bench`` (pytest-benchmark); not part of ``make test``.
"""

from __future__ import annotations

import pytest

from helpers import ingest, synthetic

N_PARTICIPANTS = 10_000
TARGET_SECONDS = 10.0


def test_synthesize_10k(benchmark, tmp_path):
    paths = benchmark.pedantic(synthetic.synthesize, args=(1, tmp_path / "raw", N_PARTICIPANTS), rounds=1,
                               iterations=1)
    assert len(paths) == len(synthetic.FILES)
    assert benchmark.stats["mean"] < TARGET_SECONDS


@pytest.fixture(scope="module")
def raw_10k(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw10k")
    synthetic.synthesize(1, out, N_PARTICIPANTS)
    return out


def test_ingest_10k(benchmark, raw_10k, tmp_path):
    result = benchmark.pedantic(ingest.ingest, args=(raw_10k, tmp_path / "build"), rounds=1, iterations=1)
    assert int(result.flow.set_index("key").loc["n_total", "n"]) == N_PARTICIPANTS
    assert benchmark.stats["mean"] < TARGET_SECONDS
