"""The published site for tests/test_publish.py and tests/test_browser.py: found or built once per test session,
and served over HTTP from its parent folder, so that it sits under a sub-path (``/<folder>/``) as on a host.

The site is ``$MBPM_TEST_SITE``, else the working tree's ``_publish/`` when ``make publish`` made it. In CI
(``MBPM_REQUIRE_QUARTO=1`` or ``MBPM_REQUIRE_BROWSER=1``, set by .ci/run) without one, it is built by
``mbpm publish`` in a copy of the project, with the working tree's build or else the session's one (``built_project``
in conftest.py), once per test session for all the xdist workers (``made_once``); elsewhere the tests skip, saying
how to make it.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import render
from helpers.paths import NOT_SOURCES

from .conftest import made_once

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("MBPM_REQUIRE_QUARTO") == "1" or os.environ.get("MBPM_REQUIRE_BROWSER") == "1"
# what the build folder contributes to the site (notebooks, results, data quality, variants table, diff reports)
BUILD_PARTS = ("notebooks", "results.json", "data/data_quality.parquet", "variants/comparison.md", "diff")


def _publish(project: Path, exe: str, build: Path) -> str | None:
    """``mbpm publish`` in a copy of the project at ``project``, with what ``build`` contributes to the site."""
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    for part in BUILD_PARTS:
        src = build / part
        if src.is_dir():
            shutil.copytree(src, project / "build" / part)
        elif src.is_file():
            (project / "build" / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, project / "build" / part)
    env = {**os.environ, "MBPM_PROJECT_ROOT": str(project), "PATH": f"{Path(exe).parent}:{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-m", "helpers", "publish"], cwd=project, env=env, capture_output=True,
                         text=True, timeout=1800)
    return None if out.returncode == 0 else f"mbpm publish failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


def _site(request) -> Path | str:
    """The site folder, or why there is none. Built at most once per test session, shared by its xdist workers."""
    named = os.environ.get("MBPM_TEST_SITE")
    if named:
        return Path(named) if (Path(named) / "index.html").is_file() else f"MBPM_TEST_SITE={named} has no index.html"
    if (ROOT / "_publish" / "index.html").is_file():
        return ROOT / "_publish"
    if not REQUIRED:
        return "no published site: run `make publish` first (or set MBPM_TEST_SITE)"
    exe = render.find_quarto()
    if not render.quarto_ok(render.quarto_version(exe)):
        return "no usable Quarto to publish the site with"
    # the working tree's build, else the session's one (conftest.py): never a pipeline run of its own
    build = ROOT / "build" if (ROOT / "build" / "results.json").is_file() else \
        request.getfixturevalue("built_project") / "build"
    made = made_once(request.getfixturevalue("tmp_path_factory"), request.config, "site",
                     lambda project: _publish(project, exe, build))
    return made / "_publish"


def published_site(request) -> Path:
    """The site folder, or a skip (a failure in CI) saying why there is none."""
    found = _site(request)
    if isinstance(found, str):
        if REQUIRED:
            pytest.fail(found)
        pytest.skip(found)
    return found


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the tests report what fails; no request log
        pass


@contextmanager
def serve(folder: Path):
    """Serve ``folder``'s parent on a free local port; yields the site's base URL (``http://.../<folder>/``)."""
    handler = functools.partial(_Quiet, directory=str(folder.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{folder.name}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
