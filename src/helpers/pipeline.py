"""The notebook pipeline: what each notebook depends on, how papermill runs it, and what happens after.

Snakemake (see ``Snakefile``) drives these functions. The dependency discovery below is written by hand because
neither Snakemake nor papermill (nor Quarto's freeze) knows that a notebook must re-run when a helper module it
imports changes: we read the notebook's ``import helpers...`` statements and follow the imports inside the package.
"""

from __future__ import annotations

import ast
import functools
import glob
import json
import os
import re
import shutil
import sys
from pathlib import Path

from helpers.paths import project_path, project_root
from helpers.render import ANSI_RE

KERNEL_NAME = "mbpm-report"
KERNEL_DISPLAY = "Python 3 (mbpm-report)"
PACKAGE = "helpers"


# --- dependency discovery ---------------------------------------------------------------------------------------

def _code(source: str) -> str:
    """Notebook cell source without IPython magics and shell escapes, which are not Python syntax."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _imported_modules(tree: ast.AST, current: str | None = None) -> set[str]:
    """Fully qualified ``helpers...`` modules imported in ``tree``; ``current`` resolves relative imports."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current is None:
                    continue
                package = current.split(".") if _is_package(current) else current.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != PACKAGE:
                continue
            found.add(module)
            # `from helpers import io` imports the submodule helpers.io
            found.update(f"{module}.{a.name}" for a in node.names if _module_file(f"{module}.{a.name}"))
    return found


def _src() -> Path:
    return project_root() / "src"


def _module_file(module: str) -> Path | None:
    base = _src().joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_package(module: str) -> bool:
    file = _module_file(module)
    return file is not None and file.name == "__init__.py"


def _data_files(tree: ast.Module, module_file: Path) -> list[Path]:
    """Files named by a module-level ``__data_files__ = [glob, ...]`` (globs relative to the module's folder)."""
    files: list[Path] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__data_files__" for t in node.targets
        ):
            for pattern in ast.literal_eval(node.value):
                files.extend(Path(p) for p in sorted(glob.glob(str(module_file.parent / pattern))))
    return files


@functools.cache
def _module_facts(file: Path, module: str) -> tuple[list[Path], set[str]]:
    """The data files and helpers modules one module file declares and imports (parsed once per process: the
    Snakefile asks for every notebook's closure, and the closures share most modules)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    return _data_files(tree, file), _imported_modules(tree, current=module)


def helper_closure(modules: set[str]) -> list[Path]:
    """Source files (and declared data files) of ``modules`` and of every helpers module they import, transitively.

    Importing ``helpers.x.y`` executes ``helpers/__init__.py`` and ``helpers/x/__init__.py`` too, so parents count.
    """
    todo = set()
    for module in modules:
        parts = module.split(".")
        todo.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    seen: set[str] = set()
    files: set[Path] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        file = _module_file(module)
        if file is None:
            continue
        files.add(file)
        data_files, imports = _module_facts(file, module)
        files.update(data_files)
        for imported in imports:
            parts = imported.split(".")
            todo.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    root = project_root()
    return sorted(f.relative_to(root) for f in files)


def _code_cells(notebook: str | Path) -> list[dict]:
    """A notebook's code cells, read as plain JSON (importing nbformat costs seconds through jsonschema)."""
    nb = json.loads(project_path(notebook).read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
    return cells


def notebook_imports(notebook: str | Path) -> set[str]:
    """The ``helpers`` modules a notebook's code cells import."""
    modules: set[str] = set()
    for cell in _code_cells(notebook):
        modules |= _imported_modules(ast.parse(_code(cell["source"])))
    return modules


def helper_closure_files(modules: list[str]) -> list[str]:
    """:func:`helper_closure` of named modules, as project-relative path strings."""
    return [str(p) for p in helper_closure(set(modules))]


def helper_files(notebook: str | Path) -> list[str]:
    """Helper source files a notebook depends on (for Snakemake's ``input:``), as project-relative paths."""
    return [str(p) for p in helper_closure(notebook_imports(notebook))]


# --- declared outputs -------------------------------------------------------------------------------------------

# The publication figures each notebook writes into ``figures_dir`` (helpers.figures.save_figure: SVG + PNG each).
# The Snakefile declares them as the notebook's outputs: a deleted figure is rebuilt, `make clean` removes them, and
# the manuscript's render can take them as inputs. tests/test_pipeline_run.py checks 05 writes exactly these.
FIGURES = {
    "05_discussion_figures": ["fig1_flow", "fig2_trajectories", "fig3_forest", "fig4_change_change"],
}
FIGURE_FORMATS = ("svg", "png")


def figure_files(notebook: str, figures_dir: str) -> list[str]:
    """The figure files ``notebook`` writes into ``figures_dir``, as paths for Snakemake."""
    folder = str(figures_dir).rstrip("/")
    return [f"{folder}/{name}.{ext}" for name in FIGURES.get(notebook, []) for ext in FIGURE_FORMATS]


# --- parameters -------------------------------------------------------------------------------------------------

def notebook_parameters(notebook: str | Path) -> dict:
    """Names and defaults of the notebook's ``parameters`` cell (the cell tagged ``parameters``).

    Read with ``ast`` rather than ``papermill.inspect_notebook``: importing papermill costs ~4 s, which Snakemake
    would pay on every (even no-op) run. tests/test_pipeline.py checks that both readings agree on every notebook.
    """
    cells = [c for c in _code_cells(notebook) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{notebook}: expected one cell tagged 'parameters', found {len(cells)}")
    params = {}
    for node in ast.parse(_code(cells[0]["source"])).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                params[target.id] = ast.literal_eval(node.value)
    return params


def parameters_for(notebook: str | Path, config: dict) -> dict:
    """The values of ``config`` for exactly the parameters the notebook declares (unknown names are an error)."""
    names = notebook_parameters(notebook)
    missing = sorted(set(names) - set(config))
    if missing:
        raise KeyError(f"{notebook}: parameters {missing} are not in the configuration (config/params.yaml)")
    return {name: config[name] for name in sorted(names)}


# --- execution --------------------------------------------------------------------------------------------------

def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """Register this environment's Python as Jupyter kernel ``name`` (inside sys.prefix) unless it already is.

    Papermill is given this kernel explicitly: a notebook's stored kernelspec may name a kernel another environment
    registered ("NoSuchKernel" in a venv is the usual trap).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return name
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=name, display_name=KERNEL_DISPLAY, prefix=sys.prefix)
    return name


# Set in the environment of every notebook the pipeline executes (the kernel inherits it), so helpers can tell a
# pipeline job from a hand run in JupyterLab.
PIPELINE_JOB_ENV = "MBPM_PIPELINE_JOB"


def execute(notebook: str | Path, output: str | Path, parameters: dict, kernel: str = KERNEL_NAME) -> Path:
    """Execute ``notebook`` with papermill into ``output``, in the notebooks folder, with ``parameters``.

    The executed notebook is then made reproducible (:func:`normalize_executed`): no timestamps, durations, random
    cell ids or absolute paths, so two runs of the same inputs give byte-identical files.
    """
    papermill = _papermill()
    ensure_kernel(kernel)
    notebook, output = project_path(notebook), project_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters=parameters,
                    kernel_name=kernel,
                    cwd=str(notebook.parent),
                    progress_bar=False,
                    log_output=True,
                )
                break
            except RuntimeError as exc:
                # jupyter_client picks free TCP ports and the kernel binds them a moment later: two notebooks
                # starting at once (03 and 04 run in parallel) can pick the same port, and the kernel dies before
                # running any cell ("Address already in use", then this message). Nothing ran: start it again.
                if "Kernel died before replying to kernel_info" not in str(exc) or attempt == KERNEL_START_ATTEMPTS:
                    raise
                print(f"kernel for {notebook.name} died while starting (port clash?): attempt {attempt + 1}",
                      file=sys.stderr)
    finally:
        if output.is_file():
            normalize_executed(output)
    return output


KERNEL_START_ATTEMPTS = 3


def _papermill():
    """papermill, imported without its optional HDFS support, which cost every notebook job 0.2 s of CPU:
    papermill.iorw imports ``pyarrow.fs`` (and with it pyarrow and numpy) only to offer ``hdfs://`` paths, and the
    pipeline's notebooks are local files. ``pyarrow.fs`` is unimportable only while papermill is imported (an
    ``hdfs://`` path then fails with papermill's "missing dependency" message, as without pyarrow); nor does
    jsonschema, under nbformat, build its IRI grammar (:func:`helpers.config.skip_iri_grammar`)."""
    from helpers.config import skip_iri_grammar

    skip_iri_grammar()
    blocked = "pyarrow.fs" not in sys.modules
    if blocked:
        sys.modules["pyarrow.fs"] = None  # type: ignore[assignment]  (the import system's "not importable")
    try:
        import papermill
    finally:
        if blocked and sys.modules.get("pyarrow.fs", 0) is None:
            del sys.modules["pyarrow.fs"]
    return papermill


# Metadata papermill and nbclient write that changes from run to run (wall-clock times and durations).
RUN_DEPENDENT_KEYS = {"start_time", "end_time", "duration"}


def _relative_text(value, root: str):
    """``value`` (str, list of str or a dict of them, as in notebook outputs) with ``root/`` removed."""
    if isinstance(value, str):
        return value.replace(root + "/", "").replace(root, ".")
    if isinstance(value, list):
        return [_relative_text(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _relative_text(v, root) for k, v in value.items()}
    return value


def normalize_executed(path: str | Path) -> Path:
    """Strip run-dependent noise from an executed notebook, in place.

    Removes papermill's start/end times and durations (notebook and cells), nbclient's per-cell ``execution``
    timings, empty tag lists and papermill's cell status when it only says "completed" (Quarto turns cell metadata
    into HTML attributes in a varying order); makes papermill's input/output paths project-relative; gives the
    cells papermill inserts (injected parameters, error marker) and source cells without an id ids derived from
    their position instead of random ones; and writes the project root out of every output (e.g. a displayed ``PosixPath``), so no machine path is
    published. Written by hand:
    papermill has no reproducible-output mode (its ``--report-mode`` hides inputs, not timestamps).
    """
    import nbformat

    path = Path(path)
    root = str(project_root())
    nb = nbformat.read(str(path), as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in RUN_DEPENDENT_KEYS:
        meta.pop(key, None)
    for key in ("input_path", "output_path"):
        if meta.get(key):
            p = Path(meta[key])
            meta[key] = str(p.relative_to(root)) if p.is_absolute() and p.is_relative_to(root) else str(p)
    source = project_path(meta["input_path"]) if meta.get("input_path") else None
    source_ids = set()
    if source is not None and source.is_file():
        source_ids = {c.get("id") for c in json.loads(source.read_text(encoding="utf-8")).get("cells", [])}
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        for key in RUN_DEPENDENT_KEYS:
            cell.metadata.get("papermill", {}).pop(key, None)
        # Metadata that says nothing (no tags; papermill's "completed, no exception") goes: Quarto copies a cell's
        # metadata into attributes of the embedded table in an order that changes from render to render.
        if cell.metadata.get("papermill") == {"exception": False, "status": "completed"}:
            del cell.metadata["papermill"]
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"
        elif "papermill-error-cell-tag" in tags:
            cell["id"] = f"papermill-error-{index}"
        elif cell.get("id") not in source_ids:  # a random id nbformat gave a source cell that had none
            cell["id"] = f"cell-{index}"
        for output in cell.get("outputs", []):
            for field in ("text", "data", "traceback", "evalue"):
                if field in output:
                    output[field] = _relative_text(output[field], root)
    nbformat.write(nb, str(path))
    return path


def _say(message: str) -> None:
    """One progress or failure message on the terminal (stderr), in a single write so parallel jobs don't mix."""
    stream = _TERMINAL or sys.stderr
    stream.write(message.rstrip("\n") + "\n")
    stream.flush()


_TERMINAL = None  # the terminal's stderr while a job's own stderr goes to its log (see run_job)


def run_job(notebook: str | Path, output: str | Path, parameters: dict, *, log: str | Path | None = None,
            invalidates: list[str] | None = None, failed_dir: str | Path | None = None) -> int:
    """A pipeline job: execute one notebook, with a progress line when it starts and ends, and one clear block when
    it fails. Returns an exit code.

    * ``invalidates``: files built from this notebook's outputs (results.json, the supplementary, ...). They are
      deleted before the notebook starts, so a run that fails or is killed from here on never leaves a build that
      looks current: the next run must rebuild them (Snakemake does not re-create missing intermediate files while
      the final ones look up to date).
    * ``log``: everything the job prints (papermill's cell-by-cell log, the kernel's stderr) goes there; the
      terminal only gets the progress lines.
    * ``failed_dir``: on an error the executed notebook (outputs up to the failing cell) is copied there, with a
      one-line JSON record, before Snakemake deletes the job's outputs; a later success removes both.
    """
    import logging
    import signal
    import time

    global _TERMINAL
    from helpers import lifetime

    lifetime.die_with_parent(signal.SIGKILL, parent=os.getppid())  # Snakemake killed: this job (and kernel) too
    # the log first: whatever fails from here on is in this run's log, never a previous run's (helpers.variants
    # reads it to say why a variant failed, and an old "KeyboardInterrupt" there would read as "interrupted")
    log_path = project_path(log) if log else None
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _TERMINAL = os.fdopen(os.dup(2), "w")
        log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (kept open for the job's life)
        os.dup2(log_file.fileno(), 2)  # this process's and the kernel's stderr -> the log
        sys.stderr = log_file
    name = Path(notebook).stem
    output = project_path(output)
    build = _shown(output.parent.parent)
    label = name if build == "build" else f"{name} ({build})"
    for stale in invalidates or []:
        # missing_ok: 03 and 04 start together and invalidate the same files
        project_path(stale).unlink(missing_ok=True)
    failed = project_path(failed_dir) if failed_dir else output.parent.parent / "failed"
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)
    os.environ[PIPELINE_JOB_ENV] = name
    _say(f"notebook {label:<24} started")
    start = time.monotonic()
    interrupted = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        execute(notebook, output, parameters)
    except KeyboardInterrupt:
        return _interrupted(label, time.monotonic() - start)
    except Exception as exc:  # noqa: BLE001 (every failure gets the same clear block)
        seconds = time.monotonic() - start
        if interrupted:  # Ctrl-C: the kernel may die of it first (DeadKernelError); still an interruption
            return _interrupted(label, seconds)
        record = failure_record(label, exc, output, failed, log_path)
        block = failure_block(record, seconds)
        if log_path:  # the log gets the block too, then ends with the exception's first line (helpers.variants)
            print(block, file=sys.stderr)
        print(f"{record['error']}", file=sys.stderr)
        _say(block)
        return 1
    for leftover in (failed / f"{name}.ipynb", failed / f"{name}.json"):
        leftover.unlink(missing_ok=True)
    _say(f"notebook {label:<24} done in {time.monotonic() - start:.1f} s")
    return 0


def _interrupted(label: str, seconds: float) -> int:
    print("KeyboardInterrupt: the job was interrupted (Ctrl-C); it re-runs next time", file=sys.stderr)  # the log
    _say(f"notebook {label:<24} interrupted after {seconds:.1f} s (it re-runs next time)")
    return 130


def _shown(path: Path) -> str:
    """``path`` relative to the project root when inside it (what messages print)."""
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


# A frame of a traceback, as Python and IPython print it: `File "/x/y.py", line 12, in f` or `File /x/y.py:12, in f`
FRAME_RE = re.compile(r'File "?(?P<file>[^",]+?\.py)"?(?:, line |:)(?P<line>\d+)(?:, in (?P<func>[\w.<>]+))?')
HELPER_FRAMES = 3  # the innermost frames inside src/helpers a failure block shows


def helper_frames(traceback_text: str, last: int = HELPER_FRAMES) -> list[str]:
    """The last ``last`` frames of a traceback (text, colours allowed) whose file is in the helpers package, as
    ``src/helpers/x.py:12 in f`` (relative to the folder holding src/), innermost last."""
    package = Path(__file__).resolve().parent
    frames = []
    for m in FRAME_RE.finditer(ANSI_RE.sub("", traceback_text)):
        path = Path(m["file"]).resolve()
        if path.is_relative_to(package):
            shown = path.relative_to(package.parent.parent)
            frames.append(f"{shown}:{m['line']}" + (f" in {m['func']}" if m["func"] else ""))
    return frames[-last:]


def failure_record(name: str, exc: BaseException, output: Path, failed: Path, log: Path | None) -> dict:
    """What failed, where: written to ``<failed>/<name>.json`` beside the kept executed notebook.

    ``error`` is the exception's first line (what ``helpers.variants`` reports), ``message`` its every line (a
    validation error lists file, row, column, value and rule on lines of their own), ``where`` the innermost frames
    of the traceback inside src/helpers (file:line)."""
    import traceback

    from papermill.exceptions import PapermillExecutionError

    record = {"notebook": name, "cell": None, "error": f"{type(exc).__name__}: {exc}".strip(),
              "log": _shown(log) if log else None, "executed": None}
    if isinstance(exc, PapermillExecutionError):
        record["cell"] = exc.exec_count
        record["error"] = f"{exc.ename}: {exc.evalue}"
        frames = helper_frames("\n".join(exc.traceback or []))
    else:
        frames = helper_frames("".join(traceback.format_exception(exc)))
    record["message"] = record["error"].rstrip().splitlines() or [type(exc).__name__]
    record["error"] = record["message"][0][:500]
    record["where"] = frames
    failed.mkdir(parents=True, exist_ok=True)
    if output.is_file():
        shutil.copyfile(output, failed / output.name)
        record["executed"] = _shown(failed / output.name)
    (failed / f"{output.stem}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def failure_block(record: dict, seconds: float | None = None) -> str:
    """The block a person reads when a notebook fails: which notebook, which cell, the exception's whole message,
    where in src/helpers it was raised, where to look."""
    after = f" after {seconds:.1f} s" if seconds is not None else ""
    lines = [f"notebook {record['notebook']:<24} FAILED{after}"]
    if record.get("cell") is not None:
        lines.append(f"  cell:     In [{record['cell']}]")
    for i, text in enumerate(record.get("message") or [record["error"]]):
        lines.append(f"  {'error:' if i == 0 else '':<10}{text}")
    for i, frame in enumerate(record.get("where") or []):
        lines.append(f"  {'where:' if i == 0 else '':<10}{frame}")
    if record.get("log"):
        lines.append(f"  log:      {record['log']}")
    if record.get("executed"):
        lines.append(f"  notebook: {record['executed']} (executed up to the error; open it in JupyterLab)")
    return "\n".join(lines)


# --- rendering (in helpers.render; these names stay importable from here) ------------------------------------------

from helpers.render import QUARTO_MIN, quarto_ok, quarto_version, render  # noqa: E402, F401


def summary(build_dir: str | Path = "build", figures_dir: str | Path | None = None,
            manuscript: bool = True) -> str:
    """Where a reader finds the outputs of a build: its folder, its figures, and, for the default build
    (``manuscript``), the rendered article in ``_manuscript/`` (a one-off override or a variant never renders it)."""
    from helpers.paths import default_dirs

    build = project_path(build_dir)
    default_build, default_figures = default_dirs()
    if figures_dir:
        figures = project_path(figures_dir)
    else:  # the default build's figures are figures_dir of config/params.yaml; any other build's are inside it
        figures = default_figures if build.resolve() == default_build else build / "figures"
    lines = [
        f"Outputs ({_shown(build)}/):",
        f"  executed notebooks   {build / 'notebooks'}",
        f"  results (numbers)    {build / 'results.json'} (keys described in {build / 'results_keys.csv'})",
        f"  figures (SVG + PNG)  {figures}",
        f"  supplementary pages  {build / 'supplementary'} (rendered by `make publish` into _publish/)",
    ]
    manuscript_dir = project_root() / "_manuscript"
    for name, label in (("index.html", "manuscript (HTML)"), ("index.docx", "manuscript (Word)"),
                        ("index.xml", "manuscript (JATS)"), ("index-meca.zip", "MECA bundle")):
        if manuscript and (manuscript_dir / name).exists():
            lines.append(f"  {label:<20} {manuscript_dir / name}")
    return "\n".join(lines)


def params_json(notebook: str | Path, config: dict) -> str:
    """The notebook's parameters as compact JSON (for the Snakemake shell command)."""
    return json.dumps(parameters_for(notebook, config), sort_keys=True, separators=(",", ":"))


def discard_hand_runs(build: str | Path, notebooks: list[str], also: list[str]) -> list[str]:
    """Notebooks whose results fragment in ``build`` was written by a hand run (JupyterLab), not by the pipeline.

    Their fragment and executed notebook are deleted, with the files in ``also`` (results.json, ...), so Snakemake
    re-runs them: numbers from edited parameters never reach results.json. (Tables and data a hand run wrote are
    rewritten by that re-run; a hand run that stopped before ``res.save()`` is not detected.)
    """
    found = []
    for nb in notebooks:
        fragment = project_path(build) / "results" / f"{nb}.json"
        try:
            origin = json.loads(fragment.read_text(encoding="utf-8")).get("written_by", "pipeline")
        except (OSError, ValueError):
            continue
        if origin != "pipeline":
            found.append(nb)
            for path in (fragment, project_path(build) / "notebooks" / f"{nb}.ipynb", *map(project_path, also)):
                path.unlink(missing_ok=True)
    return found


# --- configuration ----------------------------------------------------------------------------------------------

# Keys that say where outputs go: overriding them does not make a one-off build. (raw_dir is an input: other raw
# data is another study's build, so a raw_dir override builds into a folder of its own like any analysis key.)
LOCATION_KEYS = ("build_dir", "figures_dir")


class ConfigError(ValueError):
    """A ``--config`` override or variant file naming a parameter that does not exist, or a value out of range."""


def unknown_keys(given: dict | list, known: dict | list) -> list[str]:
    """One message per key of ``given`` not in ``known``, naming the closest valid key (difflib)."""
    import difflib

    messages = []
    for key in sorted(set(given) - set(known)):
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "valid keys are in config/params.yaml"
        messages.append(f"unknown parameter {key!r}: {hint}")
    return messages


def check_config(config: dict, defaults: dict, schema: str | Path | None = "config/params.schema.yaml") -> None:
    """Raise :class:`ConfigError` on unknown keys (with the closest valid one) or values the schema rejects.

    The schema (JSON Schema, checked with the ``jsonschema`` library Snakemake itself uses) lists each parameter's
    type and allowed values.
    """
    problems = unknown_keys(config, defaults)
    if schema is not None and project_path(schema).is_file():
        from helpers.config import skip_iri_grammar

        skip_iri_grammar()
        import jsonschema
        import yaml

        spec = yaml.safe_load(project_path(schema).read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(spec)
        for err in sorted(validator.iter_errors(config), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in err.path) or "(top level)"
            problems.append(f"parameter {where}: {err.message}")
    if problems:
        raise ConfigError("; ".join(problems))


def override_slug(overrides: dict) -> str:
    """A folder name for a one-off override, e.g. ``{"lod_rule": "lod", "seed": 3}`` -> ``lod_rule-lod__seed-3``."""
    import re

    parts = []
    for key in sorted(overrides):
        value = json.dumps(overrides[key]) if not isinstance(overrides[key], str) else overrides[key]
        parts.append(f"{key}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', value)}")
    return "__".join(parts)[:120]


def effective_build_dir(config: dict, command_line: dict) -> str:
    """Where a run with these ``--config`` overrides (``command_line``) builds: the configured build folder, or,
    for a one-off override of an analysis parameter without an explicit ``build_dir``, its own folder
    ``<build_dir>/overrides/<slug>/`` so the default build and figures are never overwritten."""
    analysis = {k: v for k, v in command_line.items() if k not in LOCATION_KEYS}
    build = str(config["build_dir"]).rstrip("/")
    if not analysis or "build_dir" in command_line:
        return build
    return f"{build}/overrides/{override_slug(analysis)}"
