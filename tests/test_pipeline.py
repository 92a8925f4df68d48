"""Pipeline plumbing: dependency discovery, parameters, results fragments and their merge."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import pipeline
from helpers.io import Results, merge_results

from .conftest import ROOT


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


# --- configuration: unknown keys, schema, one-off overrides ---------------------------------------------------------

def test_unknown_config_key_names_the_closest_valid_one(config):
    with pytest.raises(pipeline.ConfigError, match=r"unknown parameter 'levene_centre': did you mean 'levene_center'"):
        pipeline.check_config({**config, "levene_centre": "median"}, config)
    with pytest.raises(pipeline.ConfigError, match=r"unknown parameter 'zzz': valid keys are in config/params.yaml"):
        pipeline.check_config({**config, "zzz": 1}, config)


def test_schema_accepts_the_defaults_and_rejects_values_out_of_range(config):
    pipeline.check_config(config, config)
    with pytest.raises(pipeline.ConfigError, match=r"lod_rule: 'quarter' is not one of"):
        pipeline.check_config({**config, "lod_rule": "quarter"}, config)
    with pytest.raises(pipeline.ConfigError, match=r"alpha"):
        pipeline.check_config({**config, "alpha": 5}, config)


def test_schema_choices_are_the_ones_the_helpers_accept():
    import yaml

    from helpers import ingest
    from helpers.stats import group_tests, rmanova

    schema = yaml.safe_load((ROOT / "config" / "params.schema.yaml").read_text())["properties"]
    assert set(schema["lod_rule"]["enum"]) == set(ingest.LOD_RULES)
    assert set(schema["correction"]["enum"]) == set(group_tests.CORRECTIONS)
    assert set(schema["convention"]["enum"]) == set(rmanova.CONVENTIONS)


def test_one_off_override_gets_its_own_build_folder(config):
    assert pipeline.effective_build_dir(config, {}) == "build"
    # other raw data is another study: its own folder too
    assert pipeline.effective_build_dir(config, {"raw_dir": "/data/x"}) == "build/overrides/raw_dir-_data_x"
    assert pipeline.effective_build_dir(config, {"lod_rule": "lod", "seed": 3}) == "build/overrides/lod_rule-lod__seed-3"
    assert pipeline.effective_build_dir({**config, "build_dir": "b"}, {"build_dir": "b", "seed": 3}) == "b"


def _dry_run(*args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--printshellcmds", *args],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MBPM_PROJECT_ROOT": str(ROOT)})


@pytest.mark.slow  # starts Snakemake
def test_snakemake_refuses_an_unknown_config_key():
    out = _dry_run("--config", "levene_centre=median")
    assert out.returncode != 0
    assert "unknown parameter 'levene_centre': did you mean 'levene_center'?" in out.stdout + out.stderr


@pytest.mark.slow  # starts Snakemake
def test_snakemake_builds_a_one_off_override_in_its_own_folder(tmp_path):
    out = _dry_run("--config", "lod_rule=lod")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "building into build/overrides/lod_rule-lod/" in text
    outputs = re.findall(r"^\s+output: (.*)$", text, re.M)
    assert outputs and all(o.startswith("build/overrides/lod_rule-lod/") for line in outputs for o in line.split(", "))
    assert "build/overrides/lod_rule-lod/figures/fig1_flow.svg" in text  # figures inside the folder too


def test_snakemake_builds_a_raw_dir_override_and_an_explicit_build_dir_away_from_the_default_build():
    for args, folder in ((["raw_dir=data/other_export"], "build/overrides/raw_dir-data_other_export"),
                         (["build_dir=build/mine", "correction=holm"], "build/mine")):
        out = _dry_run("--config", *args, "--", "report")
        text = out.stdout + out.stderr
        assert out.returncode == 0, text[-3000:]
        assert f"building into {folder}/, figures into {folder}/figures/" in text
        outputs = [o for line in re.findall(r"^\s+output: (.*)$", text, re.M) for o in line.split(", ")]
        assert outputs and all(o.startswith(f"{folder}/") for o in outputs), outputs  # no _manuscript/, no figures/


# --- executed notebooks: no run-dependent noise ---------------------------------------------------------------------

def test_normalize_executed_strips_times_random_ids_and_machine_paths(tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(tmp_path))
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1", metadata={
        "tags": ["injected-parameters"], "papermill": {"start_time": "2026-01-01T00:00:00", "duration": 0.1,
                                                       "status": "completed", "exception": False}})
    shown = nbformat.v4.new_code_cell("res.save()", outputs=[nbformat.v4.new_output(
        "execute_result", data={"text/plain": f"PosixPath('{tmp_path}/build/results/x.json')"}, execution_count=1)],
        metadata={"execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"}})
    nb.cells = [params, shown]
    nb.metadata["papermill"] = {"start_time": "t", "end_time": "t", "duration": 3.2, "parameters": {"x": 1},
                                "input_path": f"{tmp_path}/notebooks/x.ipynb",
                                "output_path": f"{tmp_path}/build/notebooks/x.ipynb"}
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    pipeline.normalize_executed(path)
    text = path.read_text()
    assert str(tmp_path) not in text
    for noise in ("start_time", "end_time", "duration", "iopub"):
        assert noise not in text
    out = nbformat.read(path, as_version=4)
    assert out.metadata.papermill == {"parameters": {"x": 1}, "input_path": "notebooks/x.ipynb",
                                      "output_path": "build/notebooks/x.ipynb"}
    assert out.cells[0].id == "injected-parameters"
    assert out.cells[1].outputs[0].data["text/plain"] == "PosixPath('build/results/x.json')"


# --- Makefile ------------------------------------------------------------------------------------------------------

def test_make_help_lists_every_target():
    import subprocess

    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    listed = set(re.findall(r"^make ([\w-]+)", shown, re.M))
    assert phony - listed == set(), f"`make help` does not list {sorted(phony - listed)}"


def test_license_and_citation_agree_with_pyproject():
    import tomllib

    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert {"cff-version", "message", "title", "authors"} <= set(cff) and cff["authors"]
    assert cff["version"] == project["version"] and cff["license"] == "MIT"
    assert "../shared" not in (ROOT / "CONTRIBUTING.md").read_text()  # self-contained


def test_a_hand_run_reads_the_default_build_and_writes_only_into_scratch(tmp_path, monkeypatch, capsys):
    """A notebook run by hand (JupyterLab, nbconvert, bare papermill) keeps its parameters cell's build_dir="build":
    it reads the default build, but every write (results fragment, table, data, figure) lands in build/scratch/,
    never where the article embeds from. A pipeline job writes where it is told."""
    import pandas as pd

    from helpers import figures, io, tables

    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(tmp_path))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "params.yaml").write_text("build_dir: build\nfigures_dir: figures\n")
    monkeypatch.delenv(pipeline.PIPELINE_JOB_ENV, raising=False)
    frame = pd.DataFrame({"a": [1, 2]})
    io.write_table(frame, tmp_path / "build" / "data" / "scores.parquet")  # absolute paths are redirected too
    assert io.read_table("build/scratch/data/scores.parquet").equals(frame)
    hand = Results("03_baseline", "build")
    hand.add("t1.x", 1, "x")
    assert hand.save() == Path("build/scratch/results/03_baseline.json")  # project-relative: no machine path shown
    tables.save_table(frame.astype(str), "tbl-x", "build")
    fig = figures.plt.figure()
    figures.save_figure(fig, "fig_x", "figures")
    figures.plt.close(fig)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and "config" not in p.parts)
    assert written == ["build/scratch/data/scores.parquet", "build/scratch/figures/fig_x.png",
                       "build/scratch/figures/fig_x.svg", "build/scratch/results/03_baseline.json",
                       "build/scratch/tables/tbl-x.md", "build/scratch/tables/tbl-x.parquet"]
    assert capsys.readouterr().err.count("Not a pipeline run: outputs go to build/scratch/") == 1
    # an explicit other folder is written as given
    io.write_table(frame, "build/mine/data/scores.parquet")
    assert (tmp_path / "build" / "mine" / "data" / "scores.parquet").is_file()

    monkeypatch.setenv(pipeline.PIPELINE_JOB_ENV, "04_trial_rmanova")
    job = Results("04_trial_rmanova", "build")
    job.add("rm.x", 2, "x")
    assert job.save() == Path("build/results/04_trial_rmanova.json")
    assert json.loads((tmp_path / "build/results/04_trial_rmanova.json").read_text())["written_by"] == "pipeline"
    assert json.loads((tmp_path / "build/scratch/results/03_baseline.json").read_text())["written_by"] == "hand run"


def test_a_notebook_given_another_build_folder_names_the_upstream_notebook_to_run_into_it(tmp_path, monkeypatch):
    from helpers import io

    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        io.read_table("build/holm_batch/data/scores.parquet")
    assert str(err.value) == (
        "build/holm_batch/data/scores.parquet does not exist: run 02_scoring into build/holm_batch first (papermill "
        "notebooks/02_scoring.ipynb build/holm_batch/notebooks/02_scoring.ipynb -p build_dir build/holm_batch), or "
        "use the default build (make report)")
    with pytest.raises(FileNotFoundError, match=r"^build/x/data/roster.parquet does not exist: run 01_ingest into "):
        io.read_table("build/x/data/roster.parquet")


def test_fragments_of_hand_runs_found_in_a_build_are_discarded(tmp_path, monkeypatch):
    """The safety net for a fragment a hand run wrote into build/ before hand runs went to build/scratch/."""
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(tmp_path))
    (tmp_path / "build" / "results").mkdir(parents=True)
    for nb, origin in (("03_baseline", "hand run"), ("04_trial_rmanova", "pipeline")):
        doc = {"notebook": nb, "values": {}, "descriptions": {}, "written_by": origin}
        (tmp_path / "build" / "results" / f"{nb}.json").write_text(json.dumps(doc))
    (tmp_path / "build" / "notebooks").mkdir()
    (tmp_path / "build" / "notebooks" / "03_baseline.ipynb").write_text("{}")
    (tmp_path / "build" / "results.json").write_text("{}")
    found = pipeline.discard_hand_runs("build", ["03_baseline", "04_trial_rmanova"], ["build/results.json"])
    assert found == ["03_baseline"]
    assert sorted(p.name for p in (tmp_path / "build").rglob("*") if p.is_file()) == ["04_trial_rmanova.json"]


def test_a_kernel_that_dies_while_starting_is_started_again_and_other_errors_are_not(monkeypatch, tmp_path):
    """jupyter_client's free-port race (two kernels starting at once) kills a kernel before any cell runs: execute()
    starts it again (at most KERNEL_START_ATTEMPTS times); any other error is raised at once."""
    import papermill

    died = RuntimeError("Kernel died before replying to kernel_info")
    calls = []

    def papermill_raising(*errors):
        """A stand-in for papermill that raises ``errors`` in turn, then copies the notebook as if executed."""
        def execute_notebook(source, output, **kwargs):
            calls.append(output)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            shutil.copyfile(source, output)
        calls.clear()
        monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)

    papermill_raising(died)
    out = pipeline.execute("notebooks/01_ingest.ipynb", tmp_path / "01.ipynb", {})
    assert len(calls) == 2 and out.is_file()

    papermill_raising(RuntimeError("something else"))
    with pytest.raises(RuntimeError, match="something else"):
        pipeline.execute("notebooks/01_ingest.ipynb", tmp_path / "01b.ipynb", {})
    assert len(calls) == 1

    papermill_raising(died, died, died, died)
    with pytest.raises(RuntimeError, match="Kernel died"):
        pipeline.execute("notebooks/01_ingest.ipynb", tmp_path / "01c.ipynb", {})
    assert len(calls) == pipeline.KERNEL_START_ATTEMPTS == 3


def test_a_refused_run_names_the_live_holder_never_a_dead_pid():
    """The lock file names `mbpm run` and its Snakemake; when the former has ended, the message names the latter."""
    import os
    import subprocess
    import sys

    from helpers import runner

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a PID that has ended
    message = runner.busy_message(f"PID {gone.pid} (mbpm run), Snakemake PID {os.getpid()}: --cores all report")
    assert f"PID {os.getpid()} (Snakemake of a run whose `mbpm run` has ended)" in message
    assert f"PID {gone.pid}" not in message
    live = runner.busy_message(f"PID {os.getpid()} (mbpm run), Snakemake PID {gone.pid}: report")
    assert f"PID {os.getpid()} (mbpm run)" in live


def test_a_notebook_job_imports_papermill_without_pyarrow_and_leaves_it_importable():
    """The notebook job's papermill comes without its HDFS support (pyarrow and numpy: 0.2 s of CPU per job), and
    jsonschema builds no IRI grammar; pyarrow.fs is importable again afterwards (a fresh interpreter, as a job)."""
    code = ("import sys; from helpers import pipeline; pipeline._papermill(); "
            "print(sorted(m for m in ('pyarrow', 'numpy', 'rfc3987_syntax') if sys.modules.get(m))); "
            "import pyarrow.fs; print(pyarrow.fs.LocalFileSystem.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "LocalFileSystem"]


def test_a_failed_job_replaces_the_previous_runs_log_and_invalidates_what_was_built(tmp_path):
    """`mbpm execute` (one notebook job, as Snakemake runs it): the built files are deleted before the notebook starts,
    also when one is already gone (03 and 04 start together and invalidate the same files); the log is this run's,
    so an earlier interrupted run's "KeyboardInterrupt" cannot hide this run's error from `helpers.variants`."""
    from helpers import variants

    nb = tmp_path / "notebooks" / "nb.ipynb"
    _notebook(nb, "raise ValueError('bad value in cell 1')", params="x = 1\n")
    doc = json.loads(nb.read_text())
    nb.write_text(json.dumps({**doc, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                 "display_name": "Python 3"}}}))
    log = tmp_path / "build" / "logs" / "nb.log"
    _write(log, "KeyboardInterrupt: the job was interrupted (Ctrl-C); it re-runs next time\n")
    built = tmp_path / "build" / "results.json"
    _write(built, "{}")
    run = subprocess.run(
        [sys.executable, "-m", "helpers", "execute", "notebooks/nb.ipynb", "build/notebooks/nb.ipynb",
         "--params-json", '{"x": 2}', "--log", "build/logs/nb.log",
         "--invalidates", "build/results.json", "build/gone.csv", "build/results.json"],
        cwd=tmp_path, env={**os.environ, "MBPM_PROJECT_ROOT": str(tmp_path)}, capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert not built.exists()
    assert "KeyboardInterrupt" not in log.read_text()
    assert variants._log_error(log) == "ValueError: bad value in cell 1"
    assert "notebook nb" in run.stderr and "failed" in run.stderr
