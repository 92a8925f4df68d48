"""Shared test fixtures: the project root, the configuration, and ONE pipeline build per test session.

``built_project`` is a copy of the project's sources with the whole pipeline run once in it (the shipped data,
default parameters: the build in build/, the figures in figures/, as ``make report`` makes them). Every test that
needs a real build uses it instead of running the pipeline itself. Under pytest-xdist each worker is its own
process with its own session fixtures, so the build lives in the folder the workers share (the parent of each
worker's base temp folder) behind a file lock: the first worker builds it, the others wait for the lock and reuse
it. Treat it as read-only; a test that edits files works on its own copy (``copy_project(built_project, dest)``,
which keeps modification times, so Snakemake sees the copy as up to date).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers.config import skip_iri_grammar
from helpers.paths import NOT_SOURCES

skip_iri_grammar()  # jsonschema, under nbformat and papermill, which test modules import (helpers.config)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def config() -> dict:
    return yaml.safe_load((ROOT / "config" / "params.yaml").read_text())


def run_pipeline(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake (2 cores) on ``project``, with the project's parameters and ``args``."""
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=project,
                          env=env, capture_output=True, text=True)


def copy_sources(dest: Path) -> Path:
    """A copy of the project's sources (no build, no environment, no git) at ``dest``."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    return dest


def copy_project(project: Path, dest: Path) -> Path:
    """A copy of a built project, build and Snakemake's records included, modification times kept."""
    shutil.copytree(project, dest, symlinks=True)
    return dest


def _shared_dir(tmp_path_factory, config) -> Path:
    """The folder every xdist worker of this session sees (a plain session: its own base temp folder). A worker is
    known by its ``workerinput`` (not by the environment, which a pytest started from a worker inherits)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(config, "workerinput") else base


def made_once(tmp_path_factory, config, name: str, make) -> Path:
    """``<shared>/<name>/project``, made by ``make(project)`` once per test session whichever xdist worker asks first;
    the others wait for it (a file lock) and get the same folder. ``make`` returns None, or the error every asker
    then fails with."""
    shared = _shared_dir(tmp_path_factory, config) / name
    shared.mkdir(exist_ok=True)
    project, done, failed = shared / "project", shared / "DONE", shared / "FAILED"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, however the worker ends
        if not done.exists() and not failed.exists():
            try:
                error = make(project)
            except Exception as exc:  # noqa: BLE001 (the other workers must see it too, not wait and retry)
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                done.write_text("ok\n")
            else:
                failed.write_text(error)
    if failed.exists():
        pytest.fail(failed.read_text())
    return project


def still_running(process) -> bool:
    """Whether a ``psutil.Process`` still runs: a zombie (ended, its exit status not yet collected by its parent or by
    PID 1) does not, nor does a process that has gone."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _build_sources(project: Path) -> str | None:
    copy_sources(project)
    out = run_pipeline(project)
    return None if out.returncode == 0 else f"pipeline failed in {project}:\n{out.stdout[-2000:]}\n{out.stderr[-6000:]}"


@pytest.fixture(scope="session")
def built_project(tmp_path_factory, request) -> Path:
    """The project with the pipeline run once in it, shared by every test and worker of the session (read-only)."""
    return made_once(tmp_path_factory, request.config, "built", _build_sources)


# The long modules, longest first (wall seconds under `make test`, measured by `--durations`), so that under xdist
# (`--dist loadfile --no-loadscope-reorder`: whole modules handed out in collection order) no worker idles at the
# end: the first worker takes the variants (stub notebooks, no shared build), the second starts the shared build for
# the revision diff, a third (`make test` runs one worker more than there are cores) waits for it, and later modules
# find it made. The longest module `make test-quick` runs (test_validation.py, many small ingests) is among them, so
# it starts first there. Any other module keeps its place after them.
LONG_MODULES = ("test_variants.py", "test_diff_revision.py", "test_pipeline_run.py", "test_publish.py",
                "test_manuscript_render.py", "test_browser.py", "test_preview.py", "test_errors.py",
                "test_synthetic.py", "test_validation.py", "test_clean.py")


def pytest_collection_modifyitems(items):
    """A test that executes notebooks (marker ``notebooks``) is slow: `make test-quick` (-m "not slow") leaves it.
    The long modules run first (each module's tests stay together and in order)."""
    for item in items:
        if item.get_closest_marker("notebooks") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_MODULES)))  # stable: order within kept
