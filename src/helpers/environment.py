"""The environment record: ``requirements-lock.txt``, the exact versions (with hashes) every install uses.

The lock is written by ``make lock`` (``uv pip compile --universal --generate-hashes``: one file for Linux and
macOS, Python 3.11-3.13, packages that only some platforms need carry a marker). ``make install``, CI and the conda
path (environment.yml, postBuild) install from it with pip's hash checking. This module reads it:

* :func:`read_lock`: the pins, parsed (name, version, marker, the entry's lines);
* :func:`lock_requirements`: the lock without some entries (``make install`` leaves quarto-cli to its own step,
  which is skipped when a Quarto is already on PATH);
* :func:`locked_versions`: locked against installed versions, for the supplementary's provenance.

The parser is written here (a few lines over uv's documented output format: ``name==version ; marker \\`` then
``--hash=`` lines) because pip offers no public API for requirement files; markers are evaluated with
``packaging``. Module level imports are the standard library only: the Makefile runs this file with a bare
interpreter before anything is installed (``python src/helpers/environment.py requirements --without quarto-cli``).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

LOCK = "requirements-lock.txt"
PIN_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    """One entry of the lock: ``name==version`` (name normalised as PEP 503), its marker, its lines."""

    name: str
    version: str
    marker: str | None
    lines: tuple[str, ...]
    line: int  # 1-based line of ``name==version`` in the lock


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-``, ``_``, ``.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(root: str | Path | None = None) -> Path:
    """The project's lock file (``<project root>/requirements-lock.txt``)."""
    if root is None:
        from helpers.paths import project_root

        root = project_root()
    return Path(root) / LOCK


def read_lock(path: str | Path) -> list[Pin]:
    """Every pin of a ``uv pip compile --generate-hashes`` file, in file order. A line that starts an entry but
    is not ``name==version [; marker]`` raises ValueError naming the file and line."""
    path = Path(path)
    pins: list[Pin] = []
    current: list[str] = []
    start = 0
    head: re.Match | None = None

    def close() -> None:
        if head is not None:
            pins.append(Pin(normalize(head["name"]), head["version"], (head["marker"] or "").strip() or None,
                            tuple(current), start))

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():  # --hash=... or a "# via" comment of the entry above
            if head is not None:
                current.append(line)
            continue
        close()
        head = PIN_RE.match(line)
        if head is None:
            raise ValueError(f"{path}:{number}: not an exact pin (name==version [; marker]): {line!r}")
        current, start = [line], number
    close()
    return pins


def lock_requirements(path: str | Path, without: tuple[str, ...] = (), only: tuple[str, ...] = ()) -> str:
    """The lock's text (pins with their hashes) without the packages ``without``, or with only ``only``."""
    skip, keep = {normalize(n) for n in without}, {normalize(n) for n in only}
    pins = [p for p in read_lock(path) if p.name not in skip and (not keep or p.name in keep)]
    missing = keep - {p.name for p in pins}
    if missing:
        raise ValueError(f"{path}: no pin for {', '.join(sorted(missing))} (run `make lock`)")
    return "".join("\n".join(p.lines) + "\n" for p in pins)


def locked_versions(names: tuple[str, ...] | None = None, path: str | Path | None = None):
    """Locked and installed version of each package, as a tidy DataFrame (package, locked, installed, agrees).

    ``names``: the packages to list, in that order (default: every pin whose marker applies to this interpreter
    and platform). ``python`` gives the interpreter's version (the lock covers Python 3.11-3.13: locked is
    "any"); a package the lock does not hold has locked "not locked". ``agrees`` is "yes" when the installed
    version is the locked one, "no" otherwise, "" where nothing is locked.
    """
    import importlib.metadata
    import platform

    import pandas as pd
    from packaging.markers import Marker

    applying = {p.name: p.version for p in read_lock(path or lock_path())
                if p.marker is None or Marker(p.marker).evaluate()}
    rows = []
    for name in names if names is not None else tuple(applying):
        key = normalize(name)
        if key == "python":
            rows.append({"package": "python", "locked": "any (3.11-3.13)", "installed": platform.python_version(),
                         "agrees": ""})
            continue
        try:
            installed = importlib.metadata.version(key)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        locked = applying.get(key)
        rows.append({"package": name, "locked": locked or "not locked", "installed": installed,
                     "agrees": "" if locked is None else ("yes" if installed == locked else "no")})
    return pd.DataFrame(rows, columns=["package", "locked", "installed", "agrees"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python src/helpers/environment.py",
                                     description="Print the lock's requirements (all, or without/only some).")
    sub = parser.add_subparsers(dest="command", required=True)
    req = sub.add_parser("requirements", help="the lock's pins with their hashes, for pip --require-hashes")
    req.add_argument("--lock", default=LOCK)
    req.add_argument("--without", nargs="*", default=[])
    req.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(lock_requirements(args.lock, tuple(args.without), tuple(args.only)))
    except (OSError, ValueError) as err:
        print(f"environment: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
