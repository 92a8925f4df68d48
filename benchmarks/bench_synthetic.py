"""Speed of the synthetic-study generator and of the ingest: 10,000 participants (target: a few seconds each), and
the generator at the sizes tests/test_synthetic.py writes (65 and 650 participants, CPU seconds).

Run with ``make bench`` (pytest-benchmark); not part of ``make test``.
"""

from __future__ import annotations

import itertools
import time

import pytest

from helpers import ingest, synthetic

N_PARTICIPANTS = 10_000
TARGET_SECONDS = 10.0
# participants -> CPU-second target of one synthesize call (measured 2026-12-06 on 2 shared cores: 0.7 s and
# 2.9 s; before the candidates of _analytes became numpy arrays: 2.3 s and 5.7 s)
SUITE_SIZES = {65: 1.2, 650: 4.5}


def test_synthesize_10k(benchmark, tmp_path):
    paths = benchmark.pedantic(synthetic.synthesize, args=(1, tmp_path / "raw", N_PARTICIPANTS), rounds=1,
                               iterations=1)
    assert len(paths) == len(synthetic.FILES)
    assert benchmark.stats["mean"] < TARGET_SECONDS


@pytest.mark.benchmark(group="synthesize", timer=time.process_time)
@pytest.mark.parametrize("size", sorted(SUITE_SIZES), ids=[f"n{n}" for n in sorted(SUITE_SIZES)])
def test_synthesize_suite_sizes(benchmark, tmp_path, size):
    runs = itertools.count()
    benchmark.pedantic(lambda: synthetic.synthesize(synthetic.SHIPPED_SEED, tmp_path / str(next(runs)), size),
                       rounds=3, iterations=1)
    assert benchmark.stats["min"] < SUITE_SIZES[size]


@pytest.fixture(scope="module")
def raw_10k(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw10k")
    synthetic.synthesize(1, out, N_PARTICIPANTS)
    return out


def test_ingest_10k(benchmark, raw_10k, tmp_path):
    result = benchmark.pedantic(ingest.ingest, args=(raw_10k, tmp_path / "build"), rounds=1, iterations=1)
    assert int(result.flow.set_index("key").loc["n_total", "n"]) == N_PARTICIPANTS
    assert benchmark.stats["mean"] < TARGET_SECONDS
