"""The study's canonical names shared by the package: the six salivary analytes (column and level names, the
order of the paper's tables) and their display labels (units are pg/mL throughout, see assays.yaml); the arms and
cohorts with their labels and colours (colour-blind-safe palette of Okabe & Ito, 2008)."""

ANALYTES = ("oxytocin", "il1b", "il6", "il8", "tnfa", "dheas")
ANALYTE_LABELS = {
    "oxytocin": "Oxytocin",
    "il1b": "IL-1β",
    "il6": "IL-6",
    "il8": "IL-8",
    "tnfa": "TNF-α",
    "dheas": "DHEA-S",
}

# Okabe & Ito (2008) palette.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
ARM_COLORS = {"MBPM": OKABE_ITO["blue"], "WL": OKABE_ITO["orange"]}
COHORT_COLORS = {"CP": OKABE_ITO["vermillion"], "HC": OKABE_ITO["bluish_green"]}
ARM_LABELS = {"MBPM": "MBPM", "WL": "Wait-list"}
ARMS = ("MBPM", "WL")
