"""Pipeline plumbing: dependency discovery, parameters, results fragments and their merge."""

from __future__ import annotations

import json
import textwrap

import pytest

from helpers import pipeline
from helpers.io import Results, merge_results


def _write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def _notebook(path, *sources, params=None):
    cells = []
    if params is not None:
        cells.append({"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": params,
                      "outputs": [], "execution_count": None})
    for src in sources:
        cells.append({"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A miniature project: helpers with a chain of imports, a subpackage, relative imports and a data file."""
    _write(tmp_path / "pyproject.toml")
    src = tmp_path / "src" / "helpers"
    _write(src / "__init__.py")
    _write(src / "io.py", "import json\n")
    _write(src / "scoring.py", "from helpers import io\n__data_files__ = ['keys/*.csv']\n")
    _write(src / "keys" / "pcs.csv", "item\n")
    _write(src / "tables.py", "from .stats import rmanova\n")
    _write(src / "stats" / "__init__.py", "from .rmanova import mixed_anova\n")
    _write(src / "stats" / "rmanova.py", "from ..io import write\n\ndef mixed_anova():\n    pass\n")
    _write(src / "figures.py", "import numpy\n")
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(tmp_path))
    return tmp_path


def test_closure_follows_imports_transitively(project):
    nb = project / "notebooks" / "a.ipynb"
    _notebook(nb, "%matplotlib inline\nimport pandas as pd\nfrom helpers import scoring\n")
    assert pipeline.helper_files(nb) == [
        "src/helpers/__init__.py",
        "src/helpers/io.py",
        "src/helpers/keys/pcs.csv",
        "src/helpers/scoring.py",
    ]


def test_closure_resolves_relative_imports_and_subpackages(project):
    nb = project / "notebooks" / "b.ipynb"
    _notebook(nb, "import helpers.tables\n")
    assert pipeline.helper_files(nb) == [
        "src/helpers/__init__.py",
        "src/helpers/io.py",
        "src/helpers/stats/__init__.py",
        "src/helpers/stats/rmanova.py",
        "src/helpers/tables.py",
    ]


def test_unimported_module_is_not_a_dependency(project):
    nb = project / "notebooks" / "c.ipynb"
    _notebook(nb, "from helpers.stats.rmanova import mixed_anova\n")
    files = pipeline.helper_files(nb)
    assert "src/helpers/figures.py" not in files and "src/helpers/scoring.py" not in files
    assert "src/helpers/stats/rmanova.py" in files


def test_parameters_read_from_tagged_cell(project):
    nb = project / "notebooks" / "p.ipynb"
    _notebook(nb, "x = 1\n", params='build_dir = "build"\nseed: int = 3\nalpha = 0.05  # level\n')
    assert pipeline.notebook_parameters(nb) == {"build_dir": "build", "seed": 3, "alpha": 0.05}
    assert pipeline.parameters_for(nb, {"build_dir": "b", "seed": 4, "alpha": 0.01, "other": 1}) == {
        "alpha": 0.01, "build_dir": "b", "seed": 4}
    with pytest.raises(KeyError, match=r"\['seed'\] are not in the configuration"):
        pipeline.parameters_for(nb, {"build_dir": "b", "alpha": 0.01})


def test_notebook_without_parameters_cell_is_an_error(project):
    nb = project / "notebooks" / "q.ipynb"
    _notebook(nb, "x = 1\n")
    with pytest.raises(ValueError, match="expected one cell tagged 'parameters', found 0"):
        pipeline.notebook_parameters(nb)


def test_results_fragments_merge_and_refuse_duplicates(tmp_path):
    a = Results("01_ingest", tmp_path)
    a.add("flow.n_total", 65, "participants")
    a.save()
    b = Results("03_baseline", tmp_path)
    b.add("t1.age.cp_mean", 38.9, "mean age CP")
    b.save()
    merged = merge_results([a.path, b.path], tmp_path / "results.json", tmp_path / "keys.csv")
    assert merged == {"flow.n_total": 65, "t1.age.cp_mean": 38.9}
    assert "t1.age.cp_mean,38.9,mean age CP,03_baseline" in (tmp_path / "keys.csv").read_text()
    c = Results("04_trial_rmanova", tmp_path)
    c.add("flow.n_total", 64, "participants again")
    c.save()
    with pytest.raises(KeyError, match="recorded by both 01_ingest and 04_trial_rmanova"):
        merge_results([a.path, c.path], tmp_path / "r.json", tmp_path / "k.csv")


def test_results_keys_are_checked(tmp_path):
    res = Results("x", tmp_path)
    with pytest.raises(ValueError, match="must match"):
        res.add("T1 Mean", 1, "bad key")
    res.add("t1.ok", float("nan"), "missing value")
    with pytest.raises(KeyError, match="recorded twice"):
        res.add("t1.ok", 1, "again")
    with pytest.raises(TypeError, match="numbers and strings only"):
        res.add("t1.list", [1, 2], "a list")
    assert json.loads(res.save().read_text())["values"] == {"t1.ok": None}


@pytest.mark.parametrize(("version", "ok"), [(None, False), ("1.3.450", False), ("1.4.550", True), ("1.10.2", True)])
def test_quarto_version_check(version, ok):
    assert pipeline.quarto_ok(version) is ok
