"""helpers.distributions: the score box plots of 02_scoring."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import distributions


def test_score_distributions_one_panel_per_score_and_tukey_boxes():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"cohort": ["CP"] * 30 + ["HC"] * 20,
                         "bdi_total": np.r_[rng.normal(15, 5, 30), rng.normal(4, 2, 20)],
                         "pcs_total": np.r_[rng.normal(20, 8, 30), [np.nan] * 5, rng.normal(6, 3, 15)]})
    fig = distributions.plot_score_distributions(data, ["bdi_total", "pcs_total"], ncols=6)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["bdi_total", "pcs_total"]
    for ax, column in zip(shown, ["bdi_total", "pcs_total"], strict=True):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["CP", "HC"]
        # matplotlib draws the median as a line at the group's median (missing values left out)
        medians = [line.get_ydata()[0] for line in ax.lines if line.get_gid() == "median"]
        expected = [np.nanmedian(data.loc[data["cohort"] == c, column]) for c in ("CP", "HC")]
        np.testing.assert_allclose(medians, expected)
    plt.close(fig)
