"""Where the project is: every path a notebook or helper receives is relative to the project root (the folder that
holds ``pyproject.toml``), so the same parameters work under papermill, in JupyterLab (working directory
``notebooks/``) and in pytest. Kept free of heavy imports: the pipeline reads it on every (even no-op) run.
"""

from __future__ import annotations

import os
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
