"""``mbpm run``: Snakemake for a person at a terminal (what ``make report`` and ``make variants`` call).

Snakemake does the work; this wrapper adds what a user of the report needs around it:

* one run at a time per project: an ``flock`` on ``.snakemake/mbpm-run.lock`` that names the running process. The
  lock is the kernel's, so a killed run (even ``kill -9``) releases it; Snakemake's own lock directory, which a
  killed run leaves behind, is then cleared with ``snakemake --unlock`` only while we hold the flock, i.e. when no
  other run of ours is alive. A second run while one is alive is refused without any advice to ``--unlock``.
* no orphans: Snakemake is started with ``PR_SET_PDEATHSIG`` (:mod:`helpers.lifetime`), so whatever kills this
  process (``kill -9`` included) kills Snakemake, whose notebook jobs and their kernels die with it in turn; the
  lock, held by Snakemake too, is then free for the next run at once.
* ``--rerun-incomplete``: a job a Ctrl-C or kill interrupted is re-run, instead of blocking every later run.
* quiet output: no banner, no "Select jobs to execute..."; the notebook jobs print one line when they start and
  one when they end (see :func:`helpers.pipeline.run_job`), so does the manuscript's render
  (:func:`helpers.render.render`), this wrapper the total. On a failure, the notebook's
  failure block is the message; when something else failed (a Snakefile error, an unknown ``--config`` key, the
  merge), Snakemake's own error text is shown, without its bookkeeping lines.

Written by hand: Snakemake 9 has no option for "progress lines only, errors in full" (``--quiet all`` hides the
errors too), and no logger plugin does it.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import lifetime
from helpers.config import params_ok
from helpers.paths import default_dirs, project_root

LOCK = ".snakemake/mbpm-run.lock"
QUIET = ["--quiet", "progress", "rules", "host", "reason"]

# Snakemake's bookkeeping lines (not errors): dropped from what the user sees.
NOISE = re.compile(
    r"^(Assuming unrestricted shared filesystem usage|Building DAG of jobs|Using shell:|Select jobs to execute"
    r"|Execute \d+ jobs|Complete log\(s\):|Elapsed time:|Provided (cores|resources):|Rules claiming more threads"
    r"|Job stats:|Shutting down, this might take some time|Exiting because a job execution failed"
    r"|Will exit after finishing currently running jobs|Waiting at most"
    r"|Removing output files of failed job|Storing output in storage|host:|Job counts:|Conda environments:"
    r"|Config file \S+ is extended by additional config"
    r"|\s*$)"
)
# Lines the pipeline itself prints (notebook jobs and the Snakefile): shown as they come.
OWN = re.compile(r"^(notebook|manuscript|pipeline) ")
# the rest of a failure block (helpers.pipeline.failure_block, helpers.render.failure_block): indented lines
OWN_CONTINUATION = re.compile(r"^  ")


class Busy(RuntimeError):
    """Another run holds the project's lock."""


def acquire_lock(root: Path, command: str):
    """Take the project's run lock (non-blocking); returns the open lock file. Raises :class:`Busy`, naming the
    holder, when another live process has it."""
    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the run)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown process"
        fh.close()
        raise Busy(holder) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"PID {os.getpid()} ({command}), started {time.strftime('%H:%M:%S')}\n")
    fh.flush()
    return fh


def busy_message(holder: str) -> str:
    """What a refused run prints: the live process holding the lock (a PID in ``holder`` that is gone is not named
    as running: with every process of a run dying with ``mbpm run``, the live one is Snakemake)."""
    alive = [pid for pid in map(int, re.findall(r"PID (\d+)", holder)) if _alive(pid)]
    if alive and not _alive(int(re.findall(r"PID (\d+)", holder)[0])):
        holder = f"PID {alive[0]} (Snakemake of a run whose `mbpm run` has ended)"
    return (f"pipeline: another run is in progress in this project: {holder}.\n"
            "pipeline: this one did nothing. Wait for that run to finish, or stop it (Ctrl-C in its terminal), then "
            "run the command again.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_snakemake_lock(root: Path) -> bool:
    """Remove the lock a killed Snakemake left behind (call only while holding our own lock)."""
    locks = root / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    subprocess.run([sys.executable, "-m", "snakemake", "--unlock", "--quiet", "all"], cwd=root,
                   capture_output=True, text=True)
    return True


# The Snakefile's line for a run that builds elsewhere than the default build (an override, `build_dir=`).
ELSEWHERE = re.compile(r"^pipeline one-off override .*: building into (\S+)/, figures into (\S+)/")


def run(snakemake_args: list[str], cores: str = "all", root: Path | None = None, outputs: bool = False,
        rotate: bool = False) -> int:
    """Run Snakemake with ``snakemake_args`` (targets, ``--config``, ...) under the project lock. Returns its code.

    After a successful run, ``outputs`` prints where this run's build is (the "Outputs:" block: the override's own
    folder for a one-off override, with the article only for the default build), and ``rotate`` keeps the default
    build as the automatic base of ``make diff`` (:func:`helpers.diff.rotate`) -- only when the run built something
    into the default build (an override or a no-op run rotates nothing)."""
    root = root or project_root()
    if not params_ok(root):  # a broken config/params.yaml: its line and key, before Snakemake's own wording
        return 1
    command = "snakemake " + " ".join(snakemake_args)
    try:
        lock = acquire_lock(root, command.strip())
    except Busy as busy:
        print(busy_message(str(busy)), file=sys.stderr)
        return 2
    try:
        if clear_stale_snakemake_lock(root):
            print("pipeline: cleared the lock an interrupted run left behind", file=sys.stderr)
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--rerun-incomplete", *QUIET,
               *snakemake_args]
        start = time.monotonic()
        code, failed, other, own = _stream(cmd, root, lock)
        seconds = time.monotonic() - start
    finally:
        lock.close()
    if code == 0:
        for line in other:
            if not line.startswith("Nothing to be done"):
                print(line, file=sys.stderr)
        nothing = any(line.startswith("Nothing to be done") for line in other)
        if nothing:
            print(f"pipeline: everything is up to date, nothing re-run ({seconds:.1f} s)", file=sys.stderr)
        else:
            print(f"pipeline finished in {seconds:.1f} s", file=sys.stderr)
        elsewhere = next((m for m in map(ELSEWHERE.match, own) if m), None)
        if outputs:
            _print_outputs(elsewhere)
        if rotate and not elsewhere and not nothing:
            from helpers import diff

            print(diff.rotate_message(diff.rotate(diff.main_build())))
        return 0
    if code in (-signal.SIGINT, 130) or _interrupted(other):
        print(f"pipeline interrupted after {seconds:.1f} s: run the same command again to finish (what was running "
              "re-runs; what finished is kept)", file=sys.stderr)
        return 130
    if not failed:  # not a notebook: show what Snakemake said
        for line in other:
            print(line, file=sys.stderr)
    if failed:
        print(f"pipeline FAILED after {seconds:.1f} s ({', '.join(failed)}). Results built from the failed step were "
              "removed: fix the cause and run the same command again (it re-runs what failed).", file=sys.stderr)
    else:
        print(f"pipeline FAILED after {seconds:.1f} s (see above).", file=sys.stderr)
    return code or 1


def _print_outputs(elsewhere: re.Match | None) -> None:
    """The "Outputs:" block of this run's build (and the line saying why there is no article, if Quarto is missing)."""
    from helpers import pipeline, render

    if elsewhere:
        print(pipeline.summary(elsewhere.group(1), elsewhere.group(2), manuscript=False))
        return
    line = render.status_line()
    if line:
        print(line)
    defaults = default_dirs()
    print(pipeline.summary(defaults[0], defaults[1]))


def _interrupted(lines: list[str]) -> bool:
    return any("KeyboardInterrupt" in ln or "Terminating processes on user request" in ln for ln in lines)


def _stream(cmd: list[str], root: Path, lock) -> tuple[int, list[str], list[str], list[str]]:
    """Run ``cmd``; print our own lines as they come, keep Snakemake's others. Returns (code, failed, others, own)."""
    me = os.getpid()
    # Own session: Ctrl-C is forwarded to Snakemake's process group by `forward` below. Dies with us (SIGKILL).
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            start_new_session=True, pass_fds=(lock.fileno(),),
                            preexec_fn=lambda: lifetime.die_with_parent(signal.SIGKILL, parent=me))
    lock.seek(0)
    lock.truncate()
    lock.write(f"PID {os.getpid()} (mbpm run), Snakemake PID {proc.pid}: {' '.join(cmd[3:])[:200]}\n")
    lock.flush()

    def forward(signum, _frame):  # Ctrl-C reaches us; Snakemake runs in its own session: pass it on
        signals.append(signum)
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass

    signals: list[int] = []
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    failed, other, own, mine = [], [], False, []
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if OWN.match(line) or (own and OWN_CONTINUATION.match(line)):
                own = True
                mine.append(line)
                print(line, file=sys.stderr, flush=True)
                match = re.match(r"^(?:notebook (.+?)|(manuscript) \(Quarto\))\s+FAILED", line)
                if match:
                    failed.append(match.group(1) or match.group(2))
                if re.match(r"^notebook .+\s+interrupted after", line):
                    signals.append(signal.SIGINT)
                continue
            own = False
            if not NOISE.match(line):
                other.append(line)
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        try:  # jobs Snakemake left behind (it was killed): stop them, they would write into the build
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if signals and code != 0:
        other.append("KeyboardInterrupt")  # interrupted: reported as such, not as a failure
    return code, failed, other, mine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mbpm run",
        description="Run the pipeline (Snakemake) quietly, one run at a time, resuming interrupted runs. "
                    "Arguments it does not know go to Snakemake, e.g. `mbpm run --config lod_rule=lod` or "
                    "`mbpm run --keep-going -- variants`.")
    parser.add_argument("--cores", default=os.environ.get("CORES", "all"), help="cores Snakemake may use (all)")
    parser.add_argument("--outputs", action="store_true", help="after a successful run, list where its outputs are")
    parser.add_argument("--rotate-snapshot", action="store_true",
                        help="after a run that rebuilt the default build, keep it as the automatic base of `make diff`")
    args, rest = parser.parse_known_args(argv)
    return run(rest, cores=args.cores, outputs=args.outputs, rotate=args.rotate_snapshot)
