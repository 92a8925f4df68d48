"""Publication figures: participant flow, pre/post trajectories, effect-size forest plot, change-change plots.

Conventions (the team's figure standard):

* Okabe-Ito colours (safe for the common colour-vision deficiencies), one colour per arm everywhere.
* Journal widths: 85 mm (single column) and 174 mm (double column); 7-pt text.
* Every figure is written twice into ``figures_dir``: SVG (vector) and a 300-dpi PNG. Both are byte-identical across
  runs with the same inputs and library versions: ``svg.hashsalt`` is fixed and the date metadata are removed.

The analysis numbers drawn here (paired tests, d_z and its confidence interval) come from
:func:`paired_effects`, which prefers the statistics module's paired-test table when it exists
(``helpers.stats.paired_tests``) and otherwise computes the same quantities with scipy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import yaml
from matplotlib import ticker
from matplotlib.collections import LineCollection
from matplotlib.patches import FancyBboxPatch
from scipy import optimize, stats

from helpers import formatting as fmt
from helpers import io, tables
from helpers.names import ANALYTE_LABELS, ANALYTES
from helpers.names import ARM_COLORS as ARM_COLORS
from helpers.names import ARM_LABELS as ARM_LABELS
from helpers.names import ARMS as ARMS
from helpers.names import COHORT_COLORS as COHORT_COLORS
from helpers.names import OKABE_ITO as OKABE_ITO

__data_files__ = ["assays.yaml", "paper_values.csv"]

ASSAYS_YAML = Path(__file__).with_name("assays.yaml")
PAPER_VALUES = Path(__file__).with_name("paper_values.csv")
MM = 1 / 25.4
SINGLE_COLUMN_MM = 85.0
DOUBLE_COLUMN_MM = 174.0
DPI = 300


SCORE_LABELS = {
    "sfmpq_total": "McGill (SF-MPQ) total",
    "bdi_total": "BDI-II total",
    "promis_pain_interference": "PROMIS-29 pain interference",
    "pcs_total": "PCS total",
}
VISITS = ("pre", "post")


# --------------------------------------------------------------------------------------------------------------
# style and saving
# --------------------------------------------------------------------------------------------------------------
def set_style() -> None:
    """Settings shared by every figure: seaborn's "ticks" theme in its "paper" context, with small journal text and
    a deterministic SVG."""
    plt.rcdefaults()
    sns.set_theme(context="paper", style="ticks", palette=list(OKABE_ITO.values()))
    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 7,
            "axes.titlesize": 7.5,
            "axes.labelsize": 7,
            "xtick.labelsize": 6.5,
            "ytick.labelsize": 6.5,
            "legend.fontsize": 6.5,
            "axes.linewidth": 0.6,
            "xtick.major.width": 0.6,
            "ytick.major.width": 0.6,
            "lines.linewidth": 1.0,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "savefig.dpi": DPI,
            "figure.dpi": 100,
            "svg.hashsalt": "mbpm-report",  # fixed ids inside the SVG
            "svg.fonttype": "path",  # glyphs as paths: the SVG looks the same without the font installed
        }
    )


def figure_size(width_mm: float, height_mm: float) -> tuple[float, float]:
    """(width, height) in inches for a figure ``width_mm`` x ``height_mm``."""
    return width_mm * MM, height_mm * MM


def save_figure(fig: plt.Figure, name: str, figures_dir: str | Path = "figures") -> dict[str, Path]:
    """Write ``fig`` as ``<name>.svg`` and ``<name>.png`` (300 dpi) into ``figures_dir``; byte-stable across runs."""
    out = io.output_path(figures_dir)  # outside the pipeline: the scratch folder
    out.mkdir(parents=True, exist_ok=True)
    paths = {"svg": out / f"{name}.svg", "png": out / f"{name}.png"}
    fig.savefig(paths["svg"], format="svg", metadata={"Date": None, "Creator": None})
    fig.savefig(paths["png"], format="png", dpi=DPI, metadata={"Software": None})
    return paths


def publish(fig: plt.Figure, name: str, figures_dir: str | Path = "figures", width: int = 900):
    """Save ``fig`` (SVG + 300-dpi PNG), close it, and return the PNG as an IPython image ``width`` pixels wide.

    A notebook cell ends with ``figures.publish(...)``: its output is then exactly the file in ``figures_dir``.
    """
    from IPython.display import Image

    paths = save_figure(fig, name, figures_dir)
    plt.close(fig)
    return Image(filename=str(paths["png"]), width=width)


# --------------------------------------------------------------------------------------------------------------
# data shaping
# --------------------------------------------------------------------------------------------------------------
def _arm_column(roster: pd.DataFrame) -> str:
    for name in ("arm", "group", "trial_arm"):
        if name in roster.columns:
            return name
    raise KeyError(f"roster has no arm column (looked for arm/group/trial_arm); columns: {list(roster.columns)}")


ANALYSED_COLUMNS = ("trial_analysed", "analysed", "in_trial_analysis", "trial_complete")


def analysed_column(roster: pd.DataFrame) -> str | None:
    """The roster's flag for 'in the trial analysis', if the ingest step wrote one (else None: all trial patients)."""
    return next((c for c in ANALYSED_COLUMNS if c in roster.columns), None)


def trial_roster(roster: pd.DataFrame, analysed_column: str | None = None) -> pd.DataFrame:
    """record_id and arm of the trial patients (arm MBPM or WL); restricted to ``analysed_column`` when given."""
    arm = _arm_column(roster)
    out = roster[roster[arm].isin(ARMS)]
    if analysed_column is not None:
        out = out[out[analysed_column].astype(bool)]
    return out[["record_id", arm]].rename(columns={arm: "arm"}).reset_index(drop=True)


def paired_long(values: pd.DataFrame, trial: pd.DataFrame, value_columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Trial patients' values in long form: record_id, arm, measure, visit, value (complete pre/post pairs only).

    ``values`` is either the long biomarker table (record_id, visit, analyte, value) or the wide score table
    (record_id, visit, one column per score; pass ``value_columns``).
    """
    if value_columns is None:
        long = values[["record_id", "visit", "analyte", "value"]].rename(columns={"analyte": "measure"})
    else:
        long = values.melt(
            id_vars=["record_id", "visit"], value_vars=list(value_columns), var_name="measure", value_name="value"
        )
    long = long[long["visit"].isin(VISITS)].dropna(subset=["value"])
    long = long.merge(trial, on="record_id", how="inner")
    counts = long.groupby(["record_id", "measure"])["visit"].transform("nunique")
    long = long[counts == 2]
    long["value"] = long["value"].astype(float)
    return long.sort_values(["measure", "arm", "record_id", "visit"]).reset_index(drop=True)


def wide_pairs(long: pd.DataFrame) -> pd.DataFrame:
    """One row per record_id x measure: arm, pre, post, change (post - pre)."""
    wide = long.pivot_table(index=["record_id", "arm", "measure"], columns="visit", values="value").reset_index()
    wide.columns.name = None
    wide["change"] = wide["post"] - wide["pre"]
    return wide


def pairs_summary_markdown(wide: pd.DataFrame, labels: Mapping[str, str] = ANALYTE_LABELS) -> str:
    """Counts of complete pre/post pairs per measure and arm, as a Markdown table (aggregate only)."""
    counts = wide.groupby(["measure", "arm"])["record_id"].nunique().unstack("arm").reindex(columns=list(ARMS))
    order = [m for m in ANALYTES if m in counts.index] + [m for m in counts.index if m not in ANALYTES]
    rows = ["| Measure | " + " | ".join(ARM_LABELS[a] for a in ARMS) + " |", "|---|" + "---:|" * len(ARMS)]
    for m in order:
        cells = " | ".join("0" if pd.isna(counts.loc[m, a]) else str(int(counts.loc[m, a])) for a in ARMS)
        rows.append(f"| {labels.get(m, m)} | {cells} |")
    return "\n".join(rows)


def pooled_correlation(changes: pd.DataFrame, x: str, y: str) -> dict[str, float]:
    """Pearson r between columns ``x`` and ``y`` over complete rows: {'r', 'p', 'n'} (NaN r and p when n < 3)."""
    data = changes[[x, y]].dropna()
    n = len(data)
    if n < 3:
        return {"r": math.nan, "p": math.nan, "n": n}
    r, p = stats.pearsonr(data[x], data[y])
    return {"r": float(r), "p": float(p), "n": n}


# --------------------------------------------------------------------------------------------------------------
# paired effects (used until / unless helpers.stats provides the table)
# --------------------------------------------------------------------------------------------------------------
def dz_confidence_interval(t: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact CI for d_z = t / sqrt(n) by inverting the noncentral t distribution (df = n - 1)."""
    df = n - 1
    if n < 3 or not np.isfinite(t):
        return (math.nan, math.nan)
    alpha = 1 - level

    def ncp_for(prob: float) -> float:
        f = lambda ncp: stats.nct.cdf(t, df, ncp) - prob  # noqa: E731
        half = 4 * math.sqrt(1 + t * t / (2 * df)) + 2  # generous bracket around t (ncp scale)
        lo, hi = t - half, t + half
        return optimize.brentq(f, lo, hi, xtol=1e-10)

    lower = ncp_for(1 - alpha / 2)
    upper = ncp_for(alpha / 2)
    return lower / math.sqrt(n), upper / math.sqrt(n)


def _paired_effects_scipy(wide: pd.DataFrame, n_tests: int | None = None) -> pd.DataFrame:
    rows = []
    for (measure, arm), grp in wide.groupby(["measure", "arm"], sort=False):
        n = len(grp)
        diff = grp["post"] - grp["pre"]
        res = stats.ttest_rel(grp["pre"], grp["post"]) if n >= 2 else None
        t = float(res.statistic) if res is not None else math.nan
        p = float(res.pvalue) if res is not None else math.nan
        sd_diff = float(diff.std(ddof=1)) if n >= 2 else math.nan
        d_z = float(diff.mean() / sd_diff) if n >= 2 and sd_diff > 0 else math.nan
        sd_av = math.sqrt((grp["pre"].var(ddof=1) + grp["post"].var(ddof=1)) / 2) if n >= 2 else math.nan
        d_av = float(diff.mean() / sd_av) if sd_av and np.isfinite(sd_av) else math.nan
        lo, hi = dz_confidence_interval(-t, n) if np.isfinite(t) else (math.nan, math.nan)
        rows.append(
            {
                "measure": measure,
                "arm": arm,
                "n": n,
                "mean_pre": float(grp["pre"].mean()),
                "mean_post": float(grp["post"].mean()),
                "mean_change": float(diff.mean()),
                "t": t,  # pre - post, SPSS convention: negative when values rise
                "df": n - 1,
                "p": p,
                "d_z": d_z,
                "d_z_low": lo,
                "d_z_high": hi,
                "d_av": d_av,
            }
        )
    out = pd.DataFrame(rows)
    k = n_tests if n_tests is not None else len(out)
    out["p_bonferroni"] = np.minimum(out["p"] * k, 1.0)
    return out


def _paired_effects_team(wide: pd.DataFrame, group_tests) -> pd.DataFrame:
    """The statistics module's post hoc table (``posthoc_paired``), renamed to this module's columns, plus CIs."""
    data = wide.melt(id_vars=["record_id", "arm", "measure"], value_vars=["pre", "post"], var_name="visit")
    data = data.pivot_table(index=["record_id", "arm", "visit"], columns="measure", values="value").reset_index()
    data.columns.name = None
    measures = [m for m in wide["measure"].unique()]
    table = group_tests.posthoc_paired(data, measures, subject="record_id", within="visit", group="arm",
                                       levels=list(ARMS), correction="bonferroni", family="biomarkers")
    out = table.rename(columns={"group": "arm", "dv": "measure", "T": "t", "dof": "df", "pval": "p",
                                "p_adj": "p_bonferroni", "mean_diff": "mean_change"})
    cis = [dz_confidence_interval(-t, int(n)) if np.isfinite(t) else (math.nan, math.nan)
           for t, n in zip(out["t"], out["n"], strict=True)]
    out["d_z_low"] = [c[0] for c in cis]
    out["d_z_high"] = [c[1] for c in cis]
    return out


def paired_effects(wide: pd.DataFrame, n_tests: int | None = None) -> pd.DataFrame:
    """Within-group pre/post paired t-tests per measure x arm with d_z (exact 95% CI) and d_av.

    Columns include: measure, arm, n, mean_pre, mean_post, mean_change, t (pre - post, SPSS sign), df, p,
    p_bonferroni, d_z, d_z_low, d_z_high, d_av. d_z = mean change / SD of the changes (equals |t| / sqrt(n)).
    The tests and effect sizes come from the statistics module (``helpers.stats.group_tests.posthoc_paired``,
    whose d_av divides by the mean of the pre and post SDs) when it is importable; otherwise they are computed
    here with scipy (d_av then divides by the root mean square of the two SDs, a close variant).
    """
    try:
        from helpers.stats import group_tests
    except ImportError:  # the statistics module is not installed in this checkout
        group_tests = None
    if group_tests is not None and hasattr(group_tests, "posthoc_paired"):
        return _paired_effects_team(wide, group_tests)
    return _paired_effects_scipy(wide, n_tests=n_tests)


def mean_ci(values: pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-based confidence interval."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    m = float(x.mean()) if n else math.nan
    if n < 2:
        return m, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return m, m - half, m + half


# --------------------------------------------------------------------------------------------------------------
# figure 1: participant flow
# --------------------------------------------------------------------------------------------------------------
FLOW_KEYS = {
    "total": "flow.n_total",
    "cp": "flow.n_cp",
    "hc": "flow.n_hc",
    "trial": "flow.n_trial",
    "baseline_only": "flow.n_cp_baseline_only",
    "mbpm_allocated": "flow.n_mbpm_allocated",
    "wl_allocated": "flow.n_wl_allocated",
    "mbpm_lost": "flow.n_mbpm_lost",
    "wl_lost": "flow.n_wl_lost",
    "mbpm_analysed": "flow.n_mbpm_analysed",
    "wl_analysed": "flow.n_wl_analysed",
    "mbpm_oxytocin": "flow.n_mbpm_analysed_oxytocin",
    "wl_oxytocin": "flow.n_wl_analysed_oxytocin",
    "mbpm_dropout": "flow.n_mbpm_dropout",
    "wl_dropout": "flow.n_wl_dropout",
    "mbpm_low_attendance": "flow.n_mbpm_low_attendance",
    "wl_low_attendance": "flow.n_wl_low_attendance",
    "mbpm_saliva_unusable": "flow.n_mbpm_saliva_unusable",
    "wl_saliva_unusable": "flow.n_wl_saliva_unusable",
}


def upstream_results(build_dir: str | Path = "build", exclude: Iterable[str] = ("05_discussion_figures",)) -> dict:
    """Values of the results fragments already written in ``build_dir/results`` (the merged file comes later)."""
    values: dict = {}
    for path in sorted((io.project_path(build_dir) / "results").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("notebook", path.stem) not in set(exclude):
            values.update(doc.get("values", {}))
    return values


def flow_counts(results: Mapping[str, object], keys: Mapping[str, str] = FLOW_KEYS) -> dict[str, int | None]:
    """The flow diagram's counts from the results file (missing keys become None and are drawn as 'n = ?')."""
    out: dict[str, int | None] = {}
    for name, key in keys.items():
        value = results.get(key)
        out[name] = int(value) if isinstance(value, (int, float)) and np.isfinite(value) else None
    return out


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value}"


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str = "#FFFFFF") -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.004,rounding_size=0.012",
            linewidth=0.6, edgecolor="#333333", facecolor=color,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=6.5, linespacing=1.25)


def _arrow(ax, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "-|>", "lw": 0.6, "color": "#333333",
                                                              "shrinkA": 0, "shrinkB": 0, "mutation_scale": 6})


def plot_flow(counts: Mapping[str, int | None]) -> plt.Figure:
    """CONSORT-style participant flow; every number comes from ``counts`` (see :func:`flow_counts`)."""
    c = counts
    fig, ax = plt.subplots(figsize=figure_size(DOUBLE_COLUMN_MM, 120))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    w, h = 0.26, 0.105
    tint_cp, tint_hc = "#FBE3D6", "#D5F0E7"
    tint_mbpm, tint_wl = "#D6E6F3", "#FBEBCC"
    _box(ax, 0.5, 0.93, 0.34, h, f"Participants enrolled\nn = {_n(c['total'])}")
    _box(ax, 0.30, 0.76, w, h, f"Chronic-pain patients (CP)\nn = {_n(c['cp'])}", tint_cp)
    _box(ax, 0.80, 0.76, w, h, f"Healthy controls (HC)\nn = {_n(c['hc'])}\nbaseline visit only", tint_hc)
    _arrow(ax, 0.5, 0.93 - h / 2, 0.30, 0.76 + h / 2)
    _arrow(ax, 0.5, 0.93 - h / 2, 0.80, 0.76 + h / 2)
    _box(ax, 0.30, 0.59, w, h, f"Enrolled in the trial\nn = {_n(c['trial'])}\n(not randomised)", tint_cp)
    _box(ax, 0.60, 0.59, 0.20, h, f"Baseline visit only\nn = {_n(c['baseline_only'])}", tint_cp)
    _arrow(ax, 0.30, 0.76 - h / 2, 0.30, 0.59 + h / 2)
    _arrow(ax, 0.30 + w / 2, 0.76, 0.60, 0.59 + h / 2)
    _box(ax, 0.15, 0.42, w, h, f"Allocated to MBPM\nn = {_n(c['mbpm_allocated'])}", tint_mbpm)
    _box(ax, 0.47, 0.42, w, h, f"Allocated to wait-list\nn = {_n(c['wl_allocated'])}", tint_wl)
    _arrow(ax, 0.30, 0.59 - h / 2, 0.15, 0.42 + h / 2)
    _arrow(ax, 0.30, 0.59 - h / 2, 0.47, 0.42 + h / 2)
    def lost(arm: str) -> str:
        return (f"Not analysed, n = {_n(c[arm + '_lost'])}\n"
                f"dropped out {_n(c[arm + '_dropout'])}; attendance {_n(c[arm + '_low_attendance'])};\n"
                f"no usable saliva {_n(c[arm + '_saliva_unusable'])}")

    _box(ax, 0.15, 0.25, w + 0.02, h, lost("mbpm"))
    _box(ax, 0.47, 0.25, w + 0.02, h, lost("wl"))
    _arrow(ax, 0.15, 0.42 - h / 2, 0.15, 0.25 + h / 2)
    _arrow(ax, 0.47, 0.42 - h / 2, 0.47, 0.25 + h / 2)
    _box(
        ax, 0.15, 0.08, w, h,
        f"Analysed, MBPM\nn = {_n(c['mbpm_analysed'])} (oxytocin n = {_n(c['mbpm_oxytocin'])})", tint_mbpm,
    )
    _box(
        ax, 0.47, 0.08, w, h,
        f"Analysed, wait-list\nn = {_n(c['wl_analysed'])} (oxytocin n = {_n(c['wl_oxytocin'])})", tint_wl,
    )
    _arrow(ax, 0.15, 0.25 - h / 2, 0.15, 0.08 + h / 2)
    _arrow(ax, 0.47, 0.25 - h / 2, 0.47, 0.08 + h / 2)
    ax.text(0.88, 0.59, "Baseline comparison:\nCP vs HC", ha="center", va="center", fontsize=6.5, style="italic",
            color="#555555")
    ax.text(0.80, 0.25, "Trial analysis:\nMBPM vs wait-list,\npre vs post", ha="center", va="center", fontsize=6.5,
            style="italic", color="#555555")
    return fig


# --------------------------------------------------------------------------------------------------------------
# figure 2: trajectories
# --------------------------------------------------------------------------------------------------------------
def plot_trajectories(long: pd.DataFrame, measures: Iterable[str] = ANALYTES, labels: Mapping[str, str] = ANALYTE_LABELS,
                      unit: str = "pg/mL", log_scale: bool = True, ncols: int = 3, max_lines: int = 300,
                      seed: int = 0) -> plt.Figure:
    """Pre/post values per measure by arm: thin lines per patient, group mean with 95% CI on top.

    At most ``max_lines`` patient lines per arm and panel (a random sample drawn with ``seed`` when there are
    more, said in the legend): thousands of overlapping lines show nothing more and cost seconds to draw. The
    means and CIs always use every patient."""
    measures = [m for m in measures if m in set(long["measure"])]
    nrows = max(1, math.ceil(len(measures) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=figure_size(DOUBLE_COLUMN_MM, 58 * nrows + 8), squeeze=False)
    sampled = False
    offsets = {"MBPM": -0.12, "WL": 0.12}
    xpos = {"pre": 0.0, "post": 1.0}
    for ax in axes.flat[len(measures):]:
        ax.set_visible(False)
    for ax, measure in zip(axes.flat, measures, strict=False):
        data = long[long["measure"] == measure]
        for arm in ARMS:
            sub = data[data["arm"] == arm]
            color = ARM_COLORS[arm]
            # one artist for all of the arm's patients (a Line2D per patient takes minutes at 10,000 patients);
            # a patient seen at one visit only has no line, as before
            wide = sub.pivot_table(index="record_id", columns="visit", values="value", aggfunc="first")
            wide = wide.reindex(columns=VISITS).dropna()
            if len(wide) > max_lines:
                sampled = True
                wide = wide.sample(max_lines, random_state=seed).sort_index()
            xs = np.array([xpos[v] + offsets[arm] for v in VISITS])
            segments = np.stack([np.broadcast_to(xs, wide.shape), wide.to_numpy(float)], axis=-1)
            # rasterized: in the SVG the patients are one embedded image (tens of thousands of paths otherwise)
            patients = LineCollection(segments, colors=color, alpha=0.28, linewidths=0.5, rasterized=True,
                                      gid=f"patients-{arm}")
            patients.set_in_layout(False)  # inside the axes anyway; measuring every path slows tight_layout
            ax.add_collection(patients)
            means = [mean_ci(sub.loc[sub["visit"] == v, "value"]) for v in VISITS]
            x = [xpos[v] + offsets[arm] for v in VISITS]
            m = np.array([mm[0] for mm in means])
            err = np.array([[mm[0] - mm[1] for mm in means], [mm[2] - mm[0] for mm in means]])
            ax.errorbar(x, m, yerr=err, color=color, linewidth=1.6, marker="o", markersize=3.2, capsize=2, zorder=5)
        ax.autoscale_view()
        ax.set_xticks([0, 1], ["Pre", "Post"])
        ax.set_xlim(-0.45, 1.45)
        if log_scale and (data["value"] > 0).all():
            ax.set_yscale("log")
            plain = ticker.FuncFormatter(lambda v, _pos: fmt.number(v, 0) if v >= 1 else f"{v:g}")  # 10,000
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(labels.get(measure, measure))
        ax.set_ylabel(f"{unit}, log scale" if ax.get_yscale() == "log" else unit)
        counts = ", ".join(f"{ARM_LABELS[a]} n = {data.loc[data['arm'] == a, 'record_id'].nunique()}" for a in ARMS)
        ax.text(0.5, 0.99, counts, transform=ax.transAxes, ha="center", va="top", fontsize=5.8, color="#444444")
    handles = [plt.Line2D([], [], color=ARM_COLORS[a], marker="o", markersize=3.2, linewidth=1.6) for a in ARMS]
    lines = f"at most {max_lines} random patients" if sampled else "individual patients"
    fig.legend(handles, [f"{ARM_LABELS[a]}: mean and 95% CI (thin lines: {lines})" for a in ARMS],
               loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(pad=0.4, h_pad=0.8, w_pad=0.8, rect=(0, 0.05, 1, 1))
    return fig


# --------------------------------------------------------------------------------------------------------------
# figure 3: forest plot of within-group effect sizes
# --------------------------------------------------------------------------------------------------------------
def plot_forest(effects: pd.DataFrame, measures: Iterable[str] = ANALYTES,
                labels: Mapping[str, str] = ANALYTE_LABELS) -> plt.Figure:
    """d_z with 95% CI per measure x arm (positive = value rose from pre to post)."""
    measures = [m for m in measures if m in set(effects["measure"])]
    fig, ax = plt.subplots(figsize=figure_size(SINGLE_COLUMN_MM, 14 + 11 * len(measures)))
    offsets = {"MBPM": -0.16, "WL": 0.16}
    for i, measure in enumerate(measures):
        for arm in ARMS:
            row = effects[(effects["measure"] == measure) & (effects["arm"] == arm)]
            if row.empty:
                continue
            row = row.iloc[0]
            y = i + offsets[arm]
            ax.plot([row["d_z_low"], row["d_z_high"]], [y, y], color=ARM_COLORS[arm], linewidth=1.1)
            ax.plot(row["d_z"], y, marker="s" if arm == "MBPM" else "o", color=ARM_COLORS[arm], markersize=3.5,
                    label=ARM_LABELS[arm] if i == 0 else None)
    ax.axvline(0, color="#555555", linewidth=0.6, linestyle="--")
    for edge in (-0.8, -0.5, -0.2, 0.2, 0.5, 0.8):
        ax.axvline(edge, color="#DDDDDD", linewidth=0.4, zorder=0)
    ax.set_yticks(range(len(measures)), [labels.get(m, m) for m in measures])
    ax.invert_yaxis()
    ax.set_xlabel("Within-group effect size d$_z$ (post − pre), 95% CI")
    ax.legend(frameon=False, loc="lower right", handlelength=1.0)
    fig.tight_layout(pad=0.4)
    return fig


# --------------------------------------------------------------------------------------------------------------
# figure 4: change-change associations
# --------------------------------------------------------------------------------------------------------------
def change_table(bio_wide: pd.DataFrame, score_wide: pd.DataFrame, analyte: str = "oxytocin",
                 scores: Iterable[str] = ("sfmpq_total", "bdi_total")) -> pd.DataFrame:
    """One row per patient: arm, change in ``analyte`` and change in each score (complete pairs only)."""
    a = bio_wide[bio_wide["measure"] == analyte][["record_id", "arm", "change"]].rename(
        columns={"change": f"{analyte}_change"})
    s = score_wide[score_wide["measure"].isin(list(scores))].pivot_table(
        index="record_id", columns="measure", values="change")
    s.columns = [f"{c}_change" for c in s.columns]
    return a.merge(s.reset_index(), on="record_id", how="inner")


def plot_change_scatter(changes: pd.DataFrame, analyte: str = "oxytocin",
                        scores: Iterable[str] = ("sfmpq_total", "bdi_total")) -> plt.Figure:
    """Change in ``analyte`` (x) against change in each score (y), coloured by arm, with a pooled OLS line."""
    scores = list(scores)
    fig, axes = plt.subplots(1, len(scores), figsize=figure_size(DOUBLE_COLUMN_MM, 66), squeeze=False)
    xcol = f"{analyte}_change"
    for ax, score in zip(axes.flat, scores, strict=True):
        ycol = f"{score}_change"
        data = changes[[xcol, ycol, "arm"]].dropna()
        counts = data["arm"].value_counts()
        named = {a: f"{ARM_LABELS[a]} (n = {counts.get(a, 0)})" for a in ARMS}
        sns.scatterplot(data=data.assign(arm=data["arm"].map(named)), x=xcol, y=ycol, hue="arm", style="arm", ax=ax,
                        s=12, edgecolor="white", linewidth=0.3, zorder=3, hue_order=list(named.values()),
                        palette=[ARM_COLORS[a] for a in ARMS], markers=["s", "o"])
        if len(data) >= 3:
            # the pooled least-squares line; no band (seaborn's band is bootstrapped: a seed-dependent figure)
            sns.regplot(data=data, x=xcol, y=ycol, ax=ax, scatter=False, ci=None, color="#333333",
                        line_kws={"linewidth": 0.9})
            r = pooled_correlation(data, xcol, ycol)
            ax.set_title(f"Pooled Pearson r = {fmt.number(r['r'])}, p {fmt.p_value(r['p'], relation=True)} "
                         f"(n = {r['n']})", fontsize=6.5)
        ax.axhline(0, color="#BBBBBB", linewidth=0.5, zorder=0)
        ax.axvline(0, color="#BBBBBB", linewidth=0.5, zorder=0)
        ax.set_xlabel(f"Change in {ANALYTE_LABELS.get(analyte, analyte).lower()} (pg/mL, post − pre)")
        ax.set_ylabel(f"Change in {SCORE_LABELS.get(score, score)}")
        ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # score points: no "2.5" ticks
    handles, labels_ = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, labels_, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(pad=0.4, w_pad=1.5, rect=(0, 0.08, 1, 1))
    return fig


def effects_markdown(effects: pd.DataFrame, labels: Mapping[str, str] = ANALYTE_LABELS) -> str:
    """The forest plot's numbers as a Markdown pipe table (aggregate values only), formatted by
    :mod:`helpers.formatting`."""
    order = {m: i for i, m in enumerate(ANALYTES)}
    eff = effects.assign(_o=effects["measure"].map(order)).sort_values(["_o", "arm"])
    shown = pd.DataFrame({
        "Analyte": [labels.get(m, m) for m in eff["measure"]],
        "Arm": [ARM_LABELS.get(a, a) for a in eff["arm"]],
        "n": [fmt.count(n) for n in eff["n"]],
        "t": [fmt.number(t, 3) for t in eff["t"]],
        "p": [fmt.p_value(p) for p in eff["p"]],
        "p (Bonferroni)": [fmt.p_value(p) for p in eff["p_bonferroni"]],
        "d~z~ [95% CI]": [fmt.ci(d, lo, hi) for d, lo, hi in zip(eff["d_z"], eff["d_z_low"], eff["d_z_high"],
                                                                  strict=True)],
        "d~av~": [fmt.number(d) for d in eff["d_av"]],
    })
    return tables.to_markdown(shown)


# --------------------------------------------------------------------------------------------------------------
# methods table and the published values the discussion checks
# --------------------------------------------------------------------------------------------------------------
def _num_text(x: float) -> str:
    """An assay limit as the manufacturer prints it: up to two decimals below 100 ("0.05", "8"), whole above."""
    return fmt.number(x, 2).rstrip("0").rstrip(".") if x < 100 else fmt.number(x, 0)


def assay_markdown(path: str | Path = ASSAYS_YAML) -> str:
    """Assay characteristics (replicates, lower limit of sensitivity, range) as a Markdown table."""
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    shown = pd.DataFrame([{"Analyte": ANALYTE_LABELS[a], "Replicates": str(spec[a].get("replicates", "")),
                           "Lower limit of sensitivity (pg/mL)": _num_text(float(spec[a]["llod"])),
                           "Upper end of range (pg/mL)": _num_text(float(spec[a]["uloq"]))} for a in ANALYTES])
    return tables.to_markdown(shown)


def paper_checks(path: str | Path = PAPER_VALUES, n_tests: int = 12) -> dict[str, tuple[float, str]]:
    """Quantities derived from the article's printed values (key -> (value, description)) for the discussion.

    d_z implied by a printed paired t: |t| / sqrt(df + 1); Bonferroni p over ``n_tests`` from a printed p.
    """
    paper = pd.read_csv(path).set_index("key")["paper_value"].astype(float)
    out: dict[str, tuple[float, str]] = {
        "paper.pam.cp_mean": (paper["t1.pam_raw.cp_mean"], "PAM, CP mean as printed in the article's Table 1"),
        "paper.pam.hc_mean": (paper["t1.pam_mean.hc_mean"], "PAM, HC mean as printed in the article's Table 1"),
    }
    for stem, name in (("rm.posthoc.oxytocin.mbpm", "oxytocin_mbpm"), ("rm.posthoc.il1b.wl", "il1b_wl")):
        t, df, p, d = (paper[f"{stem}.{x}"] for x in ("t", "df", "p", "d_z"))  # the d_z row holds the printed d
        out[f"paper.{name}.d"] = (d, f"Cohen's d as printed, {name}")
        out[f"paper.{name}.dz_from_t"] = (abs(t) / math.sqrt(df + 1), f"|t| / sqrt(n) from the printed t, {name}")
        out[f"paper.{name}.p_bonferroni"] = (min(1.0, p * n_tests), f"printed p x {n_tests} (Bonferroni), {name}")
    return out
