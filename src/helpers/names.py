"""The study's canonical names shared by the package: the six salivary analytes (column and level names, the
order of the paper's tables) and their display labels. Units are pg/mL throughout (see assays.yaml)."""

ANALYTES = ("oxytocin", "il1b", "il6", "il8", "tnfa", "dheas")
ANALYTE_LABELS = {
    "oxytocin": "Oxytocin",
    "il1b": "IL-1β",
    "il6": "IL-6",
    "il8": "IL-8",
    "tnfa": "TNF-α",
    "dheas": "DHEA-S",
}
