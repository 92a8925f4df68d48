"""Statistics for the report: tests not offered as such by scipy, pingouin or statsmodels."""

from helpers.stats import group_tests as group_tests  # Table 1 / Table 2 tests, effect sizes, corrections
from helpers.stats import robustness as robustness  # log RM-ANOVA, per-analyte MixedLM, change correlations
from helpers.stats.rmanova import CONVENTIONS, MixedAnovaResult, mixed_anova, time_group_anova

__all__ = ["CONVENTIONS", "MixedAnovaResult", "mixed_anova", "time_group_anova"]
