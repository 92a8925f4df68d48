"""How long the test suite takes (``make bench-tests``; a benchmark, never part of ``make test``).

Runs, in this working tree, ``make test-quick`` and ``make test`` (with their xdist options), after a floor: pytest collecting the suite without running it (interpreter start,
imports, collection). For each: wall time, CPU time (user + system of pytest and every process it waited for:
xdist workers, Snakemake, papermill's kernels, Quarto; ``resource.getrusage(RUSAGE_CHILDREN)``, which does not grow
when other jobs share the machine) and pytest's own count of passed / skipped / failed tests. The machine (cores,
load average before and after, Python) and the date are written beside the figures, so the README can quote them.

Writes ``--out`` (Markdown) and the same as JSON next to it; prints the Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNT_RE = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)")


def measure(name: str, cmd: list[str]) -> dict:
    """Run ``cmd`` once; wall and CPU seconds, and pytest's summary counts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = next((ln for ln in reversed(proc.stdout.splitlines()) if COUNT_RE.search(ln)), "")
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in COUNT_RE.findall(summary)}
    return {"what": name, "command": " ".join(cmd), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "exit_code": proc.returncode, "counts": counts, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()], "tail": proc.stdout[-1500:] + proc.stderr[-1500:]}


def machine() -> dict:
    """The machine, and what the suite found in place: CI's switches (a missing Quarto or browser fails instead of
    skipping) and whether the working tree's build and published site exist (without ``_publish/``, the published
    site is rendered by the suite when CI's switches are on)."""
    return {"date": dt.date.today().isoformat(), "machine": platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}",
            "ci_switches": {k: os.environ.get(k, "") for k in ("MBPM_REQUIRE_QUARTO", "MBPM_REQUIRE_BROWSER")},
            "build_present": (ROOT / "build" / "results.json").is_file(),
            "publish_present": (ROOT / "_publish" / "index.html").is_file()}


def to_markdown(info: dict, rows: list[dict]) -> str:
    switches = ", ".join(f"{k}={v}" for k, v in info["ci_switches"].items() if v) or "none"
    lines = [f"Test suite timings, {info['date']}: {info['system']}, {info['machine']}, {info['cores']} cores, "
             f"Python {info['python']}. CI switches: {switches}; working tree: build/ "
             f"{'present' if info['build_present'] else 'absent'}, _publish/ "
             f"{'present' if info['publish_present'] else 'absent (rendered by the suite when required)'}.", "",
             "| what | wall (s) | CPU (s) | passed | skipped | failed | load average before → after (1 min) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        c = r["counts"]
        lines.append(f"| {r['what']} | {r['wall_s']} | {r['cpu_s']} | {c.get('passed', '')} | "
                     f"{c.get('skipped', '')} | {c.get('failed', 0) + c.get('error', 0)} | "
                     f"{r['load_before'][0]} → {r['load_after'][0]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "tests.md")
    parser.add_argument("--targets", nargs="*", default=["test-quick", "test"])
    args = parser.parse_args(argv)
    rows = [measure("floor: pytest --collect-only (start-up, imports, collection)",
                    [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"])]
    rows[0]["counts"] = {}
    for target in args.targets:
        rows.append(measure(f"`make {target}`", ["make", "--no-print-directory", target]))
    info = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = to_markdown(info, rows)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({**info, "runs": rows}, indent=2) + "\n", encoding="utf-8")
    print(text)
    failed = [r["what"] for r in rows[1:] if r["exit_code"] != 0]
    for r in rows[1:]:
        if r["exit_code"] != 0:
            print(f"{r['what']} exited {r['exit_code']}:\n{r['tail']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
