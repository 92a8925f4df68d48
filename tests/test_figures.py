"""helpers.figures: the statistics drawn, the flow counts, and the files written (journal size, dpi, determinism)."""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers import figures

ARMS = {"MBPM": 16, "WL": 12}


@pytest.fixture(scope="module")
def trial_data():
    """A small trial: six analytes and two scores at pre and post; oxytocin rises in MBPM only."""
    rng = np.random.default_rng(7)
    roster, bio, scores = [], [], []
    i = 0
    for arm, n in ARMS.items():
        for _ in range(n):
            i += 1
            rid = f"T{i:03d}"
            roster.append({"record_id": rid, "cohort": "CP", "arm": arm})
            level = {a: 10 ** rng.uniform(0, 3) for a in figures.ANALYTES}
            for visit in ("pre", "post"):
                for a in figures.ANALYTES:
                    lift = 1.4 if (arm == "MBPM" and visit == "post" and a == "oxytocin") else 1.0
                    bio.append({"record_id": rid, "visit": visit, "analyte": a,
                                "value": level[a] * lift * math.exp(rng.normal(0, 0.1))})
                scores.append({"record_id": rid, "visit": visit, "sfmpq_total": rng.normal(15, 5),
                               "bdi_total": rng.normal(12, 5)})
    roster.append({"record_id": "H001", "cohort": "HC", "arm": "none"})
    bio.append({"record_id": "H001", "visit": "pre", "analyte": "oxytocin", "value": 30.0})
    roster, bio, scores = pd.DataFrame(roster), pd.DataFrame(bio), pd.DataFrame(scores)
    bio = bio[~((bio["record_id"] == "T001") & (bio["analyte"] == "oxytocin") & (bio["visit"] == "post"))]
    trial = figures.trial_roster(roster)
    long = figures.paired_long(bio, trial)
    return {"roster": roster, "trial": trial, "long": long, "wide": figures.wide_pairs(long),
            "score_wide": figures.wide_pairs(figures.paired_long(scores, trial, ["sfmpq_total", "bdi_total"]))}


def test_trial_roster_and_complete_pairs(trial_data):
    assert set(trial_data["trial"]["arm"]) == {"MBPM", "WL"}
    assert "H001" not in set(trial_data["long"]["record_id"])
    wide = trial_data["wide"]
    n_oxt = wide[(wide["measure"] == "oxytocin") & (wide["arm"] == "MBPM")]["record_id"].nunique()
    assert n_oxt == ARMS["MBPM"] - 1  # T001 lost its post oxytocin sample: incomplete pair dropped
    n_il6 = wide[(wide["measure"] == "il6") & (wide["arm"] == "MBPM")]["record_id"].nunique()
    assert n_il6 == ARMS["MBPM"]


@pytest.mark.parametrize("use_team", [True, False])
def test_paired_effects_match_scipy(trial_data, use_team, monkeypatch):
    if not use_team:
        monkeypatch.setattr(figures, "_paired_effects_team", lambda *a, **k: (_ for _ in ()).throw(ImportError()))
        eff = figures._paired_effects_scipy(trial_data["wide"], n_tests=12)
    else:
        eff = figures.paired_effects(trial_data["wide"])
    wide = trial_data["wide"]
    for (measure, arm), grp in wide.groupby(["measure", "arm"]):
        row = eff[(eff["measure"] == measure) & (eff["arm"] == arm)].iloc[0]
        res = stats.ttest_rel(grp["pre"], grp["post"])
        n = len(grp)
        assert row["n"] == n
        assert row["t"] == pytest.approx(res.statistic)
        assert row["p"] == pytest.approx(res.pvalue)
        assert row["p_bonferroni"] == pytest.approx(min(1.0, 12 * res.pvalue))
        assert row["d_z"] == pytest.approx(-res.statistic / math.sqrt(n))  # d_z = |t|/sqrt(n), signed post - pre
        assert row["d_z_low"] < row["d_z"] < row["d_z_high"]
    oxt = eff[(eff["measure"] == "oxytocin") & (eff["arm"] == "MBPM")].iloc[0]
    assert oxt["d_z"] > 0.5 and oxt["d_z_low"] > 0  # the planted rise is found


def test_dz_confidence_interval_inverts_noncentral_t():
    t, n = 2.302, 14
    lo, hi = figures.dz_confidence_interval(t, n)
    assert stats.nct.cdf(t, n - 1, lo * math.sqrt(n)) == pytest.approx(0.975, abs=1e-6)
    assert stats.nct.cdf(t, n - 1, hi * math.sqrt(n)) == pytest.approx(0.025, abs=1e-6)
    lo0, hi0 = figures.dz_confidence_interval(0.0, 10)
    assert lo0 == pytest.approx(-hi0)
    assert figures.dz_confidence_interval(-t, n) == pytest.approx((-hi, -lo))


def test_flow_counts_come_from_results_and_are_drawn():
    results = {"flow.n_total": 65, "flow.n_cp": 50, "flow.n_hc": 15, "flow.n_mbpm_analysed": 15.0}
    counts = figures.flow_counts(results)
    assert counts["total"] == 65 and counts["mbpm_analysed"] == 15
    assert counts["wl_analysed"] is None  # missing keys are not invented
    fig = figures.plot_flow(counts)
    texts = " | ".join(t.get_text() for t in fig.axes[0].texts)
    figures.plt.close(fig)
    assert "n = 65" in texts and "n = 50" in texts and "n = 15" in texts
    assert "n = ?" in texts


def _png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(33)
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow  # draws and saves every figure twice
def test_figures_are_journal_sized_300dpi_and_byte_identical(trial_data, tmp_path):
    figures.set_style()
    outputs = []
    for run in ("a", "b"):
        fig = figures.plot_trajectories(trial_data["long"])
        outputs.append(figures.save_figure(fig, "traj", tmp_path / run))
        figures.plt.close(fig)
    for kind in ("svg", "png"):
        assert outputs[0][kind].read_bytes() == outputs[1][kind].read_bytes(), f"{kind} differs between runs"
    width_px, _ = _png_size(outputs[0]["png"])
    assert width_px == pytest.approx(figures.DOUBLE_COLUMN_MM / 25.4 * 300, abs=2)
    svg = outputs[0]["svg"].read_text()
    assert "<dc:date>" not in svg


def test_forest_and_change_plots_use_the_colour_blind_safe_palette(trial_data, tmp_path):
    figures.set_style()
    eff = figures.paired_effects(trial_data["wide"])
    fig = figures.plot_forest(eff)
    colors = {line.get_color() for line in fig.axes[0].lines if line.get_color() != "#555555"}
    figures.plt.close(fig)
    okabe = {c.upper() for c in figures.OKABE_ITO.values()} | {"#DDDDDD"}
    assert {c.upper() for c in colors if c.startswith("#")} <= okabe
    width_in = figures.figure_size(figures.SINGLE_COLUMN_MM, 10)[0]
    assert width_in == pytest.approx(85 / 25.4)
    changes = figures.change_table(trial_data["wide"], trial_data["score_wide"])
    r = figures.pooled_correlation(changes, "oxytocin_change", "bdi_total_change")
    data = changes[["oxytocin_change", "bdi_total_change"]].dropna()
    assert r["n"] == len(data) and r["r"] == pytest.approx(stats.pearsonr(data.iloc[:, 0], data.iloc[:, 1])[0])
    saved = []
    for run in ("a", "b"):
        fig = figures.plot_change_scatter(changes)
        assert len(fig.axes) == 2
        saved.append(figures.save_figure(fig, "change", tmp_path / run))
        figures.plt.close(fig)
    assert saved[0]["svg"].read_bytes() == saved[1]["svg"].read_bytes()  # seaborn's fit line has no random band
    assert fig.axes[0].get_title().startswith("Pooled Pearson r = ") and "-" not in fig.axes[0].get_title()
    legend = [t.get_text() for t in fig.legends[0].texts]
    assert legend == [f"MBPM (n = {sum(changes.dropna(subset=['sfmpq_total_change']).arm == 'MBPM')})",
                      f"Wait-list (n = {sum(changes.dropna(subset=['sfmpq_total_change']).arm == 'WL')})"]


def test_effects_table_is_aggregate_markdown(trial_data):
    md = figures.effects_markdown(figures.paired_effects(trial_data["wide"]))
    assert md.startswith("| Analyte ")
    assert "T0" not in md  # no record ids
    assert len(md.strip().splitlines()) == 2 + 12
    assert "\u2212" in md and not re.search(r"(?<![A-Z])-\d", md)  # true minus signs (IL-6 is a name)
    assert "d~z~ [95% CI]" in md.splitlines()[0]  # a real subscript in every output format


def test_paper_checks_recompute_the_anomalies():
    checks = figures.paper_checks()
    assert checks["paper.oxytocin_mbpm.dz_from_t"][0] == pytest.approx(2.302 / math.sqrt(14))
    assert checks["paper.il1b_wl.dz_from_t"][0] == pytest.approx(3.084 / math.sqrt(13))
    assert checks["paper.oxytocin_mbpm.p_bonferroni"][0] == pytest.approx(0.456)
    assert checks["paper.oxytocin_mbpm.d"][0] == pytest.approx(0.68)


def test_assay_table_lists_the_six_analytes():
    md = figures.assay_markdown()
    for label in figures.ANALYTE_LABELS.values():
        assert f"| {label} " in md
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines()]
    assert ["Oxytocin", "3", "8", "1,000"] in rows and ["DHEA-S", "2", "95.14", "15,300"] in rows



def test_trajectories_sample_patient_lines_but_not_the_means():
    rng = np.random.default_rng(5)
    n = 50
    long = pd.DataFrame({"record_id": np.repeat(np.arange(n), 2), "visit": ["pre", "post"] * n,
                         "arm": np.repeat(np.where(np.arange(n) < 30, "MBPM", "WL"), 2),
                         "measure": "oxytocin", "value": rng.lognormal(3, 0.5, 2 * n)})
    full = figures.plot_trajectories(long, measures=["oxytocin"], ncols=1)
    capped = figures.plot_trajectories(long, measures=["oxytocin"], ncols=1, max_lines=10)
    lines = [[len(c.get_segments()) for c in f.axes[0].collections if (c.get_gid() or "").startswith("patients")]
             for f in (full, capped)]
    assert lines[0][:2] == [30, 20] and lines[1][:2] == [10, 10]
    means = [[ln.get_ydata().tolist() for ln in f.axes[0].lines] for f in (full, capped)]
    assert means[0] == means[1]  # the arm means and CIs use every patient
    assert "random patients" in capped.legends[0].texts[0].get_text()
    assert "individual patients" in full.legends[0].texts[0].get_text()
    for f in (full, capped):
        figures.plt.close(f)
