"""The notebook pipeline: what each notebook depends on, how papermill runs it, and what happens after.

Snakemake (see ``Snakefile``) drives these functions. The dependency discovery below is written by hand because
neither Snakemake nor papermill (nor Quarto's freeze) knows that a notebook must re-run when a helper module it
imports changes: we read the notebook's ``import helpers...`` statements and follow the imports inside the package.
"""

from __future__ import annotations

import ast
import glob
import json
import sys
from pathlib import Path

from helpers.paths import project_path, project_root

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
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        files.update(_data_files(tree, file))
        for imported in _imported_modules(tree, current=module):
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


def execute(notebook: str | Path, output: str | Path, parameters: dict, kernel: str = KERNEL_NAME) -> Path:
    """Execute ``notebook`` with papermill into ``output``, in the notebooks folder, with ``parameters``."""
    import papermill

    ensure_kernel(kernel)
    notebook, output = project_path(notebook), project_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name=kernel,
        cwd=str(notebook.parent),
        progress_bar=sys.stderr.isatty(),
        log_output=not sys.stderr.isatty(),
    )
    return output


# --- rendering (in helpers.render; these names stay importable from here) ------------------------------------------

from helpers.render import QUARTO_MIN, quarto_ok, quarto_version, render  # noqa: E402, F401


def summary(build_dir: str | Path = "build") -> str:
    """Where a reader finds the outputs of a build."""
    build = project_path(build_dir)
    lines = [
        "Outputs:",
        f"  executed notebooks   {build / 'notebooks'}",
        f"  results (numbers)    {build / 'results.json'} (keys described in {build / 'results_keys.csv'})",
        f"  supplementary (HTML) {build / 'supplementary' / 'index.html'}",
    ]
    manuscript = project_root() / "_manuscript"
    for name, label in (("index.html", "manuscript (HTML)"), ("index.docx", "manuscript (Word)"),
                        ("index.xml", "manuscript (JATS)"), ("index-meca.zip", "MECA bundle")):
        if (manuscript / name).exists():
            lines.append(f"  {label:<20} {manuscript / name}")
    return "\n".join(lines)


def params_json(notebook: str | Path, config: dict) -> str:
    """The notebook's parameters as compact JSON (for the Snakemake shell command)."""
    return json.dumps(parameters_for(notebook, config), sort_keys=True, separators=(",", ":"))
