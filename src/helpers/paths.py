"""Where the project is: every path a notebook or helper receives is relative to the project root (the folder that
holds ``pyproject.toml``), so the same parameters work under papermill, in JupyterLab (working directory
``notebooks/``) and in pytest. Kept free of heavy imports: the pipeline reads it on every (even no-op) run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ENV = "MBPM_PROJECT_ROOT"


def project_root(start: str | Path | None = None) -> Path:
    """The project's root folder: ``$MBPM_PROJECT_ROOT`` if set, else the nearest parent holding pyproject.toml."""
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "src" / "helpers").is_dir():
            return folder
    raise FileNotFoundError(
        f"no project root (a folder with pyproject.toml and src/helpers) above {here}; set {PROJECT_ENV}"
    )


def project_path(path: str | Path) -> Path:
    """Resolve ``path`` against the project root unless it is absolute."""
    path = Path(path)
    return path if path.is_absolute() else project_root() / path


# Set in the environment of every notebook job the pipeline runs (helpers.pipeline), which the kernel inherits.
PIPELINE_JOB_ENV = "MBPM_PIPELINE_JOB"
# Where a run outside the pipeline (JupyterLab, nbconvert, papermill by hand) writes what it would have written into
# the default build or figures folder: same layout, so it can be inspected, but the article never embeds it.
SCRATCH_DIR = "build/scratch"
# What the notebooks write inside a build folder (CONTRIBUTING.md, "Build folder"); other folders inside the default
# build (overrides/, variants/, scratch/, a folder given with `-p build_dir build/mine`) are builds of their own.
BUILD_OUTPUTS = ("data", "tables", "results", "notebooks", "figures")
_told: set[str] = set()


def default_dirs() -> tuple[Path, Path]:
    """The default build and figures folders (``build_dir`` and ``figures_dir`` of config/params.yaml)."""
    import yaml

    root = project_root()
    params = root / "config" / "params.yaml"
    config = (yaml.safe_load(params.read_text(encoding="utf-8")) or {}) if params.is_file() else {}
    return (root / str(config.get("build_dir", "build"))).resolve(), (root / str(config.get("figures_dir", "figures"))).resolve()


def output_path(path: str | Path) -> Path:
    """Where a helper writes ``path`` (resolved like :func:`project_path`).

    A pipeline job writes where it is told. Any other run -- a notebook run by hand in JupyterLab or nbconvert, a
    bare ``papermill`` run -- that would write into the default build or figures folder writes into
    ``build/scratch/`` instead (figures into ``build/scratch/figures/``), saying so once: it reads the default
    build, but its tables and numbers never replace the pipeline's, so the article cannot embed them. A folder given
    explicitly (``papermill ... -p build_dir build/mine``) is written as given.
    """
    target = project_path(path).resolve()
    if os.environ.get(PIPELINE_JOB_ENV):
        return target
    build, figures = default_dirs()
    scratch = project_root() / SCRATCH_DIR
    if target.is_relative_to(build):
        inside = target.relative_to(build)
        if not inside.parts or inside.parts[0] not in BUILD_OUTPUTS:
            return target
        redirected = scratch / inside
    elif target.is_relative_to(figures):
        redirected = scratch / "figures" / target.relative_to(figures)
    else:
        return target
    if SCRATCH_DIR not in _told:
        _told.add(SCRATCH_DIR)
        print(f"Not a pipeline run: outputs go to {SCRATCH_DIR}/ (inputs are read from the default build); "
              "`make report` builds the article's", file=sys.stderr)
    return redirected


# Set by helpers.diff.build_ref for a build of a git ref's exported sources (``git archive``, in a folder inside the
# project's own checkout, whose HEAD and working tree are not that ref's): the commit the sources are.
SOURCE_COMMIT_ENV = "MBPM_SOURCE_COMMIT"


def source_epoch(root: str | Path | None = None) -> tuple[int, str] | None:
    """The moment a build stands for, never the wall clock (two runs of the same sources publish the same date):
    ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention, https://reproducible-builds.org/specs/source-date-epoch/)
    if set, else the time of the git commit of ``root``, else None. Returns (Unix seconds, where it came from)."""
    import subprocess

    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"]), "SOURCE_DATE_EPOCH"
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=root or project_root(), capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return (int(out), "date of the git commit") if out else None


# What a copy of the project's sources leaves out: version control, environments, caches and everything the
# pipeline or the tools generate (the tests and benchmarks run the pipeline in such copies).
NOT_SOURCES = (".git", ".venv", "build", ".snakemake", "_manuscript", "_freeze", ".quarto", "__pycache__",
               "*.egg-info", ".pytest_cache", ".hypothesis", ".benchmarks", "figures")
