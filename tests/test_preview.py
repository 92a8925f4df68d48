"""`make preview` as an author lives in it: Quarto's preview server (profile `preview`, `--no-clean`), a prose edit of
index.qmd saved while it runs.

The page must stay served (HTTP 200, the old page) for the whole re-render, until the new page carries the edit, and
the other formats in _manuscript/ must survive. Runs in a copy of the project (see tests/test_manuscript_render.py
for the build it uses); no timing window: the test waits for the server's "Browse at" line, then polls until
the page carries the edit, asserting every answer on the way.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from .conftest import ROOT
from .test_manuscript_render import project, quarto  # noqa: F401 (fixtures)

pytestmark = pytest.mark.notebooks

EDIT = ("Chronic pain, pain that persists", "Chronic pain (an edit saved in preview), pain that persists")


def preview_command(exe: str, port: int) -> list[str]:
    """The command `make preview` runs, read from the Makefile (so the test follows the target)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = re.search(r'^\t"\$\$\(\$\(BIN\)/python -m helpers.render exe\)" (preview .*)\$\(PREVIEW_ARGS\)$', makefile,
                     re.M)
    assert line, "make preview's quarto command not found in the Makefile"
    return [exe, *shlex.split(line.group(1)), "--no-browser", "--port", str(port)]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except (urllib.error.URLError, TimeoutError) as err:  # no answer at all is a failure too
        return 0, str(err)


def test_a_saved_edit_reaches_the_page_which_stays_served_and_other_formats_survive(quarto, project):  # noqa: F811
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(preview_command(quarto, port), cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    ready, lines = threading.Event(), []

    def read() -> None:  # keeps the pipe drained (the server logs a line per request) and spots the ready line
        for line in proc.stdout:
            lines.append(line)
            if "Browse at" in line:  # printed once the server listens
                ready.set()
        ready.set()  # it exited

    threading.Thread(target=read, daemon=True).start()
    try:
        ready.wait(timeout=900)  # a guard against a hang only
        assert proc.poll() is None and any("Browse at" in ln for ln in lines), "".join(lines)[-3000:]
        url = f"http://localhost:{port}/"
        status, page = get(url)
        assert status == 200 and "Chronic pain" in page and EDIT[1] not in page, (status, page[:300], lines[-5:])
        qmd.write_text(text.replace(*EDIT), encoding="utf-8")
        saved_at, saves = len(lines), 1
        answers = []
        deadline = time.monotonic() + 900  # a guard against a hang only: the loop ends when the edit is served
        while time.monotonic() < deadline:
            status, page = get(url)
            answers.append(status)
            assert status == 200, f"the page answered {status} during the re-render (answers so far: {answers})"
            if EDIT[1] in page:
                break
            # Quarto's watcher does not see a save made while a render is running (e.g. the one the first request
            # started): a render finished after the save and the page still lacks the edit. The author then saves
            # again; so does the test (at most twice more), which asserts the edit is served after a finished render.
            if any("Watching files for changes" in ln for ln in lines[saved_at:]) and EDIT[1] not in get(url)[1]:
                assert saves < 3, f"three saves, and the edit never reached the page: {''.join(lines)[-2000:]}"
                qmd.write_text(text.replace(*EDIT), encoding="utf-8")
                saved_at, saves = len(lines), saves + 1
            time.sleep(0.2)
        assert EDIT[1] in page, f"the edit never reached the page ({len(answers)} answers, all 200)"
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()
    for name, data in kept.items():
        assert (manuscript / name).read_bytes() == data, f"preview changed _manuscript/{name}"
    assert (project / "build" / "preview" / "index.html").is_file()
