"""Where the manuscript's render time goes (``make bench-render``; a benchmark, never part of ``make test``).

Runs in a copy of the project (sources + the current build folder, so ``make report`` must have run; ``.venv`` is
copied in as hard links, a real folder tree as in the project, so that any walk of the project folder by Quarto
costs here what it costs there) and measures CPU time (user + system of Quarto and its
children, which does not grow when other jobs share the machine) against a floor measured in the same run, and
wall time:

0. the floor: ``quarto render`` of a one-line .qmd to HTML, in a folder of its own;
1. ``quarto render``: every format (HTML, Word, JATS, MECA; profile ``full``), with the time at which each stage
   starts, read from Quarto's own progress lines;
2. ``quarto render index.qmd --to html --profile preview``: what one preview re-render does;
3. ``make preview``'s server (``helpers.preview``: ``quarto preview --profile preview --no-clean``) with the page
   open in Chromium: from saving a
   prose edit of index.qmd to the edit showing in the browser; the HTTP codes of the page's loads are counted (the
   old page must stay served: no 404);
4. ``mbpm run`` with nothing to do (the no-op path of ``make report``), in the project itself;
5. ``mbpm run`` after a prose edit of index.qmd (``make report`` re-rendering every format), in the project itself:
   the edit is undone afterwards (index.qmd gets back its bytes; its mtime is the edit's).

Writes a Markdown table (``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from helpers import preview, render  # noqa: E402
from helpers.paths import NOT_SOURCES  # noqa: E402

STAGE_RE = re.compile(r"^\s*(?:\x1b\[[0-9;]*m)*(pandoc|Creating MECA Bundle|Output created)", re.I)
TO_RE = re.compile(r"^\s*to: (\S+)")


# (label, row prefix, (target as worded in issue 17, test on (CPU s, ratio to the floor)))
TARGETS = [
    ("preview: saved prose edit shown in the browser", "`make preview`", ("<= 2x floor", lambda c, r: r <= 2)),
    ("`make report` after a prose edit", "`mbpm run -- report` after", ("<= 4x floor", lambda c, r: r <= 4)),
    ("`make report` with nothing changed", "`mbpm run -- report`, nothing", ("< 2 s CPU", lambda c, r: c < 2)),
]


def project_copy(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_SOURCES, "_manuscript", ".quarto"))
    for part in ("notebooks", "results.json"):
        src = ROOT / "build" / part
        target = dest / "build" / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
    if (ROOT / ".venv").is_dir():
        subprocess.run(["cp", "-al", str((ROOT / ".venv").resolve()), str(dest / ".venv")], check=True)
    return dest


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, list[tuple[float, str]]]:
    """(wall s, CPU s of the process tree, [(t, stage line)]) of ``cmd``."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stages, fmt = [], None
    for line in proc.stdout:
        m = TO_RE.match(line)
        if m and fmt is None:
            fmt = m.group(1)
            stages.append((time.perf_counter() - t0, f"pandoc -> {fmt}"))
        elif STAGE_RE.match(line) and not line.strip().startswith("pandoc"):
            stages.append((time.perf_counter() - t0, render.ANSI_RE.sub("", line).strip()))
        if line.strip().endswith("pandoc") or render.ANSI_RE.sub("", line).strip() == "pandoc":
            fmt = None
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, stages


def tree_cpu(proc) -> float:
    """CPU seconds (user + system) of a process, its finished children and its running descendants."""
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            c = p.cpu_times()
            total += c.user + c.system + c.children_user + c.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def preview_edit(exe: str, project: Path, edits: int = 3) -> list[tuple[float, float, dict[int, int]]]:
    """(wall s, CPU s of Quarto's process tree, {HTTP code: count}) from saving an edit of index.qmd to the edit
    showing in a browser that has the page open, as ``make preview`` runs it: Quarto re-renders on a save and tells
    the open page (its websocket) to reload. Chromium (playwright, the system's /usr/bin/chromium) is the reader's
    browser; the codes are those of the page's own loads. A save reaches the page only when a browser is connected:
    polling the page with plain HTTP requests instead makes Quarto render on request, which costs CPU that an
    author's preview never spends."""
    import psutil
    from playwright.sync_api import sync_playwright

    port = preview.free_port()
    log = open(project / "preview.log", "w")  # noqa: SIM115 - closed below
    # what `make preview` runs (helpers.preview: Quarto's preview server, asked for a render on every save)
    proc = subprocess.Popen([sys.executable, "-m", "helpers.preview", "--no-browser", "--port", str(port)],
                            cwd=project, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ['PATH']}"})
    results = []
    ps = psutil.Process(proc.pid)
    qmd = project / "index.qmd"
    text = qmd.read_text(encoding="utf-8")
    try:
        deadline = time.time() + 300
        while "Watching files for changes" not in (project / "preview.log").read_text() and time.time() < deadline:
            time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                         args=["--no-sandbox"])
            page = browser.new_page()
            codes: dict[int, int] = {}
            page.on("response", lambda r: r.url.rstrip("/").endswith(str(port)) and codes.__setitem__(
                r.status, codes.get(r.status, 0) + 1))
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_load_state("networkidle")
            for i in range(edits):
                codes.clear()
                marker = f"Chronic pain (edit {i}), pain that persists"
                t0, c0 = time.perf_counter(), tree_cpu(ps)
                qmd.write_text(text.replace("Chronic pain, pain that persists", marker), encoding="utf-8")
                page.wait_for_function("m => document.body && document.body.innerText.includes(m)", arg=marker,
                                       timeout=120_000, polling=100)
                results.append((time.perf_counter() - t0, tree_cpu(ps) - c0, dict(codes)))
                page.wait_for_load_state("networkidle")
            browser.close()
    finally:
        qmd.write_text(text, encoding="utf-8")
        proc.send_signal(signal.SIGTERM)  # helpers.preview stops Quarto (as tests/test_preview.py stops it)
        proc.wait(timeout=60)
        log.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    exe = render.find_quarto()
    if not render.quarto_ok(render.quarto_version(exe)):
        raise SystemExit(render.status_line())
    if not (ROOT / "build" / "results.json").is_file():
        raise SystemExit("no build: run `make report` first")
    rows = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "floor"
        one.mkdir()
        (one / "one.qmd").write_text("Hello.\n", encoding="utf-8")
        floors = [timed([exe, "render", "one.qmd", "--to", "html"], one)[:2] for _ in range(args.repeat)]
        floor = min(c for _, c in floors)
        for i, (wall, cpu) in enumerate(floors):
            rows.append((f"floor: one-line .qmd to HTML (run {i + 1})", wall, cpu, ""))
        project = project_copy(Path(tmp) / "project")
        for i in range(args.repeat):
            wall, cpu, stages = timed([exe, "render"], project)
            rows.append((f"`quarto render`, every format (run {i + 1})", wall, cpu,
                         "; ".join(f"{s} at {t:.1f} s" for t, s in stages)))
        for i in range(args.repeat):
            wall, cpu, _ = timed([exe, "render", "index.qmd", "--to", "html", "--profile", "preview"], project)
            rows.append((f"`quarto render index.qmd --to html --profile preview` (run {i + 1})", wall, cpu, ""))
        edits = preview_edit(exe, project)
        rows.append(("`make preview` with the page open in a browser: prose edit saved -> edit shown (slowest of 3)",
                     max(w for w, _, _ in edits), max(c for _, c, _ in edits),
                     "each edit, wall / CPU / HTTP codes of the page's loads: " + ", ".join(
                         f"{w:.1f} / {c:.1f} s / {codes}" for w, c, codes in edits)))
    mbpm = str(Path(sys.executable).parent / "mbpm")
    subprocess.run([mbpm, "run", "--", "report"], cwd=ROOT, capture_output=True, check=True)  # up to date first
    for i in range(args.repeat):
        wall, cpu, _ = timed([mbpm, "run", "--", "report"], ROOT)
        rows.append((f"`mbpm run -- report`, nothing changed (run {i + 1})", wall, cpu, "no-op path of make report"))
    qmd = ROOT / "index.qmd"
    text = qmd.read_text(encoding="utf-8")
    try:
        for i in range(args.repeat):
            qmd.write_text(text.replace("Chronic pain, pain that persists",
                                        f"Chronic pain (benchmark edit {i}), pain that persists"), encoding="utf-8")
            wall, cpu, _ = timed([mbpm, "run", "--", "report"], ROOT)
            rows.append((f"`mbpm run -- report` after a prose edit of index.qmd (run {i + 1})", wall, cpu,
                         "every format re-rendered"))
    finally:
        qmd.write_text(text, encoding="utf-8")
        subprocess.run([mbpm, "run", "--", "report"], cwd=ROOT, capture_output=True, check=True)
    rows = [(what, wall, cpu, f"{cpu / floor:.1f}x floor" + (f"; {stages}" if stages else ""))
            for what, wall, cpu, stages in rows]
    lines = [f"Quarto {render.quarto_version(exe)} at {exe}; {os.cpu_count()} cores; load average (1 min) "
             f"{load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end", "",
             "Targets (issue 17), best of the runs (the preview: its slowest edit) against the best floor run, in CPU "
             "seconds:", "",
             "| step | CPU (s) | x floor | target |", "|---|---:|---:|---|"]
    for label, prefix, target in TARGETS:
        best = min(cpu for what, _, cpu, _ in rows if what.startswith(prefix))
        ratio = best / floor
        lines.append(f"| {label} | {best:.1f} | {ratio:.2f} | {target[0]} ({'met' if target[1](best, ratio) else 'NOT met'}) |")
    lines += ["", "Every run:", "", "| what | wall (s) | CPU (s) | stages |", "|---|---:|---:|---|"]
    for what, wall, cpu, stages in rows:
        lines.append(f"| {what} | {wall:.1f} | {'' if cpu != cpu else f'{cpu:.1f}'} | {stages} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
