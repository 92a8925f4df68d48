"""Every mistake is loud and says where: what an author reads when a notebook, params.yaml or the article is wrong.

Each test makes its own small temporary project (no shared build): a notebook job on a two-cell notebook, a config
file, or a one-paragraph Quarto project using the real results extension and filters. Tests that need Quarto skip
without it unless MBPM_REQUIRE_QUARTO=1 (then they fail).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import config as params_config
from helpers import render

from .conftest import ROOT

REQUIRED = os.environ.get("MBPM_REQUIRE_QUARTO") == "1"
BAD = ROOT / "tests" / "bad_inputs"


# --- a failing notebook: the whole message and the helper's file:line, on the console and in the log -------------

def _notebook(path: Path, *cells: str) -> None:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": src} for i, src in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))


def _execute(project: Path, notebook: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """One pipeline job (``mbpm execute``, as the Snakefile runs it) in ``project``."""
    name = Path(notebook).stem
    cmd = [sys.executable, "-m", "helpers", "execute", notebook, f"build/notebooks/{name}.ipynb",
           "--log", f"build/logs/{name}.log", "--failed-dir", "build/failed"]
    return subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MBPM_PROJECT_ROOT": str(project), **(env or {})})


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    (project / "src" / "helpers").mkdir(parents=True)
    return project


@pytest.mark.notebooks
def test_a_validation_error_shows_every_line_in_console_and_log(tmp_path):
    case = next(r for r in csv.DictReader(open(BAD / "cases.csv", newline="")) if r["case"] == "roster_age_not_a_number")
    project = _project(tmp_path)
    raw = project / "raw"
    shutil.copytree(ROOT / "data" / "raw", raw)
    shutil.copyfile(BAD / case["bad_file"], raw / case["replaces"])
    _notebook(project / "notebooks" / "01_ingest.ipynb", "from helpers import ingest",
              f"ingest.ingest({str(raw)!r}, {str(project / 'build' / 'tidy')!r})")
    run = _execute(project, "notebooks/01_ingest.ipynb")
    assert run.returncode == 1
    log = (project / "build" / "logs" / "01_ingest.log").read_text()
    for text in (run.stderr, log):
        assert re.search(r"^notebook 01_ingest\s+FAILED after", text, re.M), text[-3000:]
        assert f"  error:    DataValidationError: {case['replaces']} failed validation" in text
        # the problem's own line: row, column, value and rule of the case (tests/bad_inputs/cases.csv)
        problem = [ln for ln in text.splitlines() if ln.startswith("  ") and f"row {case['row']}" in ln]
        assert any(case["column"] in ln and case["value"] in ln and case["rule"] in ln for ln in problem), text
        assert re.search(r"^  where:    src/helpers/\w+\.py:\d+ in \w+$", text, re.M), text[-3000:]
    assert "  log:      build/logs/01_ingest.log" in run.stderr
    assert log.rstrip().splitlines()[-1].startswith("DataValidationError: ")  # what `mbpm variants compare` reads


@pytest.mark.notebooks
def test_a_name_error_in_a_helper_names_its_file_and_line(tmp_path):
    project = _project(tmp_path)
    src = project / "src" / "helpers"
    shutil.rmtree(src)
    shutil.copytree(ROOT / "src" / "helpers", src, ignore=shutil.ignore_patterns("__pycache__"))
    tables = src / "tables.py"
    before = tables.read_text().splitlines()
    tables.write_text("\n".join([*before, "", "", "def broken_table():", "    return undefined_name + 1", ""]))
    line = len(before) + 4  # the line of `return undefined_name + 1`
    _notebook(project / "notebooks" / "03_baseline.ipynb", "from helpers import tables", "tables.broken_table()")
    # the kernel and the job import this copy of helpers, not the installed one
    run = _execute(project, "notebooks/03_baseline.ipynb", {"PYTHONPATH": str(project / "src")})
    assert run.returncode == 1
    log = (project / "build" / "logs" / "03_baseline.log").read_text()
    for text in (run.stderr, log):
        assert "  error:    NameError: name 'undefined_name' is not defined" in text, text[-3000:]
        assert f"  where:    src/helpers/tables.py:{line} in broken_table" in text, text[-3000:]
        assert "  cell:     In [2]" in text
    record = json.loads((project / "build" / "failed" / "03_baseline.json").read_text())
    assert record["where"] == [f"src/helpers/tables.py:{line} in broken_table"]


# --- config/params.yaml: file, line and key ---------------------------------------------------------------------

def _config_copy(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A project folder holding config/ with ``old`` replaced by ``new`` in params.yaml; the edited line (1-based)."""
    project = _project(tmp_path)
    shutil.copytree(ROOT / "config", project / "config")
    params = project / "config" / "params.yaml"
    lines = params.read_text().splitlines()
    index = next(i for i, ln in enumerate(lines) if ln.startswith(old))
    lines[index] = lines[index].replace(old, new, 1)
    params.write_text("\n".join(lines) + "\n")
    return project, index + 1


def test_the_shipped_params_are_valid():
    assert params_config.check_params(root=ROOT) == yaml.safe_load((ROOT / "config" / "params.yaml").read_text())


def test_a_yaml_syntax_error_names_file_line_and_key(tmp_path):
    project, line = _config_copy(tmp_path, "seed: 20250101", "seed: [20250101")
    with pytest.raises(params_config.ParamsError) as err:
        params_config.check_params(root=project)
    first = str(err.value).splitlines()[0]
    assert first.startswith(f"config/params.yaml:{line}: not valid YAML (key 'seed')"), first


def test_a_value_the_schema_rejects_names_file_line_and_key(tmp_path):
    project, line = _config_copy(tmp_path, "correction: bonferroni", "correction: holmes")
    with pytest.raises(params_config.ParamsError) as err:
        params_config.check_params(root=project)
    message = str(err.value)
    assert message.startswith(f"config/params.yaml:{line}: correction: 'holmes' is not one of"), message
    assert "did you mean 'holm'?" in message and "--config" not in message


def test_a_misspelt_key_is_named_at_its_line(tmp_path):
    project, line = _config_copy(tmp_path, "alpha: 0.05", "alpah: 0.05")
    with pytest.raises(params_config.ParamsError) as err:
        params_config.check_params(root=project)
    assert str(err.value) == (f"config/params.yaml:{line}: alpah: unknown parameter; did you mean 'alpha'? "
                              "(alpha is missing)")


def test_mbpm_run_stops_on_a_bad_params_file_before_snakemake(tmp_path):
    project, line = _config_copy(tmp_path, "correction: bonferroni", "correction: holmes")
    run = subprocess.run([sys.executable, "-m", "helpers", "run"], cwd=project, capture_output=True, text=True,
                         env={**os.environ, "MBPM_PROJECT_ROOT": str(project)}, timeout=120)
    assert run.returncode == 1
    assert run.stderr.startswith(f"config/params.yaml:{line}: correction: 'holmes'"), run.stderr
    assert "WorkflowError" not in run.stderr and "Traceback" not in run.stderr


def test_snakemake_alone_names_the_params_line_too(tmp_path):
    project, line = _config_copy(tmp_path, "seed: 20250101", "seed: [20250101")
    shutil.copy2(ROOT / "Snakefile", project / "Snakefile")
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=project, capture_output=True,
                         text=True, env={**os.environ, "MBPM_PROJECT_ROOT": str(project)}, timeout=300)
    assert run.returncode != 0
    assert f"config/params.yaml:{line}: not valid YAML (key 'seed')" in run.stdout + run.stderr
    assert "Config file is not valid JSON or YAML" not in run.stdout + run.stderr


# --- the article: a wrong key, pattern, citation or cross-reference stops every render, naming index.qmd's line --

RESULTS = {"t1.bdi_total.hc_mean": 2.5, "t1.bdi_total.hc_sd": 1.25, "t1.bdi_total.cp_mean": 13.7,
           "t1.bdi_total.cp_sd": 7.2, "t1.bdi_total.p": 0.0004, "t1.pcs_total.p": 0.2, "t2.oxt.mbpm.d": None,
           "t2.il6.mbpm.d": None}


def _quarto() -> str:
    exe = render.find_quarto()
    if not render.quarto_ok(render.quarto_version(exe)):
        if REQUIRED:
            pytest.fail("no usable Quarto (MBPM_REQUIRE_QUARTO=1)")
        pytest.skip("no usable Quarto on PATH")
    return exe


@pytest.fixture
def article(tmp_path) -> Path:
    """A one-paragraph Quarto project with the real results extension, filters, bibliography and the loudness
    settings of the real _quarto.yml, over a small results.json."""
    _quarto()
    project = _project(tmp_path)
    for name in ("_extensions", "filters"):
        shutil.copytree(ROOT / name, project / name)
    for name in ("references.bib", "vancouver.csl"):
        shutil.copy2(ROOT / name, project / name)
    real = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    settings = {k: real[k] for k in ("bibliography", "csl", "fail-if-warnings", "filters", "results-words")}
    (project / "_quarto.yml").write_text(yaml.safe_dump(
        {"project": {"type": "default", "render": ["index.qmd"]}, "format": {"html": {"toc": False}}, **settings}))
    (project / "build").mkdir()
    (project / "build" / "results.json").write_text(json.dumps(RESULTS))
    return project


def _write(project: Path, *body: str) -> dict[str, int]:
    """index.qmd with ``body`` after a short front matter; the line number of each body line."""
    head = ["---", "title: Errors", "---", ""]
    (project / "index.qmd").write_text("\n".join([*head, *body, ""]))
    return {text: len(head) + i + 1 for i, text in enumerate(body)}


def _quarto_render(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_quarto(), "render", "index.qmd"], cwd=project, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MBPM_BUILD_DIR": "build"})


def _said(run: subprocess.CompletedProcess) -> list[str]:
    """What the author reads, without Quarto's echo of the pandoc options."""
    return render.render_problems(run.stdout + run.stderr)


@pytest.mark.notebooks
def test_a_misspelt_key_stops_the_render_naming_line_key_and_closest(article):
    lines = _write(article, "Controls {{< msd t1.bdi_total hc >}}.", "",
                   "Patients {{< num t1.bdi_totl.cp_mean >}}.")
    run = _quarto_render(article)
    assert run.returncode != 0
    said = _said(run)
    line = lines["Patients {{< num t1.bdi_totl.cp_mean >}}."]
    assert len(said) == 1, said  # once, without Quarto's location in results.lua or a traceback
    assert said[0].startswith(f"index.qmd:{line}: {{{{< num t1.bdi_totl.cp_mean >}}}}: no results key "
                              "'t1.bdi_totl.cp_mean' in build/results.json; did you mean t1.bdi_total.cp_mean, "), said
    assert "results.lua" not in run.stderr and "traceback" not in run.stderr.lower()
    assert not (article / "index.html").exists()


@pytest.mark.notebooks
def test_a_count_pattern_matching_nothing_stops_the_render(article):
    lines = _write(article, "Significant: {{< count t1.*.pvalue below 0.05 >}} of {{< count t1.*.p >}}.")
    run = _quarto_render(article)
    assert run.returncode != 0
    line = lines["Significant: {{< count t1.*.pvalue below 0.05 >}} of {{< count t1.*.p >}}."]
    said = _said(run)
    assert len(said) == 1 and said[0].startswith(
        f"index.qmd:{line}: {{{{< count t1.*.pvalue below 0.05 >}}}}: the count pattern 't1.*.pvalue' matches no "
        "results key in build/results.json; did you mean t1.*.p"), said


@pytest.mark.notebooks
def test_an_unknown_citation_and_an_unresolved_reference_stop_the_render(article):
    lines = _write(article, "As shown [@dunn1961; @nosuchkey2020].", "", "See @fig-nothere.")
    run = _quarto_render(article)
    assert run.returncode != 0
    said = "\n".join(_said(run))
    assert f"index.qmd:{lines['As shown [@dunn1961; @nosuchkey2020].']}: citation @nosuchkey2020 is not in the " \
           "bibliography" in said, said
    assert f"index.qmd:{lines['See @fig-nothere.']}: cross-reference @fig-nothere points to no figure" in said


@pytest.mark.notebooks
def test_mbpm_render_fails_with_one_block(article):
    lines = _write(article, "As shown [@nosuchkey2020].")
    run = subprocess.run([sys.executable, "-m", "helpers", "render", "--build", "build"], cwd=article,
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MBPM_PROJECT_ROOT": str(article)})
    assert run.returncode != 0
    err = run.stderr.splitlines()
    assert re.fullmatch(r"manuscript \(Quarto\)\s+FAILED after \d+\.\d s", err[1]), run.stderr
    assert err[2:] == [f"  error:    index.qmd:{lines['As shown [@nosuchkey2020].']}: citation @nosuchkey2020 is not "
                       "in the bibliography", "  log:      build/logs/render.log"], run.stderr


@pytest.mark.notebooks
def test_a_value_that_is_not_finite_prints_n_a_with_one_explanation(article):
    _write(article, "Effect sizes {{< num t2.oxt.mbpm.d >}} and {{< num t2.il6.mbpm.d >}} "
                    "({{< sig t2.il6.mbpm.d >}}); mean {{< num t1.bdi_total.hc_mean >}}.")
    run = _quarto_render(article)
    assert run.returncode == 0, run.stderr
    page = (article / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    assert re.search(r"Effect sizes n/a\s*1 and n/a \(n/a\); mean 2\.50\.", text), text
    assert text.count("n/a: not computable") == 1
    assert "NA" not in re.findall(r"\bNA\b", text)


def test_mbpm_run_shows_a_failed_render_as_its_block_without_snakemakes_traceback(tmp_path):
    """What `mbpm run` keeps of Snakemake's output when the manuscript rule fails: the render's block as it came,
    the step named as failed; Snakemake's "Error in rule" report only in what it drops on a named failure."""
    from helpers import runner

    block = render.failure_block(["index.qmd:7: citation @nosuchkey2020 is not in the bibliography"],
                                 "build/logs/render.log", 3.0)
    snakemake_says = "Error in rule manuscript:\n    jobid: 0\n    shell:\n        python -m helpers render\n" \
                     "RuleException:\nCalledProcessError in file Snakefile, line 231:"
    script = tmp_path / "snakemake.sh"
    script.write_text(f"cat <<'OUT'\nmanuscript (Quarto)               started\n{block}\n{snakemake_says}\nOUT\n"
                      "exit 1\n")
    with open(tmp_path / "lock", "a+") as lock:
        code, failed, other, _own = runner._stream(["sh", str(script)], tmp_path, lock)
    assert code == 1 and failed == ["manuscript"]
    assert other[0] == "Error in rule manuscript:" and not any("citation" in line for line in other)


def _first_rejection_per_file() -> list[dict]:
    """One rejected case of the bad-input corpus per raw file (tests/test_validation.py runs them all)."""
    cases = {}
    for c in csv.DictReader(open(BAD / "cases.csv", newline="")):
        if c["outcome"] == "error":
            cases.setdefault(c["replaces"], c)
    return list(cases.values())


@pytest.mark.parametrize("case", _first_rejection_per_file(), ids=lambda c: c["case"])
def test_a_rejection_of_each_raw_file_reaches_the_failure_block(tmp_path, case):
    """A rejected bad input of each raw file (tests/bad_inputs): the block a failing 01_ingest prints (console and
    log) holds every line of the validation error, among them the case's row, column, value and rule, and where in
    src/helpers it was raised. The error is raised by the real ingest; papermill's wrapping of it is built here as
    papermill does (ename, evalue, the formatted traceback); test_a_validation_error_shows_every_line... runs a
    notebook end to end."""
    import traceback

    import pandas as pd
    from papermill.exceptions import PapermillExecutionError

    from helpers import ingest, pipeline
    from helpers.validation import DataValidationError

    from .test_validation import _raw_with

    raw, row = _raw_with(tmp_path, pd.Series(case))
    with pytest.raises(DataValidationError) as caught:
        ingest.ingest(raw, tmp_path / "build")
    err = caught.value
    wrapped = PapermillExecutionError(cell_index=4, exec_count=4, source="", ename=type(err).__name__,
                                      evalue=str(err), traceback=traceback.format_exception(err))
    record = pipeline.failure_record("01_ingest", wrapped, tmp_path / "none.ipynb", tmp_path / "failed", None)
    block = pipeline.failure_block(record, 1.0).splitlines()
    message = f"DataValidationError: {err}".splitlines()
    assert block[2:2 + len(message)] == [f"  {'error:' if i == 0 else '':<10}{ln}" for i, ln in enumerate(message)]
    assert any(f"row {row}" in ln and case["column"] in ln and case["value"] in ln and case["rule"] in ln
               for ln in block), "\n".join(block)
    assert re.fullmatch(r"  where:    src/helpers/\w+\.py:\d+ in \w+", block[2 + len(message)]), "\n".join(block)
