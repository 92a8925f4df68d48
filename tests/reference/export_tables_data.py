"""Export the study data the statistics tables use to CSV, for the R reference (tests/reference/tables.R).

Usage (from the project root, after the pipeline has built build/data/*.parquet):

    .venv/bin/python tests/reference/export_tables_data.py [--build build]
    Rscript tests/reference/tables.R

Writes, under tests/reference/ (committed, so CI needs neither the pipeline nor R):

* ``tables_baseline_data.csv``: Table 1's frame, one row per participant (demographics, scores and analytes at pre);
* ``tables_trial_data.csv``: the trial's frame, analysed patients x visit (arm, scores, analytes);
* ``tables_biomarkers_cc.csv``: long, complete cases of the 2 Time x 6 Biomarker x 2 Group design, with ``value``
  and ``log_value`` (for ``tests/reference/rmanova.R case``, run by tables.R).

The frames are built by the same helpers the notebooks call (``helpers.tables.baseline_data`` / ``trial_data``).
Numbers are written with 17 significant digits, so R reads exactly the doubles Python holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import io, tables

HERE = Path(__file__).resolve().parent


def export(build_dir: str = "build", out: Path = HERE) -> dict[str, Path]:
    data = io.project_path(build_dir) / "data"
    roster = pd.read_parquet(data / "roster.parquet")
    scores = pd.read_parquet(data / "scores.parquet")
    bio = pd.read_parquet(data / "biomarkers.parquet")
    base = tables.baseline_data(roster, scores, bio)
    trial = tables.trial_data(roster, scores, bio)
    cc = complete_biomarkers(trial)
    paths = {}
    for name, df in (("baseline", base), ("trial", trial), ("biomarkers_cc", cc)):
        p = out / f"tables_{name}{'_data' if name != 'biomarkers_cc' else ''}.csv"
        num = df.select_dtypes("number").columns
        df = df.copy()
        df[num] = df[num].astype(float)
        df.to_csv(p, index=False, float_format="%.17g", lineterminator="\n")
        paths[name] = p
    return paths


def complete_biomarkers(trial: pd.DataFrame, analytes=tuple(tables.ANALYTES)) -> pd.DataFrame:
    """Long (record_id, arm, visit, analyte, value, log_value) for patients with all analytes at both visits."""
    present = [a for a in analytes if a in trial]
    long = trial.melt(id_vars=["record_id", "arm", "visit"], value_vars=present, var_name="analyte",
                      value_name="value").dropna(subset=["value"])
    counts = long.groupby("record_id")["value"].size()
    keep = counts[counts == 2 * len(present)].index
    long = long[long["record_id"].isin(keep)].copy()
    long["visit"] = pd.Categorical(long["visit"], ["pre", "post"])
    long["analyte"] = pd.Categorical(long["analyte"], present)
    long = long.sort_values(["record_id", "visit", "analyte"], ignore_index=True)
    long["visit"] = long["visit"].astype(str)
    long["analyte"] = long["analyte"].astype(str)
    long["log_value"] = np.log(long["value"])
    return long


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build", help="build folder holding data/*.parquet")
    args = ap.parse_args()
    for p in export(args.build).values():
        print(p)
