"""Parameters, tables on disk and the results file: the plumbing every notebook shares (paths: helpers.paths)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from helpers.paths import PIPELINE_JOB_ENV, output_path, project_path, project_root  # noqa: F401  (re-exported)

if TYPE_CHECKING:  # pandas is imported where a table is read or written: recording results needs no pandas (0.3 s)
    import pandas as pd

KEY_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


def load_params(path: str | Path = "config/params.yaml", overrides: dict | None = None) -> dict:
    """The default parameters (YAML, flat keys) updated with ``overrides``."""
    with open(project_path(path), encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    params.update(overrides or {})
    return params


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as parquet (deterministic: no pandas index metadata noise, fixed compression). Outside the
    pipeline, a path in the default build goes to the scratch folder (:func:`helpers.paths.output_path`)."""
    path = output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False, compression="zstd")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet table written by :func:`write_table`; a missing one stops with one line naming the notebook
    that writes it into that build folder."""
    path = project_path(path)
    if not path.is_file():
        raise FileNotFoundError(missing_upstream(path))
    import pandas as pd

    return pd.read_parquet(path)


# Which notebook writes each file a notebook reads from its build folder (the build layout in CONTRIBUTING.md).
WRITTEN_BY = {"data/scores.parquet": "02_scoring", "data/": "01_ingest", "results/": None}


def missing_upstream(path: str | Path) -> str:
    """One line for an upstream file that is not in the build folder a notebook was given (``-p build_dir X``):
    which notebook to run into that folder first."""
    path = project_path(path)
    build, rel = path.parent.parent, f"{path.parent.name}/{path.name}"
    notebook = next((nb for prefix, nb in WRITTEN_BY.items() if rel.startswith(prefix)), None)
    if rel.startswith("results/"):
        notebook = path.stem
    try:
        shown = path.relative_to(project_root())
        build = build.relative_to(project_root())
    except ValueError:
        shown = path
    if notebook is None:
        return f"{shown} does not exist"
    return (f"{shown} does not exist: run {notebook} into {build} first (papermill notebooks/{notebook}.ipynb "
            f"{build}/notebooks/{notebook}.ipynb -p build_dir {build}), or use the default build (make report)")


def _plain(value: Any) -> Any:
    """A JSON-safe Python scalar (numpy scalars unwrapped; NaN and infinities become None)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str)) or value is None:
        return value
    raise TypeError(f"results hold numbers and strings only, got {type(value).__name__}: {value!r}")


class Results:
    """The numbers one notebook contributes to the results file (``build/results.json``).

    >>> res = Results("03_baseline", "build")
    >>> res.add("t1.bdi_total.cp_mean", 13.7, "BDI-II total, chronic-pain mean at baseline")
    >>> res.save()  # build/results/03_baseline.json
    """

    def __init__(self, notebook: str, build_dir: str | Path = "build"):
        self.notebook = notebook
        self.build_dir = project_path(build_dir)
        self.values: dict[str, Any] = {}
        self.descriptions: dict[str, str] = {}

    def add(self, key: str, value: Any, description: str) -> None:
        """Record ``value`` under ``key`` (lower-case, dot-separated) with a one-line description. Returns nothing:
        a notebook cell that ends with an ``add`` shows no stray value on its page."""
        if not KEY_PATTERN.match(key):
            raise ValueError(f"results key {key!r} must match {KEY_PATTERN.pattern}")
        if key in self.values:
            raise KeyError(f"results key {key!r} recorded twice in {self.notebook}")
        if not description:
            raise ValueError(f"results key {key!r} needs a description")
        self.values[key] = _plain(value)
        self.descriptions[key] = description

    def update(self, values: dict[str, Any], descriptions: dict[str, str]) -> None:
        """Record several values at once; ``descriptions`` must describe every key."""
        for key, value in values.items():
            self.add(key, value, descriptions[key])

    @property
    def path(self) -> Path:
        return output_path(self.build_dir / "results" / f"{self.notebook}.json")

    def save(self) -> Path:
        """Write this notebook's fragment: ``{"values": {...}, "descriptions": {...}, "written_by": ...}`` with
        sorted keys; returns its path, project-relative when inside the project (no machine path is displayed).

        ``written_by`` is ``pipeline`` in a pipeline job and ``hand run`` otherwise (JupyterLab): the pipeline
        discards a hand run's fragment and re-runs that notebook (helpers.pipeline.discard_hand_runs).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        origin = "pipeline" if os.environ.get(PIPELINE_JOB_ENV) else "hand run"
        doc = {"notebook": self.notebook, "values": self.values, "descriptions": self.descriptions,
               "written_by": origin}
        self.path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        try:
            shown = self.path.relative_to(project_root())
        except ValueError:
            shown = self.path
        if origin == "hand run":
            print(f"Hand run: {self.notebook}'s results were saved in {shown.parent} for you to inspect; the pipeline "
                  f"does not use them (`make report` runs {self.notebook} with config/params.yaml).")
        return shown


def merge_results(fragments: list[str | Path], out_json: str | Path, out_csv: str | Path) -> dict[str, Any]:
    """Merge notebook fragments into the flat results file and its key table (key, value, description, notebook).

    Fails on a key recorded by two notebooks: a number the manuscript cites must have exactly one source.
    """
    merged: dict[str, Any] = {}
    rows = []
    owner: dict[str, str] = {}
    for fragment in sorted(Path(f) for f in fragments):
        doc = json.loads(project_path(fragment).read_text(encoding="utf-8"))
        for key, value in doc["values"].items():
            if key in merged:
                raise KeyError(f"results key {key!r} recorded by both {owner[key]} and {doc['notebook']}")
            merged[key] = value
            owner[key] = doc["notebook"]
            rows.append(
                {"key": key, "value": value, "description": doc["descriptions"][key], "notebook": doc["notebook"]}
            )
    out_json = project_path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(merged, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    import pandas as pd

    table = pd.DataFrame(rows, columns=["key", "value", "description", "notebook"]).sort_values("key")
    table.to_csv(project_path(out_csv), index=False, lineterminator="\n")
    return merged


def load_results(build_dir: str | Path = "build") -> dict[str, Any]:
    """The merged results file of a build folder."""
    return json.loads((project_path(build_dir) / "results.json").read_text(encoding="utf-8"))
