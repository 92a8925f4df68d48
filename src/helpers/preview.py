"""``make preview``: Quarto's live preview of the article, where no save is lost.

Quarto 1.7.34's preview server watches index.qmd by polling its modification time, and after every render it builds
a new watcher whose baseline is the modification time *of that moment*: a save made while a render runs becomes the
new baseline and is never seen (the page keeps the render that was running; 3 saves of 3 made during a re-render
were lost when this was measured). So ``quarto preview`` runs here with ``--no-watch-inputs`` and this module
watches the article's sources itself: on every change it asks the preview server for a render through the server's
own render request (the one RStudio sends, ``GET /<kQuartoRenderCommand>/index.qmd``). The server queues a render
asked for while one runs, starts it when that one ends, then reloads the open page. Everything else (profile ``preview``,
``--no-clean``, the page, the reload) is Quarto's.

Written by hand because it works around that one Quarto defect: a poll of a few modification times and one HTTP
request per change. Quarto dies with this process (:mod:`helpers.lifetime`), and this process ends with Quarto.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import lifetime
from helpers.paths import project_root
from helpers.render import find_quarto, quarto_ok, quarto_version, status_line

# What the page is made of, relative to the project root: the article, the numbers its shortcodes print (rewritten
# by `make report`), its bibliography and style. Quarto's own watcher still re-renders on a change of a filter or an
# extension, and reloads the page on a change of one of its resources.
SOURCES = ("index.qmd", "build/results.json", "references.bib", "vancouver.csl", "styles.css", "_quarto.yml",
           "_quarto-preview.yml")
POLL_SECONDS = 0.25
# Quarto's render request (src/command/render/constants.ts, kQuartoRenderCommand: the path RStudio asks a running
# preview to render with; src/project/serve/serve.ts answers it)
RENDER_REQUEST = "90B3C9E8-0DBC-4BC0-B164-AA2D5C031B28"
QUARTO_ARGS = ("preview", "index.qmd", "--to", "html", "--profile", "preview", "--no-clean", "--no-watch-inputs")


def stamps(root: Path, sources: tuple[str, ...] = SOURCES) -> dict[str, tuple[int, int] | None]:
    """(modification time in ns, size in bytes) of each source, None for one that does not exist."""
    out = {}
    for name in sources:
        try:
            st = (root / name).stat()
            out[name] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            out[name] = None
    return out


def port_of(args: list[str]) -> int | None:
    """The port given to ``quarto preview`` (``--port N`` or ``--port=N``), if any."""
    for i, arg in enumerate(args):
        if arg == "--port" and i + 1 < len(args):
            return int(args[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask_render(port: int) -> bool:
    """Ask the preview server for a render (it answers at once and renders in the background). False when the
    server does not answer (not listening yet, or gone)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{RENDER_REQUEST}/index.qmd", timeout=10) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def preview(args: list[str], root: Path | None = None, poll: float = POLL_SECONDS) -> int:
    """Run ``quarto preview`` on the article with ``args`` added (e.g. ``--no-browser``, ``--port 4200``) and ask
    it for a render whenever a file of :data:`SOURCES` changes. Returns Quarto's exit code (0 on Ctrl-C)."""
    root = root or project_root()
    exe = find_quarto()
    version = quarto_version(exe)
    if not quarto_ok(version):
        print(status_line(exe, version), file=sys.stderr)
        return 1
    port = port_of(args)
    if port is None:
        port = free_port()
        args = [*args, "--port", str(port)]
    me = os.getpid()

    def stop(signum, frame):  # a closed terminal (SIGHUP) or a kill (SIGTERM) ends the preview as Ctrl-C does
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    quarto = subprocess.Popen([exe, *QUARTO_ARGS, *args], cwd=root, env={**os.environ, "QUARTO_PYTHON": sys.executable},
                              preexec_fn=lambda: lifetime.die_with_parent(signal.SIGTERM, parent=me))
    seen = stamps(root)
    try:
        while quarto.poll() is None:
            time.sleep(poll)
            now = stamps(root)
            if now != seen and ask_render(port):  # not answered: asked again at the next poll
                seen = now
        return quarto.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if quarto.poll() is None:
            quarto.terminate()
            try:
                quarto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                quarto.kill()
                quarto.wait()


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.preview [quarto preview options]``: what ``make preview`` runs after the pipeline."""
    return preview(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
