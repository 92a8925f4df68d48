"""`make clean` removes what the default build made and keeps the variants up to date: Snakemake's records of them
(content checksums of their inputs, in .snakemake/metadata) survive, so a raw file rewritten with identical content
(newer modification time, same bytes) re-runs no variant, while a real change re-runs the chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_variants import _planned, _snakemake, stub_project  # noqa: F401  (fixture: stub notebooks)

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def make_clean(project: Path) -> subprocess.CompletedProcess:
    """`make clean` in ``project`` with this environment's tools (BIN): a copy has no .venv of its own."""
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    return subprocess.run(["make", "--no-print-directory", "clean", f"BIN={Path(sys.executable).parent}"],
                          cwd=project, env=env, capture_output=True, text=True)


def test_clean_keeps_variants_whose_inputs_did_not_change_by_content(stub_project):  # noqa: F811
    (stub_project / "config" / "variants" / "seed_one.yaml").unlink()  # it blocks until released: not needed here
    run = _snakemake(stub_project, "--cores", "2", "--", "variants")
    assert run.returncode == 0, run.stderr[-3000:]
    assert _planned(stub_project) == set()

    raw = stub_project / "data" / "raw" / "roster.csv"
    raw.write_bytes(raw.read_bytes())  # edited and restored: same content, newer modification time
    clean = make_clean(stub_project)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert (stub_project / "build" / "variants" / "default" / "results.json").is_file(), "clean keeps variants"
    assert _planned(stub_project) == set(), "a variant re-runs although no input changed by content"

    raw.write_text(raw.read_text() + "2\n")  # a real change: the whole chain of the variant re-runs
    planned = _planned(stub_project)
    assert {"variant__default__notebook_01_ingest", "variant__default__notebook_05_discussion_figures"} <= planned
