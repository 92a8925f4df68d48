"""The committed notebooks: no outputs, one papermill parameters cell whose defaults match config/params.yaml."""

from __future__ import annotations

import ast
import json

import papermill
import pytest

from helpers import pipeline

from .conftest import NOTEBOOKS, ROOT

EXPECTED = ["01_ingest", "02_scoring", "03_baseline", "04_trial_rmanova", "05_discussion_figures"]


def test_the_five_notebooks_exist():
    assert [nb.stem for nb in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(notebook):
    nb = json.loads(notebook.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{notebook.name}: code cells {dirty} carry outputs; strip them before committing"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernel_is_the_projects(notebook):
    assert json.loads(notebook.read_text())["metadata"]["kernelspec"]["name"] == pipeline.KERNEL_NAME


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_agrees_with_papermill_and_config(notebook, config):
    ours = pipeline.notebook_parameters(notebook)
    theirs = papermill.inspect_notebook(str(notebook))
    assert set(ours) == set(theirs), "our parameters reader and papermill's disagree on the names"
    for name, info in theirs.items():
        assert ours[name] == ast.literal_eval(info["default"]), f"{name}: {ours[name]!r} vs {info['default']}"
    assert {"build_dir", "show_rows"} <= set(ours), "every notebook takes build_dir and show_rows"
    for name, default in ours.items():
        assert name in config, f"{notebook.name}: parameter {name} missing from config/params.yaml"
        assert default == config[name], (
            f"{notebook.name}: default {name}={default!r} differs from config/params.yaml ({config[name]!r}); "
            "a notebook run by hand in JupyterLab must compute what the pipeline computes"
        )


def test_notebooks_import_helpers_not_define_algorithms():
    """Thin notebooks: no function or class definitions in code cells (algorithms live in src/helpers)."""
    for notebook in NOTEBOOKS:
        for cell in pipeline._code_cells(notebook):
            tree = ast.parse(pipeline._code(cell["source"]))
            defs = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            assert not defs, f"{notebook.name} defines {defs}: move them into src/helpers"


def test_root_layout(root):
    for path in ["_quarto.yml", "index.qmd", "environment.yml", "pyproject.toml", "Snakefile", "data/README.md"]:
        assert (ROOT / path).is_file(), f"{path} missing from the compendium layout"
