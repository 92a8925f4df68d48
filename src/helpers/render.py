"""Rendering the manuscript with Quarto: which Quarto, whether it will do, and running it with a log.

Quarto is pinned to :data:`QUARTO_VERSION` (pyproject's ``quarto`` extra installs it from PyPI as ``quarto-cli``;
environment.yml pins the conda-forge package). Another version >= :data:`QUARTO_MIN` renders with a one-line
warning; none, or an older one, leaves the manuscript unrendered with one line saying so (everything else builds).
The Snakefile's ``manuscript`` rule calls :func:`render`; ``make report`` then prints :func:`status_line`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import lifetime
from helpers.paths import project_path, project_root, source_epoch

QUARTO_VERSION = "1.7.34"
QUARTO_MIN = "1.4"
MANUSCRIPT_DIR = "_manuscript"
# What `quarto render` writes (the Snakefile's manuscript rule declares these as its outputs).
OUTPUTS = ("index.html", "index.docx", "index.xml", "index-meca.zip")
TAIL_LINES = 25
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")  # terminal colours in Quarto's messages
# What Quarto prints when all is well: the pandoc options and metadata it passes (headings, indented lines),
# "Output created", the MECA step. Any other line is a warning or an error, and fails the render.
PROGRESS_RE = re.compile(r"^(\s|pandoc( --\S+)*\s*$|metadata\s*$|Output created: |Creating MECA Bundle\s*$|\[\s*\d+/\d+\] |$)")
# Quarto's warnings and errors name the line of its own Lua code: "WARNING (/…/refs.lua:128) Unable to …"
QUARTO_WHERE_RE = re.compile(r"^(WARNING|ERROR|FATAL) \([^)]*\.lua:\d+\) ")

QUARTO_MISSING = (
    "Manuscript not rendered: it needs Quarto >= {min} (pinned {pinned}; found: {found}) on PATH or named by "
    "QUARTO= (`make install` tries PyPI's quarto-cli; or https://quarto.org/docs/get-started/). Everything else "
    "builds without it."
)
QUARTO_OTHER = "Warning: Quarto {found} at {exe}; the manuscript is tested with Quarto {pinned} (pinned)."


def find_quarto() -> str | None:
    """The Quarto executable: ``$QUARTO`` (a path or a command name) if set, else ``quarto`` on PATH, else the one
    ``pip install quarto-cli`` put next to this Python (a venv used without activating it)."""
    named = os.environ.get("QUARTO")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    found = shutil.which("quarto")
    if found:
        return found
    beside = Path(sys.executable).parent / "quarto"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def quarto_version(exe: str | None = None) -> str | None:
    """Version printed by ``quarto --version`` (None when there is no Quarto or it does not run)."""
    exe = exe or find_quarto()
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    except OSError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


def quarto_ok(version: str | None) -> bool:
    """Whether ``version`` is at least :data:`QUARTO_MIN` (the first release with manuscript projects)."""
    if not version:
        return False
    try:
        return _version_tuple(version)[:2] >= _version_tuple(QUARTO_MIN)
    except ValueError:
        return False


def status_line(exe: str | None = None, version: str | None = None) -> str | None:
    """One line for the user when Quarto is missing, too old or not the pinned version; None when all is well."""
    exe = exe or find_quarto()
    version = version or quarto_version(exe)
    if not quarto_ok(version):
        return QUARTO_MISSING.format(min=QUARTO_MIN, pinned=QUARTO_VERSION, found=version or "none")
    if version != QUARTO_VERSION:
        return QUARTO_OTHER.format(found=version, exe=exe, pinned=QUARTO_VERSION)
    return None


def available() -> bool:
    """Whether a Quarto that can render the manuscript is installed (the Snakefile adds the render rule if so)."""
    return quarto_ok(quarto_version())


def render(build_dir: str | Path = "build", log: str | Path | None = None) -> int:
    """Render every format of the manuscript (``quarto render``: HTML, Word, JATS, MECA) into ``_manuscript/``.

    Quarto's output goes to ``log`` (default ``<build_dir>/logs/render.log``). Any warning or error in it fails the
    render (exit 1 even where Quarto exits 0): its lines, each once, and the log's path are printed to stderr as one
    block (:func:`failure_block`). Returns Quarto's exit code (1 for warnings), or 0 with one line on stdout when
    there is no usable Quarto.
    """
    exe = find_quarto()
    version = quarto_version(exe)
    line = status_line(exe, version)
    if line:
        print(line, file=sys.stdout if not quarto_ok(version) else sys.stderr)
        if not quarto_ok(version):
            return 0
    log = project_path(log or Path(build_dir) / "logs" / "render.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    # No kernel is started (the article's numbers are shortcodes), but point Quarto's Python at this environment in
    # case it needs one (e.g. an author adds a code cell).
    env = {**os.environ, "QUARTO_PYTHON": sys.executable, "MBPM_BUILD_DIR": str(build_dir)}
    # The article's date: the sources' (SOURCE_DATE_EPOCH or the git commit), not index.qmd's mtime, which a fresh
    # checkout sets to the clock, so two renders of the same sources publish the same bytes.
    found = source_epoch()
    date = ["-M", "date:" + time.strftime("%Y-%m-%d", time.gmtime(found[0]))] if found else []
    if found:
        env["SOURCE_DATE_EPOCH"] = str(found[0])  # pandoc's timestamps inside the .docx (docProps, zip entries)
    print(f"manuscript {'(Quarto)':<22} started", file=sys.stderr, flush=True)
    start = time.monotonic()
    me = os.getpid()
    with open(log, "w", encoding="utf-8") as fh:
        # Quarto dies with this process (a killed `mbpm run` takes the render with it: helpers.lifetime)
        code = subprocess.run([exe, "render", *date], cwd=project_root(), env=env, stdout=fh, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL,
                              preexec_fn=lambda: lifetime.die_with_parent(signal.SIGKILL, parent=me)).returncode
    problems = render_problems(log.read_text(encoding="utf-8", errors="replace"))
    if code != 0 or problems:
        # one block, in the format of a failed notebook's (helpers.pipeline.failure_block), that `mbpm run` shows
        # as it is: the messages (a wrong results key names index.qmd's line, see _extensions/results), the log
        shown = problems or ["Quarto failed without a message; the end of its log:", *log.read_text(
            encoding="utf-8", errors="replace").splitlines()[-TAIL_LINES:]]
        print(failure_block(shown, _shown(log), time.monotonic() - start), file=sys.stderr, flush=True)
        return code or 1
    meca = project_root() / MANUSCRIPT_DIR / "index-meca.zip"
    if found and meca.is_file():
        normalize_zip(meca, found[0])
    print(f"manuscript {'(Quarto)':<22} done in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
    return 0


def render_problems(output: str) -> list[str]:
    """The lines of Quarto's ``output`` that are warnings or errors (not progress), without terminal colours and
    without the location in Quarto's own code that its warnings carry; each distinct line once, in order."""
    lines = []
    for line in ANSI_RE.sub("", output).splitlines():
        if PROGRESS_RE.match(line):
            continue
        line = QUARTO_WHERE_RE.sub(r"\1: ", line.rstrip())
        if line not in lines:
            lines.append(line)
    return lines


def failure_block(problems: list[str], log: str, seconds: float) -> str:
    """What a person reads when the render fails: every problem line, then where the full log is."""
    lines = [f"manuscript {'(Quarto)':<22} FAILED after {seconds:.1f} s"]
    lines += [f"  {'error:' if i == 0 else '':<10}{text}" for i, text in enumerate(problems)]
    lines.append(f"  {'log:':<10}{log}")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` relative to the project root when inside it."""
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def normalize_zip(path: Path, epoch: int) -> None:
    """Rewrite the zip at ``path`` with every entry dated ``epoch`` (Unix seconds), in place, same order and content.

    Quarto writes the MECA bundle's entries with the clock's time, so two renders of the same sources differ only
    there. Written by hand (a few lines of :mod:`zipfile`): Debian's ``strip-nondeterminism`` does this but is not a
    Python package.
    """
    import zipfile

    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip dates start in 1980
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as dst:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            dst.writestr(fixed, data)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.render status``: the one line about Quarto (nothing when the pinned one is installed);
    ``python -m helpers.render exe``: the usable Quarto's path, or the line saying there is none (exit 1)."""
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "status"
    exe = find_quarto()
    version = quarto_version(exe)
    line = status_line(exe, version)
    if command == "exe":
        if not quarto_ok(version):
            print(line, file=sys.stderr)
            return 1
        if line:
            print(line, file=sys.stderr)
        print(exe)
        return 0
    if command == "status":
        if line:
            print(line)
        return 0
    print(f"unknown command {command!r}: use status or exe", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
