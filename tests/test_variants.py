"""Analysis variants: variant files, per-variant status, the comparison table, and the Snakemake runs behind
`make variants` (parallel, --keep-going, resume after a kill, the generic cluster executor).

The Snakemake runs (marked ``notebooks``) use a copy of the project whose five notebooks are replaced by stubs with
the same names and parameters: they test the orchestration (the Snakefile, helpers.variants, the profiles) in
about a minute each, independently of the analysis notebooks, which tests/test_pipeline_run.py executes.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import variants
from helpers.paths import NOT_SOURCES

from .conftest import ROOT, copy_project, made_once, still_running

NOTEBOOKS = ["01_ingest", "02_scoring", "03_baseline", "04_trial_rmanova", "05_discussion_figures"]
IGNORE = shutil.ignore_patterns(*NOT_SOURCES, "data")


# --- variant files ----------------------------------------------------------------------------------------------

def _variant(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return variants.load_variant(path, {"seed": 1, "build_dir": "build", "figures_dir": "figures"})


def test_variant_file_is_read(tmp_path):
    v = _variant(tmp_path, "seed_two", "description: another seed\noverrides:\n  seed: 2\n")
    assert (v.name, v.description, v.overrides, v.error) == ("seed_two", "another seed", {"seed": 2}, None)
    cfg = v.config({"seed": 1, "build_dir": "build", "figures_dir": "figures"}, "build")
    assert cfg == {"seed": 2, "build_dir": "build/variants/seed_two", "figures_dir": "build/variants/seed_two/figures"}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("unknown_key", "overrides:\n  sed: 2\n", "unknown parameter 'sed': did you mean 'seed'?"),
    ("moves_build", "overrides:\n  build_dir: elsewhere\n", "build_dir"),
    ("bad_yaml", "overrides: [\n", "not valid YAML"),
    ("extra_key", "overrides: {}\nseed: 3\n", "'description' and 'overrides' only"),
    ("Bad-Name", "overrides: {}\n", "must match"),
    ("two__parts", "overrides: {}\n", "must match"),
])
def test_invalid_variant_carries_its_error_instead_of_raising(tmp_path, name, text, message):
    v = _variant(tmp_path, name, text)
    assert v.error and message in v.error


def test_shipped_variants(config):
    from helpers import pipeline

    taken = set().union(*(pipeline.notebook_parameters(ROOT / "notebooks" / f"{nb}.ipynb") for nb in NOTEBOOKS))
    shipped = variants.load_variants(config)
    names = {v.name for v in shipped}
    assert variants.REFERENCE in names
    assert len(names - {variants.REFERENCE}) >= 5
    for v in shipped:
        assert v.description, f"{v.name}: no description"
        if v.name != variants.REFERENCE:
            assert v.overrides, f"{v.name}: overrides nothing"
        assert v.error is None, v.error
        untaken = set(v.overrides) - taken
        assert not untaken, f"{v.name}: no notebook takes {sorted(untaken)}: the variant would equal the default"


# --- status and comparison --------------------------------------------------------------------------------------

def _build(tmp_path, name, values, descriptions=None):
    folder = tmp_path / "build" / "variants" / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(values))
    with open(folder / "results_keys.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "value", "description", "notebook"])
        for k, val in values.items():
            w.writerow([k, val, (descriptions or {}).get(k, f"about {k}"), "nb"])
    return folder


def test_headline_keys_follow_topic_then_stem_then_statistic():
    keys = {"rm.biomarker.p", "t1.bdi_total.p", "t1.bdi_total.cp_mean", "rm.biomarker.f", "dq.n_rows",
            "t1.age.p", "t1.age.test", "rm.posthoc.il8.wl.p", "rm.n"}
    assert variants.headline_keys(keys) == ["t1.age.test", "t1.age.p", "t1.bdi_total.p", "rm.n", "rm.biomarker.f",
                                            "rm.biomarker.p", "rm.posthoc.il8.wl.p"]


def test_log_error_picks_the_exception_line(tmp_path):
    log = tmp_path / "03.log"
    log.write_text("Executing: 100%\n---\nTraceback (most recent call last):\n  File x\n"
                   "\x1b[0;31mValueError\x1b[0m: levene_center must be mean or median\n\n")
    assert variants._log_error(log) == "ValueError: levene_center must be mean or median"
    log.write_text("Executing: 40%\n")  # killed half way: no exception
    assert variants._log_error(log) is None
    # Ctrl-C while a module was importing: an error raised during the interrupt, then KeyboardInterrupt
    log.write_text("Traceback\nAttributeError: 'Transformer' object has no attribute 'value'\n\nDuring handling "
                   "of the above exception, another exception occurred:\n\nTraceback\n  File x\nKeyboardInterrupt\n")
    assert variants._log_error(log) is None


def test_compare_reports_each_variant_and_tabulates_the_ok_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(ROOT))
    build = str(tmp_path / "build")
    _build(tmp_path, "default", {"rm.biomarker.f": 24.59, "rm.biomarker.p": 1e-7, "t1.age.cp_mean": 38.9})
    _build(tmp_path, "holm", {"rm.biomarker.f": 24.59, "rm.biomarker.p": 2e-7, "t1.age.cp_mean": 38.9})
    broken = _build(tmp_path, "broken", {"rm.biomarker.f": 99.0})  # stale results of an earlier run
    (broken / "logs").mkdir()
    (broken / "logs" / "03_baseline.log").write_text("Traceback\nKeyError: 'bdi_total'\n")
    killed = tmp_path / "build" / "variants" / "killed"
    (killed / "logs").mkdir(parents=True)
    (killed / "logs" / "01_ingest.log").write_text("Executing notebook\n")
    vs = [variants.Variant("holm", "Holm", {"correction": "holm"}), variants.Variant("default", "defaults"),
          variants.Variant("broken", "fails"), variants.Variant("killed", "interrupted"),
          variants.Variant("invalid", error="config/variants/invalid.yaml: parameters ['x'] are not in ...")]
    pending = {"broken": {"notebook_03_baseline", "notebook_05_discussion_figures", "results"},
               "killed": {"notebook_01_ingest", "results"}}
    md, statuses = variants.compare(build, variants=vs, pending=pending)

    status = {s["variant"]: (s["status"], s["error"]) for s in statuses}
    assert status["default"] == status["holm"] == ("ok", "")
    assert status["broken"] == ("failed", "03_baseline: KeyError: 'bdi_total'")
    assert status["killed"][0] == "incomplete"
    assert status["invalid"][0] == "failed" and "parameters ['x']" in status["invalid"][1]

    with open(tmp_path / "build" / "variants" / "comparison.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # reference first, stale excluded; the row that differs first
    assert list(rows[0]) == ["key", "description", "default", "holm", "differs", "flags"]
    assert [r["key"] for r in rows] == ["rm.biomarker.p", "rm.biomarker.f"]
    by_key = {r["key"]: r for r in rows}
    assert set(by_key) == {"rm.biomarker.f", "rm.biomarker.p"}  # headline keys only
    assert float(by_key["rm.biomarker.p"]["holm"]) == 2e-7 and by_key["rm.biomarker.p"]["differs"] == "yes"
    assert by_key["rm.biomarker.f"]["differs"] == ""
    text = md.read_text()
    assert "| broken | **failed**: 03_baseline: KeyError: 'bdi_total'" in text
    assert "`correction=\"holm\"`" in text
    assert "| `rm.biomarker.p` | about rm.biomarker.p | 1.00e-07 | 2.00e-07 | yes |  |" in text
    assert "- **holm**: 1 of 2 headline statistics differ from `default`. No p-value crosses α" in text


def test_comparison_includes_robustness_keys_and_flags_conclusions_that_change(tmp_path, monkeypatch):
    """The real key shapes (robust.survives.<finding>.<check>, robust.p.<finding>.<check>): a p crossing alpha and
    a finding that flips are flagged, named in the variant's summary, and come first."""
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(ROOT))
    keys = {"robust.p.oxytocin_mbpm.mixedlm": (0.029, 0.065), "robust.survives.oxytocin_mbpm.mixedlm": (1, 0),
            "robust.p.il1b_wl.log": (0.0026, 0.0031), "robust.survives.il1b_wl.log": (1, 1),
            "rm.n": (28, 28), "t1.age.p": (0.07, 0.04)}
    _build(tmp_path, "default", {k: v[0] for k, v in keys.items()})
    _build(tmp_path, "raw_concentrations", {k: v[1] for k, v in keys.items()})
    vs = [variants.Variant("default"), variants.Variant("raw_concentrations", "pg/mL", {"log_transform": False})]
    md, _ = variants.compare(str(tmp_path / "build"), variants=vs, pending={})
    with open(md.parent / "comparison.csv", newline="") as fh:
        rows = {r["key"]: r for r in csv.DictReader(fh)}
    assert set(keys) == set(rows)  # every robustness key is a headline row
    assert rows["robust.p.oxytocin_mbpm.mixedlm"]["flags"] == "p crosses α: raw_concentrations"
    assert rows["t1.age.p"]["flags"] == "p crosses α: raw_concentrations"
    assert rows["robust.survives.oxytocin_mbpm.mixedlm"]["flags"] == "finding flips: raw_concentrations"
    assert rows["robust.p.il1b_wl.log"]["flags"] == "" and rows["robust.p.il1b_wl.log"]["differs"] == "yes"
    assert rows["robust.survives.il1b_wl.log"]["differs"] == "" and rows["rm.n"]["differs"] == ""
    order = list(rows)
    assert set(order[:4]) == {"robust.p.oxytocin_mbpm.mixedlm", "robust.survives.oxytocin_mbpm.mixedlm",
                              "robust.p.il1b_wl.log", "t1.age.p"}  # the differing rows first
    text = md.read_text()
    summary = next(ln for ln in text.splitlines() if ln.startswith("- **raw_concentrations**"))
    assert "4 of 6 headline statistics differ" in summary
    assert "p crosses α = 0.05 (2)" in summary and "`robust.p.oxytocin_mbpm.mixedlm` 0.029 → 0.065" in summary
    assert "findings that flip (1): `robust.survives.oxytocin_mbpm.mixedlm` 1 → 0" in summary


def test_headline_patterns_match_multi_segment_keys():
    assert variants.headline_keys({"robust.survives.oxytocin_mbpm.mixedlm", "robust.survives.x"}) == [
        "robust.survives.oxytocin_mbpm.mixedlm"]
    assert variants._pattern("robust.**").match("robust.a.b.c") and not variants._pattern("robust.**").match("robust")


def test_compare_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("MBPM_PROJECT_ROOT", str(ROOT))
    _build(tmp_path, "default", {"rm.x.p": 0.5, "rm.x.f": 1.25})
    vs = [variants.Variant("default")]
    md, _ = variants.compare(str(tmp_path / "build"), variants=vs, pending={})
    first = (md.read_bytes(), (md.parent / "comparison.csv").read_bytes())
    md, _ = variants.compare(str(tmp_path / "build"), variants=vs, pending={})
    assert (md.read_bytes(), (md.parent / "comparison.csv").read_bytes()) == first


# --- the Snakefile (dry runs: fast) -----------------------------------------------------------------------------

def _snakemake(project, *args, **kw):
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=project, env=env,
                          capture_output=True, text=True, **kw)


def _dry_run_jobs(project, *args) -> dict[str, str]:
    """rule name -> shell command of every job a dry run plans."""
    out = _snakemake(project, "--dry-run", "--cores", "1", "--printshellcmds", *args)
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = {}
    for block in re.split(r"^(?:local)?rule ", out.stdout + out.stderr, flags=re.M)[1:]:
        command = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs[block.split(":", 1)[0]] = command.group(1) if command else ""
    return jobs


@pytest.mark.slow  # Snakemake dry runs of every variant
def test_variants_target_plans_one_chain_per_valid_variant(tmp_path):
    jobs = _dry_run_jobs(ROOT, "--config", f"build_dir={tmp_path}/b", "--", "variants")
    valid = [v for v in variants.load_variants(yaml.safe_load((ROOT / "config/params.yaml").read_text()))
             if v.error is None]
    for v in valid:
        for nb in NOTEBOOKS:
            cmd = jobs[f"variant__{v.name}__notebook_{nb}"]
            params = json.loads(re.search(r"--params-json '(\{.*?\})'", cmd).group(1))
            assert params["build_dir"] == f"{tmp_path}/b/variants/{v.name}"
            assert params.get("figures_dir", f"{tmp_path}/b/variants/{v.name}/figures").startswith(
                f"{tmp_path}/b/variants/{v.name}/")
            for key, value in v.overrides.items():
                if key in params:
                    assert params[key] == value
    assert not any(name.startswith("notebook_") for name in jobs), "variants must not rebuild the main build"


@pytest.mark.slow  # Snakemake dry runs of every variant
def test_main_build_plans_no_variant_job(tmp_path):
    jobs = _dry_run_jobs(ROOT, "--config", f"build_dir={tmp_path}/b")
    assert jobs and not any(name.startswith("variant__") for name in jobs)


# --- Snakemake runs on stub notebooks (orchestration) ------------------------------------------------------------

# seed 1 (the variant seed_one): the notebook writes a marker file when it starts, then waits for a release file the
# test creates: the test interrupts the run at a known point, with no timing window.
STUB = '''import time
from pathlib import Path
from helpers import io
res = io.Results("{nb}", build_dir)
if seed == 13 and "{nb}" == "03_baseline":
    raise ValueError("seed 13 is unlucky")
if seed == 1:
    Path(io.project_path("started-seed_one-{nb}")).touch()
    while not Path(io.project_path("release-seed_one")).exists():
        time.sleep(0.05)
if Path(io.project_path("block-{nb}")).exists():  # the same, for any build: blocks while the file exists
    Path(io.project_path("started-{nb}")).touch()
    while Path(io.project_path("block-{nb}")).exists():
        time.sleep(0.05)
res.add("rm.stub_{short}.f", seed * {k} + 0.5, "a statistic that depends on the seed")
res.add("rm.stub_{short}.p", {k} / 100, "a statistic that does not")
res.save()
'''


def _stub_notebook(path: Path, nb: str, params: dict) -> None:
    from helpers import pipeline

    params = {**params, "seed": params.get("seed", 20250101)}
    head = "".join(f"{k} = {v!r}\n" for k, v in params.items())
    body = STUB.format(nb=nb, short=nb[:2], k=int(nb[:2]))
    if nb in pipeline.FIGURES:  # the declared figure files (Snakemake checks they are written)
        body += "from pathlib import Path\nPath(io.project_path(figures_dir)).mkdir(parents=True, exist_ok=True)\n"
        for fig in pipeline.figure_files(nb, "."):
            body += f"(io.project_path(figures_dir) / {Path(fig).name!r}).write_text(str(seed))\n"
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": head, "outputs": [],
              "execution_count": None},
             {"cell_type": "code", "metadata": {}, "source": body, "outputs": [], "execution_count": None}]
    nbjson = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
              "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    path.write_text(json.dumps(nbjson))


def _make_stub_project(project: Path) -> Path:
    """A copy of the project at ``project`` with stub notebooks and two variants: default and seed_one (slow)."""
    from helpers import pipeline

    shutil.copytree(ROOT, project, ignore=IGNORE)
    (project / "data" / "raw").mkdir(parents=True)
    (project / "data" / "raw" / "roster.csv").write_text("record_id\n1\n")
    for nb in NOTEBOOKS:
        _stub_notebook(project / "notebooks" / f"{nb}.ipynb", nb,
                       pipeline.notebook_parameters(ROOT / "notebooks" / f"{nb}.ipynb"))
    params = yaml.safe_load((project / "config" / "params.yaml").read_text())
    (project / "config" / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.rmtree(project / "config" / "variants")
    (project / "config" / "variants").mkdir()

    _add_variant(project, "default", {})
    _add_variant(project, "seed_one", {"seed": 1})
    return project


@pytest.fixture
def stub_project(tmp_path):
    """A copy of the project with stub notebooks and the variants: default, seed_one (slow), and the given extras."""
    return _make_stub_project(tmp_path / "project")


@pytest.fixture
def stub_built(tmp_path_factory, request) -> tuple[Path, str]:
    """A stub project (as ``stub_project``) after one clean ``mbpm run`` of its default build, and that run's stderr:
    made once per test session, shared (read-only) by the tests that compare a build with a clean run's."""
    def build(project: Path) -> str | None:
        _make_stub_project(project)
        run = _mbpm_run(project)
        (project.parent / "first-run.stderr").write_text(run.stderr)
        return None if run.returncode == 0 else f"clean stub run failed in {project}:\n{run.stderr[-3000:]}"

    project = made_once(tmp_path_factory, request.config, "stub-built", build)
    return project, (project.parent / "first-run.stderr").read_text()


def _add_variant(project, name, overrides):
    doc = {"description": f"test variant {name}", "overrides": overrides}
    (project / "config" / "variants" / f"{name}.yaml").write_text(yaml.safe_dump(doc))


def _compare(project):
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    return subprocess.run([sys.executable, "-m", "helpers.variants", "compare"], cwd=project, env=env,
                          capture_output=True, text=True)


def _statuses(project) -> dict[str, tuple[str, str]]:
    with open(project / "build" / "variants" / "status.csv", newline="") as fh:
        return {r["variant"]: (r["status"], r["error"]) for r in csv.DictReader(fh)}


def _planned(project) -> set[str]:
    out = _snakemake(project, "--dry-run", "--rerun-incomplete", "--cores", "1", "--quiet", "rules", "--", "variants")
    assert out.returncode == 0, out.stderr[-3000:]
    return set(re.findall(r"^(variant__\w+)\s+\d+\s*$", out.stdout + out.stderr, re.M))


def _files(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.notebooks
@pytest.mark.slow
def test_variants_keep_going_report_failures_and_resume_after_a_kill(stub_project):
    """`make variants`' Snakemake call, killed once the first variant is done, then re-run to completion."""
    import psutil

    _add_variant(stub_project, "unlucky", {"seed": 13})  # its 03_baseline raises
    _add_variant(stub_project, "unknown", {"no_such_parameter": 1})  # an invalid variant file
    variants_dir = stub_project / "build" / "variants"
    done = variants_dir / "default" / "results.json"
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(stub_project)}

    # 1. run on two cores; seed_one's first notebook blocks one of them (until the test releases it) while the other
    # runs the default variant first (--prioritize). Interrupt once both have happened: seed_one cannot finish.
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--keep-going", "--rerun-incomplete",
           "--prioritize", str(done.relative_to(stub_project)), "--", "variants"]
    log = stub_project / "killed-run.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=stub_project, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finished_default = re.compile(r"Finished jobid: \d+ \(Rule: variant__default__results\)")
    started = stub_project / "started-seed_one-01_ingest"

    def ready():
        return started.exists() and finished_default.search(log.read_text())

    try:
        # wait for two events (not a timing window): seed_one's first notebook has started (it then blocks) and
        # Snakemake has recorded the default variant as finished
        deadline = time.monotonic() + 600
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready(), "seed_one did not start or default did not finish:\n" + log.read_text()[-3000:]
        killed = psutil.Process(proc.pid).children(recursive=True)  # its jobs and their Jupyter kernels
        # Ctrl-C, to Snakemake and its running job. Not SIGTERM: Snakemake 9.27's SIGTERM handler takes the
        # scheduler's non-reentrant lock, which the interrupted main thread may be holding (a rare deadlock).
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            ps = subprocess.run(["ps", "-eo", "pid,ppid,pgid,etime,stat,args"], capture_output=True, text=True)
            pytest.fail("Snakemake did not stop within 180 s of Ctrl-C.\nprocesses:\n" + ps.stdout
                        + "\nlog tail:\n" + log.read_text()[-3000:])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # nothing of the interrupted run outlives it; a Jupyter kernel polls its parent and may take a second. Only then
    # is seed_one released: a kernel still running the blocked cell would otherwise go on to write its fragment.
    gone, alive = psutil.wait_procs(killed, timeout=60)
    assert not [p for p in alive if still_running(p)], [" ".join(p.cmdline()) for p in alive if still_running(p)]
    (stub_project / "release-seed_one").touch()  # the re-run below must not block
    assert not (variants_dir / "seed_one" / "results.json").exists()
    status = _statuses_after_compare(stub_project)
    assert status["default"] == ("ok", "") and status["seed_one"][0] == "incomplete"

    # 2. Snakemake's dry run plans every unfinished variant and nothing of the finished one
    planned = _planned(stub_project)
    assert {j.split("__")[1] for j in planned} == {"seed_one", "unlucky", "unknown"}
    finished = _files(variants_dir / "default")

    # 3. re-run (in parallel): completes what is missing, keeps going past the failing variants
    run = _snakemake(stub_project, "--cores", "2", "--keep-going", "--rerun-incomplete", "--", "variants")
    assert run.returncode != 0  # two variants fail ...
    assert _files(variants_dir / "default") == finished, "a finished variant was redone"
    out = _compare(stub_project)
    assert out.returncode == 1, out.stdout + out.stderr  # ... and the comparison step says so, by name
    status = _statuses(stub_project)
    assert status["default"] == status["seed_one"] == ("ok", ""), (
        f"{status}\nre-run's log:\n{(run.stdout + run.stderr)[-6000:]}\nkilled run's log:\n{log.read_text()[-3000:]}")
    assert status["unlucky"] == ("failed", "03_baseline: ValueError: seed 13 is unlucky")
    assert status["unknown"][0] == "failed" and "no_such_parameter" in status["unknown"][1]
    assert "unlucky" in out.stdout and "seed 13 is unlucky" in out.stdout

    # outputs: figures inside the variant folder; the failed variant has no results file, its upstream is kept
    assert (variants_dir / "seed_one" / "figures" / "fig1_flow.svg").read_text() == "1"
    assert not (variants_dir / "unlucky" / "results.json").exists()
    assert (variants_dir / "unlucky" / "results" / "02_scoring.json").exists()
    with open(variants_dir / "comparison.csv", newline="") as fh:
        rows = {r["key"]: r for r in csv.DictReader(fh)}
    assert list(next(iter(rows.values()))) == ["key", "description", "default", "seed_one", "differs", "flags"]
    assert float(rows["rm.stub_03.f"]["seed_one"]) == 3.5 and rows["rm.stub_03.f"]["differs"] == "yes"
    assert rows["rm.stub_03.p"]["differs"] == ""
    assert "seed 13 is unlucky" in (variants_dir / "comparison.md").read_text()


def _statuses_after_compare(project):
    _compare(project)
    return _statuses(project)


@pytest.mark.notebooks
@pytest.mark.slow
def test_cluster_code_path_with_generic_cluster_executor(stub_project):
    pytest.importorskip("snakemake_executor_plugin_cluster_generic")
    (stub_project / "config" / "variants" / "seed_one.yaml").unlink()  # one variant: five jobs suffice
    run = _snakemake(stub_project, "--profile", "profiles/local-cluster", "--", "variants", timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    log = run.stdout + run.stderr
    submitted = re.findall(r"Submitted job \d+ with external jobid '(\d+)'", log)
    assert len(submitted) >= len(NOTEBOOKS), log[-3000:]
    spool = stub_project / ".snakemake" / "local-cluster"
    assert all((spool / f"{jobid}.exit").read_text().strip() == "0" for jobid in submitted)
    assert set(_statuses_after_compare(stub_project).values()) == {("ok", "")}
    nothing = _snakemake(stub_project, "--profile", "profiles/local-cluster", "--dry-run", "--", "variants")
    assert "Nothing to be done" in nothing.stdout + nothing.stderr


# --- the main build through `mbpm run` (what `make report` calls), on the stub notebooks ------------------------

def _mbpm_run(project, *args, **kw):
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    return subprocess.run([sys.executable, "-m", "helpers", "run", "--cores", "2", *args], cwd=project, env=env,
                          capture_output=True, text=True, **kw)


def _build_bytes(project) -> dict[str, bytes]:
    build = project / "build"
    keep = [*build.glob("notebooks/*.ipynb"), *build.glob("results/*.json"), build / "results.json",
            *build.glob("supplementary/**/*.qmd"), *(project / "figures").glob("*")]
    return {str(p.relative_to(project)): p.read_bytes() for p in sorted(keep) if p.is_file()}


@pytest.mark.notebooks
@pytest.mark.slow
def test_failed_run_sticks_and_a_killed_run_recovers(stub_built, tmp_path):
    """A failing notebook: one clear block, the executed notebook kept, results.json and the supplementary removed,
    and the next run fails again naming it (never "nothing to be done"). A notebook's fragment from a hand run is
    discarded. A run killed with SIGKILL in the middle of a notebook: the next plain run finishes, and its outputs
    are byte-identical to a clean run's in another folder."""
    clean, first_stderr = stub_built  # a clean run (it succeeded) in a folder of its own
    assert re.search(r"^notebook 01_ingest\s+started$", first_stderr, re.M)
    assert re.search(r"^notebook 05_discussion_figures\s+done in \d+\.\d s$", first_stderr, re.M)
    assert re.search(r"^pipeline finished in \d+\.\d s$", first_stderr, re.M)
    assert "SNAKEMAKE" not in first_stderr and "Select jobs" not in first_stderr  # no banner, no bookkeeping
    reference = _build_bytes(clean)
    assert "build/results.json" in reference and "figures/fig1_flow.svg" in reference

    # 1. a failing notebook (seed 13 breaks 03_baseline), in the default build folder of a built project (a copy of
    # the clean run's, modification times and Snakemake's records kept)
    project = copy_project(clean, tmp_path / "project")
    for attempt in range(2):
        run = _mbpm_run(project, "--config", "build_dir=build", "seed=13")
        assert run.returncode != 0
        assert re.search(r"^notebook 03_baseline\s+FAILED after", run.stderr, re.M), run.stderr[-3000:]
        assert re.search(r"^  cell:     In \[\d+\]$", run.stderr, re.M)
        assert "  error:    ValueError: seed 13 is unlucky" in run.stderr
        assert "  log:      build/logs/03_baseline.log" in run.stderr
        assert "  notebook: build/failed/03_baseline.ipynb" in run.stderr
        assert "pipeline FAILED" in run.stderr and "(03_baseline)" in run.stderr
        assert "Nothing to be done" not in run.stderr + run.stdout
        kept = json.loads((project / "build" / "failed" / "03_baseline.ipynb").read_text())
        assert any(o.get("ename") == "ValueError" for c in kept["cells"] for o in c.get("outputs", []))
        for stale in ("build/results.json", "build/results_keys.csv", "build/supplementary/index.qmd"):
            assert not (project / stale).exists(), f"{stale} survived a failed run (attempt {attempt + 1})"

    # 2. the defaults again: everything rebuilt, the failure record cleared
    run = _mbpm_run(project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (project / "build" / "failed" / "03_baseline.ipynb").exists()
    assert _build_bytes(project) == reference

    # 3. a hand run (JupyterLab) wrote 04's fragment: discarded, 04 re-runs
    fragment = project / "build" / "results" / "04_trial_rmanova.json"
    doc = json.loads(fragment.read_text())
    fragment.write_text(json.dumps({**doc, "values": {**doc["values"], "rm.stub_04.f": 99.0},
                                    "written_by": "hand run"}))
    run = _mbpm_run(project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "came from a hand run (JupyterLab), not the pipeline: 04_trial_rmanova re-runs" in run.stderr
    assert re.search(r"^notebook 04_trial_rmanova\s+done", run.stderr, re.M)
    assert _build_bytes(project) == reference

    # 4. SIGKILL to Snakemake while 02_scoring runs (it blocks until the test removes the block file)
    paths_py = project / "src" / "helpers" / "paths.py"  # every notebook depends on it: the whole chain re-runs
    paths_py.write_text(paths_py.read_text() + "\n# edited by the test\n")
    block, started = project / "block-02_scoring", project / "started-02_scoring"
    block.touch()
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--rerun-incomplete"], cwd=project,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), "02_scoring never started"
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its jobs, no chance to clean up
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    block.unlink()
    assert not (project / "build" / "results.json").exists()  # invalidated when 02 started
    run = _mbpm_run(project)  # a plain run: stale Snakemake lock and incomplete files are handled
    assert run.returncode == 0, run.stderr[-3000:]
    assert "cleared the lock an interrupted run left behind" in run.stderr
    assert _build_bytes(project) == reference


@pytest.mark.notebooks
def test_sigkill_of_mbpm_run_takes_snakemake_jobs_and_kernels_with_it(stub_project, stub_built):
    """`kill -9` of the `mbpm run` process itself (a closed terminal, an OOM kill) while 02_scoring runs: Snakemake,
    the notebook job (papermill) and its Jupyter kernel all end, so the next run is not refused, starts at once and
    finishes byte-identical to a clean run in another folder."""
    import psutil

    reference = _build_bytes(stub_built[0])  # a clean run's, in another folder

    project = stub_project
    block, started = project / "block-02_scoring", project / "started-02_scoring"
    block.touch()
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project)}
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "run", "--cores", "2"], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    descendants: list = []
    try:
        deadline = time.monotonic() + 600
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), "02_scoring never started"
        # the kernel wrote the marker: the whole chain exists now
        descendants = psutil.Process(proc.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in descendants]
        assert any("snakemake" in c for c in commands), commands
        assert any("helpers execute notebooks/02_scoring.ipynb" in c for c in commands), commands
        assert any("ipykernel" in c for c in commands), commands
        proc.kill()  # SIGKILL to `mbpm run` alone: no handler runs, nothing is forwarded
        proc.wait()
        # each level is signalled by the kernel when its parent dies; the Jupyter kernel polls its parent every second
        gone, alive = psutil.wait_procs(descendants, timeout=60)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        for p in descendants:
            if p.is_running():
                p.kill()
    block.unlink()
    run = _mbpm_run(project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "another run is in progress" not in run.stderr
    assert _build_bytes(project) == reference


@pytest.mark.notebooks
def test_an_override_raw_dir_included_leaves_the_default_build_untouched_and_says_where_it_wrote(stub_built, tmp_path):
    """`make report SNAKEMAKE_ARGS="--config raw_dir=..."` (another study's export) and `--config seed=...`: each
    builds into its own folder; build/ and figures/ stay byte-identical (not even rewritten), nothing is rotated, and
    the "Outputs:" block lists the override's folder, not the default build. Starts from a built project (a copy of
    the clean run's)."""
    project = copy_project(stub_built[0], tmp_path / "project")
    first = _mbpm_run(project, "--outputs", "--rotate-snapshot")
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"Outputs (build/):\n  executed notebooks   {project}/build/notebooks" in first.stdout
    assert f"  figures (SVG + PNG)  {project}/figures" in first.stdout
    default = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*(project / "build").rglob("*"),
               *(project / "figures").rglob("*")] if p.is_file()}
    shutil.copytree(project / "data" / "raw", project / "data" / "other_export")
    for setting, folder in (("raw_dir=data/other_export", "build/overrides/raw_dir-data_other_export"),
                            ("seed=3", "build/overrides/seed-3")):
        run = _mbpm_run(project, "--outputs", "--rotate-snapshot", "--config", setting)
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"building into {folder}/, figures into {folder}/figures/" in run.stderr
        assert (project / folder / "results.json").is_file() and (project / folder / "figures" / "fig1_flow.png").is_file()
        outputs = run.stdout[run.stdout.index("Outputs"):]
        assert outputs.startswith(f"Outputs ({folder}/):"), run.stdout
        listed = re.findall(r"^  .{20} (\S+)", outputs, re.M)
        assert listed and all(p.startswith(f"{project}/{folder}") for p in listed), listed
        assert "snapshot:" not in run.stdout  # the automatic base of `make diff` is the default build's
        now = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in default}
        assert now == default
        assert not [p for p in (project / "figures").rglob("*") if p.is_file() and p not in default]


def test_second_concurrent_run_is_refused_without_advice_to_unlock(stub_project):
    from helpers import runner

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from helpers import runner; "
                               "lock = runner.acquire_lock(Path(sys.argv[1]), 'make report'); "
                               "print('locked', flush=True); time.sleep(600)", str(stub_project)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # blocks until the holder has the lock
        run = _mbpm_run(stub_project, timeout=120)
        assert run.returncode == 2
        assert "another run is in progress" in run.stderr and f"PID {holder.pid}" in run.stderr
        assert "unlock" not in run.stderr.lower()
    finally:
        holder.kill()
        holder.wait()
    lock = runner.acquire_lock(stub_project, "test")  # the holder died (SIGKILL): its lock went with it
    lock.close()
