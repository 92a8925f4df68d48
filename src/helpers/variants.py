"""Analysis variants: the answers to a reviewer's "what if you had ...?", run side by side and compared.

A variant is one YAML file in ``config/variants/``::

    description: Brown-Forsythe test (Levene centred on the median) instead of SPSS's mean-centred Levene
    overrides:
      levene_center: median

``overrides`` may only name keys of ``config/params.yaml``. The Snakefile turns every variant into its own copy of
the notebook chain writing to ``build/variants/<name>/`` (figures in ``build/variants/<name>/figures``); Snakemake
runs the copies in parallel, keeps going when one fails (``--keep-going``) and resumes from its own metadata.

What no library does, and this module does by hand: read and check the variant files, tell for each variant whether
its results are complete and current (by asking Snakemake for a dry run, whose planned jobs name the variant), pick
the error message out of a failed notebook's log, and write the comparison table (one row per headline statistic,
one column per variant) as Markdown and CSV. Run it after Snakemake, even when Snakemake failed::

    python -m helpers.variants compare --build build
"""

from __future__ import annotations

import argparse
import csv
import io as _io
import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from helpers.paths import project_path, project_root
from helpers.pipeline import unknown_keys
from helpers.render import ANSI_RE

VARIANTS_DIR = "config/variants"
NAME_PATTERN = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")  # no "__": it separates name and rule
REFERENCE = "default"  # the variant without overrides: the column every other is compared with
NOTEBOOK_ORDER = ["01_ingest", "02_scoring", "03_baseline", "04_trial_rmanova", "05_discussion_figures"]

# The statistics a reviewer compares across variants, by topic (results keys of CONTRIBUTING.md). A pattern's `*`
# stands for one dot-free segment. Within a topic rows are grouped by the key's stem (e.g. one Table 1 measure),
# statistics in the order given. A pattern no variant produces simply contributes no row.
HEADLINE_PATTERNS: list[tuple[str, ...]] = [
    ("flow.n_mbpm_analysed", "flow.n_wl_analysed", "flow.n_complete_cases"),           # who is analysed
    ("t1.*.test", "t1.*.stat", "t1.*.p"),                                               # Table 1, CP vs HC
    ("rm.n", "rm.*.f", "rm.*.p", "rm.*.p_gg", "rm.*.pes"),                              # 2x6x2 mixed ANOVA
    ("rm.posthoc.*.*.t", "rm.posthoc.*.*.p", "rm.posthoc.*.*.p_adj", "rm.posthoc.*.*.d_z"),  # analyte post hoc
    ("robust.log.*.f", "robust.log.*.p", "robust.log.*.pes"),                           # log-scale mixed ANOVA
    ("robust.survives.*.*", "robust.p.*.*"),                                            # findings x checks
    ("clin.*.time_group.f", "clin.*.time_group.p"),                                     # clinical Time x Group
    ("assoc.*.pearson.r", "assoc.*.pearson.p"),                                         # change-change
]


def _pattern(glob: str) -> re.Pattern:
    """A key pattern: ``*`` is one dot-free segment, ``**`` one or more segments."""
    parts = {"*": "[^.]+", "**": r"[^.]+(?:\.[^.]+)*"}
    return re.compile("^" + r"\.".join(parts.get(seg, re.escape(seg)) for seg in glob.split(".")) + "$")


class VariantError(ValueError):
    """A variant file that cannot be run (bad name, bad YAML, unknown parameter)."""


@dataclass
class Variant:
    name: str
    description: str = ""
    overrides: dict = field(default_factory=dict)
    error: str | None = None  # set when the file is invalid: the Snakefile then plans a job that fails with it

    def config(self, base: dict, build_dir: str) -> dict:
        """The full parameter set of this variant: ``base`` + overrides, writing into its own folders."""
        folder = variant_dir(build_dir, self.name)
        return {**base, **self.overrides, "build_dir": folder, "figures_dir": f"{folder}/figures"}


def variant_dir(build_dir: str, name: str) -> str:
    return f"{str(build_dir).rstrip('/')}/variants/{name}"


def load_variant(path: str | Path, defaults: dict) -> Variant:
    """Read one variant file; an invalid file gives a Variant carrying ``error`` instead of raising."""
    path = Path(path)
    variant = Variant(path.stem)
    try:
        shown = path.resolve().relative_to(project_root())
    except ValueError:
        shown = path
    try:
        if not NAME_PATTERN.match(variant.name):
            raise VariantError(f"variant name {variant.name!r} must match {NAME_PATTERN.pattern}")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise VariantError(f"{shown}: not valid YAML: {exc}") from exc
        if not isinstance(doc, dict) or set(doc) - {"description", "overrides"}:
            raise VariantError(f"{shown}: expected the keys 'description' and 'overrides' only")
        variant.description = str(doc.get("description", ""))
        overrides = doc.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise VariantError(f"{shown}: 'overrides' must be a mapping of parameter: value")
        variant.overrides = dict(overrides)
        unknown = unknown_keys(overrides, defaults)
        if unknown:
            raise VariantError(f"{shown}: " + "; ".join(unknown) + " (config/params.yaml lists the parameters)")
        fixed = sorted(set(overrides) & {"build_dir", "figures_dir"})
        if fixed:
            raise VariantError(f"{shown}: {fixed} are set per variant (build/variants/<name>/), not overridable")
    except VariantError as exc:
        variant.error = str(exc)
    return variant


def load_variants(defaults: dict, folder: str | Path = VARIANTS_DIR) -> list[Variant]:
    """Every ``*.yaml`` in ``folder``, sorted by name."""
    return [load_variant(p, defaults) for p in sorted(project_path(folder).glob("*.yaml"))]


# --- status ----------------------------------------------------------------------------------------------------

def pending_jobs(build_dir: str, config: list[str] | None = None) -> dict[str, set[str]] | str:
    """Per variant, the rules a Snakemake dry run of target ``variants`` would still execute.

    ``config``: further ``key=value`` overrides, as given to ``snakemake --config``. Returns the dry run's error
    text instead when Snakemake itself cannot plan (e.g. a syntax error in the Snakefile).
    """
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--rerun-incomplete", "--cores", "1", "--quiet", "rules",
           "--config", f"build_dir={build_dir}", *(config or []), "--", "variants"]
    out = subprocess.run(cmd, cwd=project_root(), capture_output=True, text=True)
    if out.returncode != 0:
        return (out.stderr or out.stdout).strip()[-2000:]
    pending: dict[str, set[str]] = {}
    for rule in re.findall(r"^variant__(\w+?)\s+\d+\s*$", out.stdout + out.stderr, re.M):
        name, _, job = rule.partition("__")
        pending.setdefault(name, set()).add(job)
    return pending


def _log_error(log: Path) -> str | None:
    """The exception line of a failed job's log (papermill ends it with the kernel's ``Error: message``); None
    when there is none, or when the job was interrupted (Ctrl-C ends the log with ``KeyboardInterrupt``, possibly
    after exceptions raised while handling it): an interrupted variant is incomplete, not failed."""
    if not log.is_file():
        return None
    lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    lines = [ANSI_RE.sub("", ln) for ln in lines]
    if any(re.match(r"^KeyboardInterrupt\b", line) for line in lines[-80:]):
        return None  # interrupted; what follows is noise of the shutdown (e.g. DeadKernelError)
    for line in reversed(lines[-60:]):
        if re.match(r"^([A-Za-z_][\w.]*(Error|Exception|Exit)|VariantError)\b:?", line):
            return line[:500]
    return None


def variant_status(variant: Variant, build_dir: str, pending: dict[str, set[str]] | str) -> dict:
    """``{"variant", "status", "error"}``; status ``ok``, ``failed``, ``stale`` (inputs changed since the run) or
    ``incomplete`` (killed or not yet run)."""
    folder = project_path(variant_dir(build_dir, variant.name))
    row = {"variant": variant.name, "status": "ok", "error": ""}
    if variant.error:
        return {**row, "status": "failed", "error": variant.error}
    if isinstance(pending, str):
        lines = pending.splitlines() or [""]
        reason = next((ln for ln in lines if re.search(r"(Exception|Error)\b", ln)), lines[-1])
        return {**row, "status": "unknown", "error": f"snakemake dry run failed: {reason.strip()}"}
    jobs = pending.get(variant.name, set())
    if not jobs and (folder / "results.json").is_file():
        return row
    for nb in NOTEBOOK_ORDER:
        error = _log_error(folder / "logs" / f"{nb}.log")
        if f"notebook_{nb}" in jobs and error:
            return {**row, "status": "failed", "error": f"{nb}: {error}"}
    if (folder / "results.json").is_file():
        return {**row, "status": "stale", "error": "code, data or parameters changed since it ran: "
                "run `make variants` again (" + ", ".join(sorted(jobs)) + ")"}
    return {**row, "status": "incomplete", "error": "not (or not completely) run: run `make variants` again"}


# --- comparison ------------------------------------------------------------------------------------------------

def headline_keys(keys: set[str], patterns: list[tuple[str, ...]] = HEADLINE_PATTERNS) -> list[str]:
    """Keys matching the headline patterns: topics in order; within a topic by stem, then statistic order."""
    chosen: list[str] = []
    for topic in patterns:
        compiled = [_pattern(p) for p in topic]
        found = []
        for key in keys:
            rank = next((i for i, rx in enumerate(compiled) if rx.match(key)), None)
            if rank is not None and key not in chosen:
                found.append((key.rsplit(".", 1)[0] if len(topic) > 1 else "", rank, key))
        chosen.extend(k for _, _, k in sorted(found))
    return chosen


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return ""
    if value != 0 and abs(value) < 0.001:
        return f"{value:.2e}"
    return f"{value:.4g}" if abs(value) >= 1000 else f"{value:.3f}"


# A p-value key: its last segment, or its topic (robust.p.<finding>.<check> holds the p or q of a check).
P_SEGMENTS = {"p", "p_gg", "p_hf", "p_adj", "q"}
P_PREFIXES = ("robust.p.",)
FINDING_PREFIXES = ("robust.survives.",)  # 1/0 (or true/false): the paper's finding survives a check


def is_p_value(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in P_SEGMENTS or key.startswith(P_PREFIXES)


def is_finding(key: str) -> bool:
    return key.startswith(FINDING_PREFIXES)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def key_flags(key: str, values: dict, reference: str | None, alphas: dict[str, float]) -> list[tuple[str, str]]:
    """(kind, variant) for every variant whose value of ``key`` changes the conclusion against ``reference``:
    ``"p crosses α"`` (significant at that variant's alpha in one, not in the other) or ``"finding flips"``."""
    if reference is None or reference not in values:
        return []
    flags = []
    ref = _number(values[reference])
    for name, value in values.items():
        val = _number(value)
        if name == reference or ref is None or val is None:
            continue
        if is_finding(key) and bool(val) != bool(ref):
            flags.append(("finding flips", name))
        elif is_p_value(key) and (val < alphas.get(name, 0.05)) != (ref < alphas.get(reference, 0.05)):
            flags.append(("p crosses α", name))
    return flags


def comparison_rows(results: dict[str, dict], descriptions: dict[str, str],
                    alphas: dict[str, float] | None = None, reference: str | None = REFERENCE) -> list[dict]:
    """One row per headline key: key, description, one value per variant, whether any variant differs, and flags
    (a p crossing alpha, a finding that flips, against ``reference``). Rows that differ come first, each group in
    headline order."""
    names = list(results)
    keys = headline_keys(set().union(*(r.keys() for r in results.values())) if results else set())
    rows = []
    for key in keys:
        values = {n: results[n].get(key) for n in names}
        distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
        flags = key_flags(key, values, reference if reference in results else None, alphas or {})
        rows.append({"key": key, "description": descriptions.get(key, ""), **values,
                     "differs": "yes" if len(distinct) > 1 else "",
                     "flags": "; ".join(f"{kind}: {name}" for kind, name in flags)})
    return sorted(rows, key=lambda r: r["differs"] != "yes")  # stable: headline order within each group


def variant_summaries(rows: list[dict], names: list[str], reference: str | None, alphas: dict[str, float],
                      limit: int = 4) -> dict[str, str]:
    """A few lines per variant: how many headline statistics differ from the reference, which p-values cross
    alpha (reference value -> this variant's), which findings flip."""
    if reference not in names:
        return {}
    summaries = {}
    for name in names:
        if name == reference:
            continue
        differ = [r for r in rows if json.dumps(r.get(name)) != json.dumps(r.get(reference))]
        lines = [f"{len(differ)} of {len(rows)} headline statistics differ from `{reference}`."]
        for kind, label in (("p crosses α", f"p crosses α = {alphas.get(name, 0.05):g}"),
                            ("finding flips", "findings that flip")):
            hits = [r for r in rows if f"{kind}: {name}" in r["flags"].split("; ")]
            if hits:
                shown = ", ".join(f"`{r['key']}` {_fmt(r[reference])} → {_fmt(r[name])}" for r in hits[:limit])
                more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
                lines.append(f"{label} ({len(hits)}): {shown}{more}.")
        if len(lines) == 1:
            lines.append("No p-value crosses α and no finding flips.")
        summaries[name] = " ".join(lines)
    return summaries


def _descriptions(folder: Path) -> dict[str, str]:
    keys_csv = folder / "results_keys.csv"
    if not keys_csv.is_file():
        return {}
    with open(keys_csv, newline="", encoding="utf-8") as fh:
        return {r["key"]: r["description"] for r in csv.DictReader(fh)}


def compare(build_dir: str = "build", config: list[str] | None = None,
            variants: list[Variant] | None = None, pending: dict | str | None = None) -> tuple[Path, list[dict]]:
    """Write ``<build>/variants/comparison.md``, ``comparison.csv`` and ``status.csv``; return (md path, statuses).

    Only variants whose status is ``ok`` contribute values; the others are listed with their error.
    """
    from helpers.io import load_params

    defaults = load_params()
    variants = load_variants(defaults) if variants is None else variants
    if pending is None:
        pending = pending_jobs(build_dir, config)
    statuses = [variant_status(v, build_dir, pending) for v in variants]
    ok = [v for v, s in zip(variants, statuses, strict=True) if s["status"] == "ok"]
    ok.sort(key=lambda v: (v.name != REFERENCE, v.name))
    results, descriptions = {}, {}
    for v in ok:
        folder = project_path(variant_dir(build_dir, v.name))
        results[v.name] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        descriptions = {**_descriptions(folder), **descriptions}
    alphas = {v.name: float({**defaults, **v.overrides}.get("alpha", 0.05)) for v in variants}
    rows = comparison_rows(results, descriptions, alphas)

    out = project_path(f"{str(build_dir).rstrip('/')}/variants")
    out.mkdir(parents=True, exist_ok=True)
    names = [v.name for v in ok]
    with open(out / "comparison.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["key", "description", *names, "differs", "flags"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "status.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["variant", "status", "error"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(statuses)
    summaries = variant_summaries(rows, names, REFERENCE, alphas)
    (out / "comparison.md").write_text(_markdown(variants, statuses, rows, names, summaries), encoding="utf-8")
    return out / "comparison.md", statuses


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(variants: list[Variant], statuses: list[dict], rows: list[dict], names: list[str],
              summaries: dict[str, str] | None = None) -> str:
    buf = _io.StringIO()
    buf.write("Analysis variants (config/variants/*.yaml), each a full re-run of the notebook chain.\n\n")
    buf.write("| variant | status | overrides | description |\n|---|---|---|---|\n")
    for v, s in zip(variants, statuses, strict=True):
        overrides = ", ".join(f"`{k}={json.dumps(val)}`" for k, val in sorted(v.overrides.items())) or "(none)"
        state = s["status"] if s["status"] == "ok" else f"**{s['status']}**: {s['error']}"
        buf.write(f"| {v.name} | {_cell(state)} | {_cell(overrides)} | {_cell(v.description)} |\n")
    buf.write("\n")
    if summaries:
        buf.write("What each variant changes:\n\n")
        for name, text in summaries.items():
            buf.write(f"- **{name}**: {text}\n")
        buf.write("\n")
    if not rows:
        buf.write("No headline statistic available (no variant completed, or none reports a headline key).\n")
        return buf.getvalue()
    n_differ = sum(r["differs"] == "yes" for r in rows)
    buf.write(f"Headline statistics per variant: the {n_differ} that differ between variants first, then the "
              f"{len(rows) - n_differ} identical in every variant (full precision in comparison.csv). `flags`: a p "
              f"that crosses α, or a robustness finding that flips, against `{REFERENCE}`.\n\n")
    buf.write("| statistic | description | " + " | ".join(names) + " | differs | flags |\n")
    buf.write("|---|---|" + "---:|" * len(names) + "---|---|\n")
    for row in rows:
        cells = [_fmt(row[n]) for n in names]
        buf.write(f"| `{row['key']}` | {_cell(row['description'])} | " + " | ".join(_cell(c) for c in cells)
                  + f" | {row['differs']} | {_cell(row['flags'])} |\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mbpm variants", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compare", help="status of every variant and the comparison table")
    p.add_argument("--build", default="build")
    p.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                   help="the same --config overrides given to snakemake (besides build_dir)")
    sub.add_parser("list", help="the variants and their overrides")
    args = parser.parse_args(argv)
    if args.command == "list":
        from helpers.io import load_params

        for v in load_variants(load_params()):
            print(f"{v.name:24s} {v.error or json.dumps(v.overrides, sort_keys=True)}")
        return 0
    from helpers.pipeline import effective_build_dir

    given = {c.split("=", 1)[0]: yaml.safe_load(c.split("=", 1)[1]) for c in args.config if "=" in c}
    # where the Snakefile put these variants: an override (raw_dir= included) has a build folder of its own
    build = effective_build_dir({"build_dir": given.get("build_dir", args.build)}, given)
    config = [c for c in args.config if not c.startswith("build_dir=")]
    md, statuses = compare(build, config)
    failed = [s for s in statuses if s["status"] != "ok"]
    for s in statuses:
        print(f"variant {s['variant']:24s} {s['status']:10s} {s['error']}")
    print(f"comparison: {md} (+ comparison.csv, status.csv)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
