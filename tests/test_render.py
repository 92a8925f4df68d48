"""helpers.render without a real Quarto: which one is used, what the user is told, how a failure is reported."""

from __future__ import annotations

import os
import re
import tomllib

import pytest
import yaml

from helpers import render

from .conftest import ROOT, still_running


def fake_quarto(tmp_path, version="1.7.34",
                render_output="\\033[1mpandoc \\033[22m\\n  to: html\\nOutput created: _manuscript/index.html", code=0):
    """An executable standing in for quarto: prints ``version`` for --version; for render, ``render_output``."""
    exe = tmp_path / "quarto"
    exe.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo {version}; exit 0; fi
printf '%b\\n' "{render_output}"
exit {code}
""")
    exe.chmod(0o755)
    return str(exe)


def test_the_pin_is_the_same_everywhere():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["quarto"]
    assert extra == [f"quarto-cli=={render.QUARTO_VERSION}"]
    # conda installs the lock (conda-forge's quarto 1.7 line stops at 1.7.33), which pins the same quarto-cli
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    assert {"pip": ["-r requirements-lock.txt"]} in conda
    assert f"\nquarto-cli=={render.QUARTO_VERSION} \\\n" in (ROOT / "requirements-lock.txt").read_text()


def test_quarto_named_by_the_environment_wins(tmp_path, monkeypatch):
    exe = fake_quarto(tmp_path, "1.7.34")
    monkeypatch.setenv("QUARTO", exe)
    assert render.find_quarto() == exe
    assert render.quarto_version() == "1.7.34"
    assert render.status_line() is None


def test_another_version_gets_a_one_line_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("QUARTO", fake_quarto(tmp_path, "1.6.40"))
    line = render.status_line()
    assert line.startswith("Warning: Quarto 1.6.40") and "1.7.34" in line and "\n" not in line
    assert render.available()


@pytest.mark.parametrize("version", ["1.3.450", None])
def test_missing_or_too_old_quarto_says_so_in_one_line(tmp_path, monkeypatch, capsys, version):
    if version is None:
        monkeypatch.setenv("QUARTO", str(tmp_path / "no-such-quarto"))
    else:
        monkeypatch.setenv("QUARTO", fake_quarto(tmp_path, version))
    assert not render.available()
    assert render.render(tmp_path / "build") == 0  # everything else still builds
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Manuscript not rendered") and ">= 1.4" in out[0]


@pytest.mark.parametrize(("output", "code"), [("Some progress\nERROR: results key 'x.y' is missing", 0),
                                              ("Some progress\nfatal: pandoc failed", 3)])
def test_a_failed_render_exits_non_zero_with_the_tail_and_the_log(tmp_path, monkeypatch, capsys, output, code):
    monkeypatch.setenv("QUARTO", fake_quarto(tmp_path, "1.7.34", output.replace("\n", "\\n"), code))
    log = tmp_path / "render.log"
    assert render.render(tmp_path / "build", log) != 0
    err = capsys.readouterr().err
    assert output.splitlines()[-1] in err
    assert re.search(r"^manuscript \(Quarto\)\s+FAILED after \d+\.\d s$", err, re.M)
    assert f"  log:      {log}" in err.splitlines()
    assert output.splitlines()[-1] in log.read_text()


def test_a_warning_fails_the_render_shown_once_without_quartos_own_location(tmp_path, monkeypatch, capsys):
    """Quarto exits 0 after a warning of its own (an unresolved cross-reference): make report fails, showing it."""
    warning = "\\033[33mWARNING (/opt/quarto/share/filters/crossref/refs.lua:128) Unable to resolve crossref @fig-x"
    progress = "\\033[1mpandoc \\033[22m\\n  to: html\\n\\033[1mmetadata\\033[22m\\n  title: x\\n"
    output = f"{progress}{warning}\\n{warning}\\nOutput created: _manuscript/index.html"
    monkeypatch.setenv("QUARTO", fake_quarto(tmp_path, "1.7.34", output, 0))
    assert render.render(tmp_path / "build", tmp_path / "render.log") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[2:] == ["  error:    WARNING: Unable to resolve crossref @fig-x", f"  log:      {tmp_path / 'render.log'}"]


def test_a_clean_render_is_quiet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUARTO", fake_quarto(tmp_path, "1.7.34"))
    assert render.render(tmp_path / "build", tmp_path / "render.log") == 0
    captured = capsys.readouterr()
    # nothing but the two progress lines mbpm run shows (start, end with seconds)
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2, captured.err
    assert re.fullmatch(r"manuscript \(Quarto\)\s+started", lines[0])
    assert re.fullmatch(r"manuscript \(Quarto\)\s+done in \d+\.\d s", lines[1])


def test_progress_lines_of_a_many_file_render_are_not_problems():
    """Quarto pads the counter of a render of ten or more files ("[ 1/11] …"): progress, not a problem, while a
    warning among them still is."""
    log = ("\x1b[1m\x1b[34m[ 1/11] build/supplementary/index.qmd\x1b[39m\x1b[22m\n"
           "[10/11] build/supplementary/provenance.qmd\n[11/11] index.qmd\n\nCreating MECA Bundle\n"
           "  6 article files\n\nOutput created: _publish/index.html\n")
    assert render.render_problems(log) == []
    assert render.render_problems(log + "WARNING (/x/refs.lua:1) Unable to resolve crossref @tbl-x\n") == [
        "WARNING: Unable to resolve crossref @tbl-x"]


@pytest.mark.slow
def test_a_killed_render_takes_quarto_with_it(tmp_path):
    """`mbpm render` killed with SIGKILL (as when `mbpm run` dies and takes its jobs with it): the Quarto it started
    dies too, instead of writing into _manuscript/ after the run is gone (helpers.lifetime). A stand-in Quarto
    records its PID and waits; the test waits for that marker, not for a time."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    marker = tmp_path / "quarto.pid"
    fake = tmp_path / "quarto"
    fake.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo 1.7.34; exit 0; fi\n'
                    f'echo $$ > {marker}.tmp && mv {marker}.tmp {marker}\nexec sleep 600\n')
    fake.chmod(0o755)
    env = {**os.environ, "QUARTO": str(fake), "MBPM_PROJECT_ROOT": str(tmp_path)}
    job = subprocess.Popen([sys.executable, "-m", "helpers", "render", "--build", "build", "--log", "render.log"],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    quarto = None
    try:
        deadline = time.monotonic() + 120  # a bound on a hang, not a timing window
        while not marker.is_file():
            assert job.poll() is None, "mbpm render ended before starting Quarto"
            assert time.monotonic() < deadline, "the stand-in Quarto never started"
            time.sleep(0.05)
        quarto = psutil.Process(int(marker.read_text()))
        job.send_signal(signal.SIGKILL)
        job.wait()
        gone, alive = psutil.wait_procs([quarto], timeout=60)
        assert not [p for p in alive if still_running(p)], "Quarto outlived the killed render"
    finally:
        if job.poll() is None:
            job.kill()
        if quarto is not None and quarto.is_running():  # False for its PID reused by another test's process
            quarto.kill()
