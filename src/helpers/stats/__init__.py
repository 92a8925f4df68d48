"""Statistics for the report: tests not offered as such by scipy, pingouin or statsmodels."""

from helpers.stats.rmanova import CONVENTIONS, MixedAnovaResult, mixed_anova, time_group_anova

__all__ = ["CONVENTIONS", "MixedAnovaResult", "mixed_anova", "time_group_anova"]
