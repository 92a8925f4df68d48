"""`make preview` as an author lives in it: helpers.preview (Quarto's preview server, profile `preview`,
`--no-clean`), prose edits of index.qmd saved while it runs, one of them while a re-render is running.

The page must stay served (HTTP 200, the old page) for the whole re-render, until the new page carries the edit; a
save made during a re-render must reach the page too (Quarto's own watcher loses it: helpers.preview); the other
formats in _manuscript/ must survive, and stopping the preview (SIGTERM) ends Quarto too. Runs in a copy of the
project (see tests/test_manuscript_render.py for the build it uses); no timing window: the test waits for the
server's lines ("Browse at", a render's start), then polls until the page carries the edit, asserting every answer on
the way.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from helpers import preview, render

from .conftest import ROOT, still_running
from .test_manuscript_render import project, quarto  # noqa: F401 (fixtures)

pytestmark = pytest.mark.notebooks

EDIT = ("Chronic pain, pain that persists", "Chronic pain (an edit saved in preview), pain that persists")
DURING = "Chronic pain (saved while a re-render ran), pain that persists"


def preview_command(port: int) -> list[str]:
    """The command `make preview` runs (checked against the Makefile, so the test follows the target)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\t\$\(BIN\)/python -m helpers\.preview \$\(PREVIEW_ARGS\)$", makefile, re.M), \
        "make preview no longer runs helpers.preview: update this test"
    return [sys.executable, "-m", "helpers.preview", "--no-browser", "--port", str(port)]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except (urllib.error.URLError, TimeoutError) as err:  # no answer at all is a failure too
        return 0, str(err)


def served(url: str, text: str, answers: list[int], output: list[str] = ()) -> str:
    """Poll the page until it carries ``text``; every answer on the way must be 200 (the old page stays served).
    ``output``: the preview's output so far, shown if the text never comes."""
    deadline = time.monotonic() + 600  # a guard against a hang only: the loop ends when the text is served
    page = ""
    while time.monotonic() < deadline:
        status, page = get(url)
        answers.append(status)
        assert status == 200, f"the page answered {status} during the re-render (answers so far: {answers})"
        if text in page:
            return page
        time.sleep(0.2)
    shown = re.search(r"Chronic pain[^<]{0,80}", page)
    raise AssertionError(f"{text!r} never reached the page ({len(answers)} answers, all 200); the page has "
                         f"{shown.group(0) if shown else page[:200]!r}; the preview's output ends:\n"
                         + "".join(list(output)[-60:]))


def renders_started(lines: list[str]) -> int:
    """How many renders Quarto has started: it prints a line "pandoc" (bold) as each begins."""
    return sum(render.ANSI_RE.sub("", ln).strip() == "pandoc" for ln in list(lines))


def test_saved_edits_reach_the_page_which_stays_served_and_other_formats_survive(quarto, project):  # noqa: F811
    import psutil

    qmd = project / "index.qmd"
    text = qmd.read_text(encoding="utf-8")
    assert EDIT[0] in text
    manuscript = project / "_manuscript"
    manuscript.mkdir(exist_ok=True)
    kept = {name: f"the full render's {name}".encode() for name in ("index.docx", "index.xml", "index-meca.zip",
                                                                   "index.html")}
    for name, data in kept.items():
        (manuscript / name).write_bytes(data)
    port = preview.free_port()
    proc = subprocess.Popen(preview_command(port), cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    ready, lines = threading.Event(), []

    def read() -> None:  # keeps the pipe drained (the server logs a line per request) and spots the ready line
        for line in proc.stdout:
            lines.append(line)
            if "Browse at" in line:  # printed once the server listens
                ready.set()
        ready.set()  # it exited

    threading.Thread(target=read, daemon=True).start()
    quarto_procs = []
    try:
        ready.wait(timeout=900)  # a guard against a hang only
        assert proc.poll() is None and any("Browse at" in ln for ln in lines), "".join(lines)[-3000:]
        quarto_procs = psutil.Process(proc.pid).children(recursive=True)
        url = f"http://localhost:{port}/"
        status, page = get(url)
        assert status == 200 and "Chronic pain" in page and EDIT[1] not in page, (status, page[:300], lines[-5:])
        answers: list[int] = []
        # a saved edit, then a save while the re-render it started runs: save, wait for that render to start
        # (Quarto prints "pandoc" as it starts one), save again; the second save must reach the page
        started = renders_started(lines)
        qmd.write_text(text.replace(*EDIT), encoding="utf-8")
        deadline = time.monotonic() + 600  # a guard against a hang only
        while renders_started(lines) == started and time.monotonic() < deadline:
            time.sleep(0.05)
        qmd.write_text(text.replace(EDIT[0], DURING), encoding="utf-8")
        served(url, DURING, answers, lines)
    finally:
        # a closed terminal or a kill: helpers.preview stops Quarto and ends (SIGTERM, not SIGINT: a process started
        # by a pytest-xdist worker may inherit SIGINT ignored; in a terminal Ctrl-C reaches Quarto itself anyway)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            for p in [proc, *quarto_procs]:
                if p.poll() is None if isinstance(p, subprocess.Popen) else p.is_running():
                    p.kill()
    assert not [p for p in quarto_procs if still_running(p)], \
        "Quarto outlived the preview"
    for name, data in kept.items():
        assert (manuscript / name).read_bytes() == data, f"preview changed _manuscript/{name}"
    assert (project / "build" / "preview" / "index.html").is_file()
