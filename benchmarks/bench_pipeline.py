"""The whole notebook chain under Snakemake at 65, 1,000 and 10,000 participants (100,000: `make scale N=100000`).

For each size, on a synthetic study from ``helpers.synthetic`` (seed 20250101), in a copy of the project:

* cold run: the five notebooks and the results merge from an empty build folder (no rendering, no supplementary);
* no-op re-run: Snakemake finds nothing to do (what `make report` costs when nothing changed);
* one helper changed: ``src/helpers/stats/robustness.py`` gains a comment, so only the notebooks importing it
  (03, 04) and their downstream (05) re-run.

Wall time is measured around the ``snakemake`` process; peak memory is the largest sum of resident memory over
Snakemake, the papermill processes and their kernels (psutil, sampled every 50 ms; shared pages count once per
process, so it errs high). Per-notebook wall time and memory come from Snakemake's own ``benchmark:`` files.

Target (issue 7, scale-up): at 10,000 participants the cold chain finishes in under 60 s with peak memory under
2 GB on a 2-core machine. The test asserts it only at 10,000; other sizes are recorded.
"""

from __future__ import annotations

import csv
import re
import shutil
import sys

import pytest

from .conftest import SYNTH_SECONDS, run_measured

TARGET = {10_000: {"seconds": 60.0, "peak_mb": 2048.0}}
CHANGED_HELPER = "src/helpers/stats/robustness.py"  # imported by 03 and 04 (via helpers.stats)


def _snakemake_cmd(raw, build):
    return [sys.executable, "-m", "snakemake", "--cores", "2",
            "--config", f"raw_dir={raw}", f"build_dir={build}", f"figures_dir={build}/figures",
            "--", f"{build}/results.json"]


def _jobs_run(output: str) -> list[str]:
    return sorted(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", output))


def _per_notebook(build) -> dict[str, dict]:
    out = {}
    for tsv in sorted((build / "benchmarks").glob("*.tsv")):
        with open(tsv, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        out[tsv.stem] = {"s": float(row["s"]), "max_rss_mb": float(row["max_rss"] or 0)}
    return out


@pytest.fixture(scope="module")
def study(bench_project, synthetic_study, n_participants):
    raw = synthetic_study(n_participants)
    build = bench_project / "bench-build" / f"n{n_participants}"
    return {"project": bench_project, "raw": raw.relative_to(bench_project),
            "build": build.relative_to(bench_project), "n": n_participants}


def _run(study):
    return run_measured(_snakemake_cmd(study["raw"], study["build"]), cwd=study["project"])


def test_chain_cold(benchmark, study):
    project, build, n = study["project"], study["project"] / study["build"], study["n"]

    def setup():
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(project / ".snakemake" / "metadata", ignore_errors=True)

    runs = []
    benchmark.pedantic(lambda: runs.append(_run(study)), setup=setup, rounds=1, iterations=1)
    run = runs[-1]
    assert run.returncode == 0, run.output[-4000:]
    benchmark.extra_info.update({
        "n_participants": n, "peak_rss_mb": run.peak_rss_mb, "peak_single_process_mb": run.peak_single_mb,
        "jobs": _jobs_run(run.output), "per_notebook": _per_notebook(build),
        "synth_seconds": SYNTH_SECONDS.get(n),
        "notes": f"5 notebooks + merge; synthetic data made in {SYNTH_SECONDS.get(n, float('nan')):.1f} s "
                 f"(not included); largest process {run.peak_single_mb:.0f} MB",
    })
    if n in TARGET:
        assert run.seconds < TARGET[n]["seconds"], f"cold chain at n={n}: {run.seconds:.1f} s"
        assert run.peak_rss_mb < TARGET[n]["peak_mb"], f"peak memory at n={n}: {run.peak_rss_mb:.0f} MB"


def test_chain_noop(benchmark, study):
    if not (study["project"] / study["build"] / "results.json").exists():
        assert _run(study).returncode == 0
    runs = []
    benchmark.pedantic(lambda: runs.append(_run(study)), rounds=3, iterations=1)
    assert all(r.returncode == 0 and "Nothing to be done" in r.output for r in runs), runs[-1].output[-2000:]
    benchmark.extra_info.update({"n_participants": study["n"], "peak_rss_mb": max(r.peak_rss_mb for r in runs),
                                 "notes": "nothing re-executed"})


def test_chain_one_helper_changed(benchmark, study):
    project = study["project"]
    if not (project / study["build"] / "results.json").exists():
        assert _run(study).returncode == 0
    helper = project / CHANGED_HELPER
    original = helper.read_text()
    runs = []

    def setup():
        helper.write_text(original + f"\n# benchmark edit {len(runs)}\n")

    try:
        benchmark.pedantic(lambda: runs.append(_run(study)), setup=setup, rounds=1, iterations=1)
    finally:
        helper.write_text(original)
    run = runs[-1]
    assert run.returncode == 0, run.output[-4000:]
    jobs = _jobs_run(run.output)
    assert "notebook_01_ingest" not in jobs and "notebook_02_scoring" not in jobs, jobs
    benchmark.extra_info.update({"n_participants": study["n"], "peak_rss_mb": run.peak_rss_mb, "jobs": jobs,
                                 "notes": f"{CHANGED_HELPER} edited; re-ran: "
                                          + ", ".join(j.removeprefix("notebook_") for j in jobs)})
    # leave the build consistent with the restored helper for later benchmarks
    assert _run(study).returncode == 0
