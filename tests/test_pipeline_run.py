"""The whole notebook chain under Snakemake + papermill, on the shipped data, in a copy of the project.

Marked ``notebooks`` and ``slow``: `make test` runs it, `make test-quick` leaves it out. The build is the session's
one (``built_project`` in conftest.py), copied here because these tests edit files in it (and restore them). That
two clean runs in two folders are the same bytes is checked in tests/test_diff_revision.py, against the build of
the git ref, which is one.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, copy_project

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

# The notebook DAG by design (ARCHITECTURE.md): who reads whose outputs.
DOWNSTREAM = {
    "01_ingest": ["02_scoring"],
    "02_scoring": ["03_baseline", "04_trial_rmanova"],
    "03_baseline": ["05_discussion_figures"],
    "04_trial_rmanova": ["05_discussion_figures"],
    "05_discussion_figures": [],
}


def snakemake(project, *args):
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)


def planned_jobs(project, *args) -> set[str]:
    """Rule names a dry run would execute."""
    out = snakemake(project, "--dry-run", *args)
    assert out.returncode == 0, out.stderr[-3000:]
    return set(re.findall(r"^(notebook_\w+|results|supplementary)\s+\d+\s*$", out.stdout + out.stderr, re.M))


@pytest.fixture(scope="module")
def project(built_project, tmp_path_factory):
    """A copy of the project with the pipeline run once in it (the session's build, modification times kept)."""
    return copy_project(built_project, tmp_path_factory.mktemp("compendium") / "project")


def test_every_notebook_executed_without_errors(project):
    for nb in DOWNSTREAM:
        executed = json.loads((project / "build" / "notebooks" / f"{nb}.ipynb").read_text())
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        assert all(c["execution_count"] for c in code), f"{nb}: not every cell ran"
        errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors, f"{nb}: {errors[:1]}"
        assert any(c["outputs"] for c in code), f"{nb}: shows nothing"


def test_results_file_collects_every_notebook(project):
    results = json.loads((project / "build" / "results.json").read_text())
    with open(project / "build" / "results_keys.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["notebook"] for r in rows} == set(DOWNSTREAM)
    assert sorted(results) == sorted(r["key"] for r in rows)
    assert all(r["description"] for r in rows)
    with open(project / "data" / "raw" / "roster.csv", newline="") as fh:
        assert results["flow.n_total"] == sum(1 for _ in csv.DictReader(fh))


def test_supplementary_built(project):
    index = project / "build" / "supplementary" / "index.qmd"
    assert index.is_file() and index.stat().st_size > 0


def test_second_run_does_nothing(project):
    assert planned_jobs(project) == set()


def _downstream(nb: str) -> set[str]:
    todo, seen = [nb], set()
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(DOWNSTREAM[cur])
    return seen


def _source(nb: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{nb}.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _importers(module: str) -> set[str]:
    """Notebooks whose source imports helpers.<module> (read with a regex, independently of helpers.pipeline)."""
    pattern = re.compile(rf"from helpers import [^\n]*\b{module}\b|import helpers\.{module}\b|from helpers\.{module}\b")
    return {nb for nb in DOWNSTREAM if pattern.search(_source(nb))}


@pytest.mark.parametrize("module", ["figures", "scoring", "stats"])
def test_changed_helper_reruns_its_importers_and_their_downstream_only(project, module):
    """Direct importers (found by regex) and their downstream must re-run; nothing upstream of every user may."""
    from helpers import pipeline

    rel = f"src/helpers/{module}.py" if module != "stats" else "src/helpers/stats/__init__.py"
    importers = _importers(module)
    if not (project / rel).exists() or not importers:
        pytest.skip(f"helpers.{module} is not (yet) imported by a notebook")
    users = {nb for nb in DOWNSTREAM if rel in pipeline.helper_files(ROOT / "notebooks" / f"{nb}.ipynb")}
    assert importers <= users, "dependency discovery missed a notebook that imports the module directly"
    original = (project / rel).read_text()
    try:
        (project / rel).write_text(original + "\n# edited by test_pipeline_run\n")
        jobs = planned_jobs(project)
    finally:
        (project / rel).write_text(original)
    reran = {j.removeprefix("notebook_") for j in jobs if j.startswith("notebook_")}
    assert set().union(*(_downstream(nb) for nb in importers)) <= reran
    assert reran <= set().union(*(_downstream(nb) for nb in users))
    assert "01_ingest" not in reran or "01_ingest" in users


def test_changed_parameter_reruns_the_notebooks_taking_it(project):
    """With ``build_dir`` given, an override re-runs in that folder (without it: build/overrides/<slug>/)."""
    takers = {nb for nb in DOWNSTREAM if re.search(r"^seed\s*=", _source(nb), re.M)}
    jobs = planned_jobs(project, "--config", "build_dir=build", "seed=1")
    expected = set().union(*(_downstream(nb) for nb in takers)) if takers else set()
    assert {j.removeprefix("notebook_") for j in jobs if j.startswith("notebook_")} == expected


def test_manuscript_and_privacy_checks_pass_on_this_build(project):
    """tests/test_manuscript.py and tests/test_privacy.py skip without a build; here they read this fresh one."""
    env = {**os.environ, "MBPM_TEST_BUILD": str(project / "build"), "MBPM_PROJECT_ROOT": str(project)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          "tests/test_manuscript.py", "tests/test_privacy.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-6000:]
    skipped = [ln for ln in out.stdout.splitlines() if ln.startswith("SKIPPED")]
    assert all("quarto" in ln for ln in skipped), "\n".join(skipped)  # only the render, where Quarto is absent


def test_figures_are_declared_outputs(project):
    """05 writes exactly the figures the Snakefile declares (helpers.pipeline.FIGURES); a deleted one is rebuilt."""
    from helpers import pipeline

    written = sorted(p.name for p in (project / "figures").iterdir() if p.suffix in (".png", ".svg"))
    assert written == sorted(Path(f).name for f in pipeline.figure_files("05_discussion_figures", "figures"))
    figure = project / "figures" / "fig3_forest.svg"
    saved = figure.read_bytes()
    figure.unlink()
    try:
        assert "notebook_05_discussion_figures" in planned_jobs(project)
    finally:
        figure.write_bytes(saved)


def test_published_outputs_hold_no_machine_path_or_clock_time(project):
    published = [*(project / "build" / "notebooks").glob("*.ipynb"), *(project / "build" / "supplementary").rglob("*.qmd")]
    assert len(published) >= 6
    for path in published:
        text = path.read_text(encoding="utf-8")
        assert str(project) not in text and str(ROOT) not in text, f"{path.name} holds a machine path"
        if path.suffix == ".ipynb":
            for noise in ('"start_time"', '"end_time"', '"duration"', '"iopub.'):
                assert noise not in text, f"{path.name} holds {noise}"


def test_headline_patterns_match_real_keys(project):
    """Every headline pattern of the variants comparison matches a key this build produces."""
    from helpers import variants

    keys = set(json.loads((project / "build" / "results.json").read_text()))
    for topic in variants.HEADLINE_PATTERNS:
        for pattern in topic:
            assert any(variants._pattern(pattern).match(k) for k in keys), f"{pattern} matches no results key"
