"""Benchmarks (`make bench`, `make scale`): pytest-benchmark, never part of `make test`.

This conftest adds what pytest-benchmark does not: the study sizes for the whole-chain benchmarks
(``BENCH_SIZES=65,1000,10000``; 100000 is opt-in), a project copy to run the pipeline in, peak memory of a
process tree (psutil, sampled), and a Markdown summary of every benchmark next to pytest-benchmark's JSON
(``build/benchmarks/summary.md``, written from pytest-benchmark's own ``pytest_benchmark_update_json`` hook).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.paths import NOT_SOURCES

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "benchmarks"
DEFAULT_SIZES = "65,1000,10000"
IGNORE = shutil.ignore_patterns(*NOT_SOURCES)


def bench_sizes() -> list[int]:
    return [int(x) for x in os.environ.get("BENCH_SIZES", DEFAULT_SIZES).split(",") if x.strip()]


def pytest_generate_tests(metafunc):
    if "n_participants" in metafunc.fixturenames:
        sizes = bench_sizes()
        metafunc.parametrize("n_participants", sizes, ids=[f"n{n}" for n in sizes], scope="module")


# --- a project copy and synthetic studies ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def bench_project(tmp_path_factory) -> Path:
    """A copy of the project (sources only), so that benchmarks never touch the working tree's build/."""
    project = tmp_path_factory.mktemp("bench") / "project"
    shutil.copytree(ROOT, project, ignore=IGNORE)
    return project


@pytest.fixture(scope="session")
def synthetic_study(bench_project):
    """``study(n) -> folder`` with the synthetic generator's raw files for ``n`` participants (cached per n)."""
    cache: dict[int, Path] = {}

    def study(n: int) -> Path:
        if n not in cache:
            out = bench_project / "bench-data" / f"n{n}"
            run = run_measured([sys.executable, "-m", "helpers", "synth", "--seed", "20250101", "--out", str(out),
                                "--n-participants", str(n)], cwd=bench_project)
            assert run.returncode == 0, run.output[-3000:]
            SYNTH_SECONDS[n] = run.seconds
            cache[n] = out
        return cache[n]

    return study


SYNTH_SECONDS: dict[int, float] = {}


# --- measuring a command -----------------------------------------------------------------------------------------

class Measured:
    returncode: int
    output: str
    seconds: float
    peak_rss_mb: float  # sum over the process tree at its largest (sampled every 50 ms)
    peak_single_mb: float  # the largest single process


def run_measured(cmd: list[str], cwd: Path, env: dict | None = None) -> Measured:
    """Run ``cmd``; wall time, and peak resident memory of the whole process tree (psutil, sampled)."""
    import psutil

    env = {**os.environ, "MBPM_PROJECT_ROOT": str(cwd), **(env or {})}
    result = Measured()
    peak = {"tree": 0, "single": 0}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()

    def sample():
        try:
            parent = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            if rss:
                peak["tree"] = max(peak["tree"], sum(rss))
                peak["single"] = max(peak["single"], max(rss))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result.output = proc.communicate()[0]
    result.seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    result.returncode = proc.returncode
    result.peak_rss_mb = peak["tree"] / 2**20
    result.peak_single_mb = peak["single"] / 2**20
    return result


# --- the Markdown summary ----------------------------------------------------------------------------------------

def _machine() -> str:
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:  # pragma: no cover
        mem = "?"
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem} RAM, Python {platform.python_version()}"


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Write build/benchmarks/summary.md from the benchmarks pytest-benchmark is about to save as JSON."""
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {_machine()}. Made by `make bench` (pytest-benchmark; whole-chain sizes: "
        f"{os.environ.get('BENCH_SIZES', DEFAULT_SIZES)}); raw numbers in the JSON beside this file.",
        "",
        "| benchmark | rounds | median (s) | min (s) | peak memory (MB) | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for b in output_json["benchmarks"]:
        stats, extra = b["stats"], b.get("extra_info", {})
        peak = extra.get("peak_rss_mb")
        notes = extra.get("notes", "")
        lines.append(f"| `{b['name']}` | {stats['rounds']} | {stats['median']:.2f} | {stats['min']:.2f} | "
                     f"{'' if peak is None else f'{peak:.0f}'} | {notes} |")
    per_notebook = [b for b in output_json["benchmarks"] if b.get("extra_info", {}).get("per_notebook")]
    if per_notebook:
        lines += ["", "Per notebook (Snakemake `benchmark:` files of the cold runs: wall s / max RSS MB):", ""]
        names = sorted({nb for b in per_notebook for nb in b["extra_info"]["per_notebook"]})
        lines.append("| run | " + " | ".join(names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for b in per_notebook:
            cells = []
            for nb in names:
                m = b["extra_info"]["per_notebook"].get(nb)
                cells.append("" if m is None else f"{m['s']:.1f} / {m['max_rss_mb']:.0f}")
            lines.append(f"| `{b['name']}` | " + " | ".join(cells) + " |")
    (OUT / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
