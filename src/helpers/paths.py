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


# What a copy of the project's sources leaves out: version control, environments, caches and everything the
# pipeline or the tools generate (the tests and benchmarks run the pipeline in such copies).
NOT_SOURCES = (".git", ".venv", "build", ".snakemake", "_manuscript", "_freeze", ".quarto", "__pycache__",
               "*.egg-info", ".pytest_cache", ".hypothesis", ".benchmarks", "figures")
