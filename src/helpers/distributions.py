"""Distribution plots of the questionnaire scores (02_scoring).

Kept apart from :mod:`helpers.figures` on purpose: the pipeline re-runs a notebook when any helper module it
imports changes, and figures imports the statistics modules; 02_scoring needs none of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import matplotlib.pyplot as plt
import pandas as pd

from helpers.names import COHORT_COLORS


def plot_score_distributions(data: pd.DataFrame, columns: Iterable[str], group: str = "cohort",
                             ncols: int = 6) -> plt.Figure:
    """One box plot panel per score column of ``data`` (one row per participant), a box per ``group`` level
    (sorted): quartiles, median, whiskers at 1.5 interquartile ranges (Tukey), points beyond them. Each panel
    has its own scale; missing values are left out per column.

    Drawn with matplotlib's ``boxplot`` directly (seaborn's ``catplot`` took ~10 s for 32 panels)."""
    columns = list(columns)
    levels = sorted(data[group].dropna().unique())
    nrows = max(1, math.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.7, nrows * 1.9), squeeze=False)
    for ax in axes.flat[len(columns):]:
        ax.set_visible(False)
    for ax, column in zip(axes.flat, columns, strict=False):
        values = [data.loc[data[group] == level, column].dropna().to_numpy(float) for level in levels]
        boxes = ax.boxplot(values, tick_labels=levels, widths=0.6, patch_artist=True,
                           medianprops={"color": "black", "linewidth": 1.0, "gid": "median"},
                           flierprops={"marker": "o", "markersize": 2, "markeredgewidth": 0.4})
        for patch, level in zip(boxes["boxes"], levels, strict=True):
            patch.set_facecolor(COHORT_COLORS.get(level, "0.8"))
            patch.set_alpha(0.55)
        ax.set_title(column, fontsize=7)
        ax.tick_params(labelsize=6)
    # fixed spacing: tight_layout measures every artist of every panel (~2 s for 32 panels)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.03, top=0.97, wspace=0.45, hspace=0.4)
    return fig
