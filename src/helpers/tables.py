"""Manuscript tables: Table 1 (CP vs HC), Table 2 (pre/post within arms), ANOVA and robustness tables.

Each ``*_table`` function turns a tidy statistics frame (from :mod:`helpers.stats`) into a display frame of
strings formatted as a journal prints them: mean (SD) to two decimals, test statistics to three, p to three
decimals or "< 0.001". :func:`save_table` writes the display frame as a Markdown pipe table
(``build_dir/tables/<label>.md``, notes below the table) and the full-precision statistics frame as parquet
(``build_dir/tables/<label>.parquet``) and returns the Markdown for ``IPython.display.Markdown``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import tabulate

from helpers import io
from helpers.formatting import NBSP, ci, df, mean_sd, number, p_value, percent, statistic
from helpers.names import ANALYTE_LABELS
from helpers.names import ANALYTES as ANALYTES  # re-exported: the notebooks read tables.ANALYTES

# Clinical scores in the order of the paper's Table 1 (then the remaining ones), with display labels.
SCORE_LABELS = {
    "promis_pain_interference": "PROMIS-29 pain interference (raw)",
    "promis_pain_intensity": "PROMIS-29 pain intensity (0-10)",
    "promis_physical_function": "PROMIS-29 physical function (raw)",
    "promis_anxiety": "PROMIS-29 anxiety (raw)",
    "promis_depression": "PROMIS-29 depression (raw)",
    "promis_fatigue": "PROMIS-29 fatigue (raw)",
    "promis_sleep_disturbance": "PROMIS-29 sleep disturbance (raw)",
    "promis_social_roles": "PROMIS-29 social roles (raw)",
    "sfmpq_total": "McGill pain (SF-MPQ total)",
    "sfmpq_sensory": "SF-MPQ sensory",
    "sfmpq_affective": "SF-MPQ affective",
    "pam_raw": "PAM-13 raw sum",
    "pam_mean": "PAM-13 item mean",
    "pam_activation": "PAM-13 activation (0-100)",
    "pcs_total": "Pain Catastrophizing Scale total",
    "pcs_rumination": "PCS rumination",
    "pcs_magnification": "PCS magnification",
    "pcs_helplessness": "PCS helplessness",
    "bdi_total": "BDI-II total",
    "maia_noticing": "MAIA Noticing",
    "maia_not_distracting": "MAIA Not-Distracting",
    "maia_not_worrying": "MAIA Not-Worrying",
    "maia_attention_regulation": "MAIA Attention Regulation",
    "maia_emotional_awareness": "MAIA Emotional Awareness",
    "maia_self_regulation": "MAIA Self-Regulation",
    "maia_body_listening": "MAIA Body Listening",
    "maia_trusting": "MAIA Trusting",
    "ffmq_observing": "FFMQ Observing",
    "ffmq_describing": "FFMQ Describing",
    "ffmq_acting_with_awareness": "FFMQ Acting with awareness",
    "ffmq_nonjudging": "FFMQ Non-judging",
    "ffmq_nonreactivity": "FFMQ Non-reactivity",
    "ffmq_total": "FFMQ total",
}
CLINICAL_SCORES = list(SCORE_LABELS)
DEMOGRAPHIC_LABELS = {"age": "Age (years)", "gender": "Gender", "race": "Race", "ethnicity": "Ethnicity"}
LABELS = {**DEMOGRAPHIC_LABELS, **SCORE_LABELS, **{a: f"{lab} (pg/mL)" for a, lab in ANALYTE_LABELS.items()}}


def label(name: str) -> str:
    """Display label of a score, analyte or demographic column (the name itself when unknown)."""
    return LABELS.get(name, name)


# Symbols as Markdown sub/superscripts: real subscripts in HTML, Word and JATS alike (pandoc's ~sub~ syntax)
D_Z, D_AV, PES = "d~z~", "d~av~", "η²~p~"
INDENT = "\u2003"  # an em space: category levels under their variable, variables under a section heading
NUMERIC_CELL = re.compile(r"^[<>=]?\s?[\d\u2212\[(]")


def _alignment(column: pd.Series) -> str:
    """"right" for a column of numbers (every non-empty cell starts like one), else "left"."""
    cells = [c for c in column.astype(str) if c.strip()]
    return "right" if cells and all(NUMERIC_CELL.match(c) for c in cells) else "left"


def to_markdown(display: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    """A display frame (strings) as a Markdown pipe table, followed by its notes, one paragraph each.

    Numeric columns are right-aligned and the first column keeps its leading em spaces (:data:`INDENT`), which
    indent category levels under their variable in every output format."""
    align = ["left", *(_alignment(display[c]) for c in display.columns[1:])]
    body = tabulate.tabulate(display.astype(str).values.tolist(), headers=list(display.columns), tablefmt="pipe",
                             disable_numparse=True, colalign=align, preserve_whitespace=True)
    return body + ("\n\n" + "\n\n".join(notes) if notes else "") + "\n"


def save_table(display: pd.DataFrame, label_: str, build_dir: str = "build", data: pd.DataFrame | None = None,
               notes: Sequence[str] = ()) -> str:
    """Write ``tables/<label>.md`` (display + notes) and ``tables/<label>.parquet`` (``data``, the full-precision
    statistics, or the display frame when not given) under ``build_dir``; return the Markdown."""
    md = to_markdown(display, notes)
    out = io.output_path(io.project_path(build_dir) / "tables")  # outside the pipeline: the scratch folder
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{label_}.md").write_text(md, encoding="utf-8")
    io.write_table((data if data is not None else display).reset_index(drop=True), out / f"{label_}.parquet")
    return md


# --- Table 1 -------------------------------------------------------------------------------------------------------

DAGGER = "†"  # marks a Table 1 statistic whose test was chosen otherwise than by the stated rule (see the note)


def _test_cells(row: Mapping) -> dict:
    if row["test"] == "none":  # nothing to compare (constant measure): no test is named, the note says why
        return {"Test": "not computed", "Statistic": "n.c." + (DAGGER if row.get("rule_note") else ""), "df": ""}
    if row.get("rule_note"):  # Levene undecidable: the note under the table says what was used and why
        return {"Test": "Kruskal-Wallis", "Statistic": statistic("H", row["stat"]) + DAGGER, "df": df(row["df1"])}
    if row["test"] == "ANOVA":
        return {"Test": "ANOVA", "Statistic": statistic("F", row["stat"]), "df": df(row["df1"], row["df2"])}
    return {"Test": "Kruskal-Wallis", "Statistic": statistic("H", row["stat"]), "df": df(row["df1"])}


def _n_percent(k, total) -> str:
    return f"{int(k)}\u00a0({percent(k, total)})"


def table1(comparisons: pd.DataFrame, categorical: Sequence[tuple[str, pd.DataFrame, pd.DataFrame]] = (),
           levels: Sequence[str] = ("CP", "HC"), sections: Mapping[str, Sequence[str]] | None = None,
           ) -> pd.DataFrame:
    """Display frame of Table 1.

    ``comparisons``: :func:`helpers.stats.compare_groups_many` output (continuous measures, any order).
    ``categorical``: ``(var, counts, test)`` from :func:`helpers.stats.crosstab_test`, shown as n (%) per group
    with Pearson's chi-square, its levels indented under it. ``sections``: heading -> list of dv names, to group
    rows under bold headings, the measures indented under them (measures absent from ``comparisons`` are skipped).
    A measure whose test departs from the rule carries :data:`DAGGER` on its statistic (:func:`table1_notes`).
    """
    a, b = (str(x).lower() for x in levels)
    cols = ["Measure", f"{levels[0]} n", f"{levels[0]} mean (SD)", f"{levels[1]} n", f"{levels[1]} mean (SD)",
            "Test", "Statistic", "df", "p", "", "Hedges' g [95% CI]"]
    rows: list[dict] = []
    by_dv = comparisons.set_index("dv")
    if categorical:  # counts share the column of the means: "mean (SD) or n (%)", one narrow n column per group
        cols[2], cols[4] = f"{levels[0]} mean (SD) or n (%)", f"{levels[1]} mean (SD) or n (%)"

    def continuous(dv, indent):
        r = by_dv.loc[dv]
        rows.append({"Measure": indent + label(dv), cols[1]: str(int(r[f"n_{a}"])),
                     cols[2]: mean_sd(r[f"mean_{a}"], r[f"sd_{a}"]), cols[3]: str(int(r[f"n_{b}"])),
                     cols[4]: mean_sd(r[f"mean_{b}"], r[f"sd_{b}"]), **_test_cells(r), "p": p_value(r["pval"]),
                     "": r["stars"], cols[10]: ci(r["g"], r["g_ci_low"], r["g_ci_high"])})

    def cat(var, counts, test, indent):
        t = test.iloc[0]
        tested = np.isfinite(t["chi2"])
        totals = counts.sum(axis=0)
        rows.append({"Measure": f"{indent}{label(var)}, n (%)", cols[1]: str(int(totals[levels[0]])),
                     cols[3]: str(int(totals[levels[1]])), "Test": "χ²" if tested else "",
                     "Statistic": statistic("χ²", t["chi2"]) if tested else "",
                     "df": df(t["dof"]) if tested else "", "p": p_value(t["pval"]), "": ""})
        for category, r in counts.iterrows():
            rows.append({"Measure": f"{indent}{INDENT}{category}",
                         cols[2]: _n_percent(r[levels[0]], totals[levels[0]]),
                         cols[4]: _n_percent(r[levels[1]], totals[levels[1]])})

    cats = {var: (counts, test) for var, counts, test in categorical}
    if sections is None:
        sections = {"": list(by_dv.index) + list(cats)}
    for heading, members in sections.items():
        present = [m for m in members if m in by_dv.index or m in cats]
        if not present:
            continue
        if heading:
            rows.append({"Measure": f"**{heading}**"})
        indent = INDENT if heading else ""
        for m in present:
            if m in cats:
                cat(m, *cats[m], indent)
            else:
                continuous(m, indent)
    return pd.DataFrame(rows, columns=cols).fillna("")


def table1_notes(display: pd.DataFrame, center: str, alpha: float, min_expected: float | None = None,
                 comparisons: pd.DataFrame | None = None) -> list[str]:
    """Footnotes of Table 1 (``display``: :func:`table1`'s frame as shown), generated from the rows present:
    the rule and the Levene centring; Hedges' g, χ², stars and the small expected counts only when the table
    shows them; and one † note for every shown measure whose test departs from the rule (``rule_note`` of
    ``comparisons``)."""
    centre = ("the group mean (Levene's original test, as SPSS)" if center == "mean"
              else "the group median (Brown-Forsythe, R car's default)")
    cells = display.astype(str)
    shows = lambda text: cells.apply(lambda col: col.str.contains(text, regex=False)).any().any()  # noqa: E731
    chi2 = shows("χ²")
    note = (f"*Note.* Levene's test of equal variances centred on {centre}; when it was not significant "
            f"(p ≥ {alpha:g}) the groups were compared by one-way ANOVA (F), otherwise by the Kruskal-Wallis H "
            "test (H) (the paper's rule).")
    if any(c.startswith("Hedges' g") for c in display.columns):
        note += " Hedges' g: CP minus HC in pooled-SD units, 95% CI after Hedges & Olkin (1985)."
    if chi2:
        note += " Categorical variables: Pearson's χ² test of independence without continuity correction."
    if "" in display.columns and (cells[""] != "").any():
        note += " \\* p < 0.05, \\*\\* p < 0.01, \\*\\*\\* p < 0.001 (unadjusted)."
    notes = [note]
    if chi2 and min_expected is not None and np.isfinite(min_expected) and min_expected < 5:
        notes.append(f"Some expected cell counts of the χ² tests are below 5 (smallest {number(min_expected)}): "
                     "those p-values are approximate.")
    if comparisons is not None and "rule_note" in comparisons and shows(DAGGER):
        shown = {m.strip(INDENT) for m in cells["Measure"]}
        odd = comparisons[(comparisons["rule_note"].fillna("") != "") & comparisons["dv"].map(label).isin(shown)]
        if len(odd):
            notes.append(DAGGER + " " + "; ".join(f"{label(r['dv'])}: {r['rule_note']}" for _, r in odd.iterrows())
                         + ".")
    return notes


# --- Table 2 -------------------------------------------------------------------------------------------------------

def table2(posthoc: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Display frame of Table 2 from :func:`helpers.stats.posthoc_paired` output (one or several families
    concatenated): one row per measure x group, measures in ``order`` (default: as they come)."""
    adj = {"bonferroni": "p (Bonferroni)", "holm": "p (Holm)", "fdr_bh": "p (FDR)"}
    method = str(posthoc["correction"].iloc[0]) if "correction" in posthoc else "bonferroni"
    cols = ["Measure", "Group", "n", "Pre mean (SD)", "Post mean (SD)", "t", "df", "p", adj.get(method, "p adj."),
            "", D_Z, D_AV]
    order = list(order) if order is not None else list(dict.fromkeys(posthoc["dv"]))
    rows = []
    for dv in order:
        sub = posthoc[posthoc["dv"] == dv]
        for i, (_, r) in enumerate(sub.iterrows()):
            rows.append({"Measure": label(dv) if i == 0 else "", "Group": r["group"], "n": str(int(r["n"])),
                         "Pre mean (SD)": mean_sd(r["mean_pre"], r["sd_pre"]),
                         "Post mean (SD)": mean_sd(r["mean_post"], r["sd_post"]),
                         "t": number(r["T"], 3) if pd.notna(r["T"]) else "n.c.‡", "df": df(r["dof"]),
                         "p": p_value(r["pval"]),
                         cols[8]: p_value(r["p_adj"]), "": _stars(r["p_adj"]),
                         D_Z: number(r["d_z"]), D_AV: number(r["d_av"])})
    return pd.DataFrame(rows, columns=cols).fillna("")


def _stars(p):
    from helpers.stats.group_tests import stars

    return stars(p)


def table2_notes(posthoc: pd.DataFrame) -> list[str]:
    """Footnotes of Table 2: sign convention, the correction families, the two d's."""
    fams = posthoc.groupby("family", sort=False)
    method = {"bonferroni": "Bonferroni", "holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}.get(
        str(posthoc["correction"].iloc[0]), str(posthoc["correction"].iloc[0]))
    parts = []
    for name, sub in fams:
        k = int(sub["family_size"].iloc[0])
        text = f"{name}: {k} tests = {sub['group'].nunique()} arms × {sub['dv'].nunique()} measures"
        if name == "clinical scores":
            text += " (PAM-13 enters once, as its item mean: the raw sum is 13 × the item mean, the same test)"
        parts.append(text)
    notes = [f"*Note.* Paired t-tests on complete pairs, t = (pre − post) / SE as in SPSS's pair order, so a rise "
             f"gives a negative t. {method}-adjusted p within each family ({'; '.join(parts)}). "
             "Stars refer to the adjusted p. d~z~ = mean change / SD of the changes (= |t|/√n); d~av~ = mean change / "
             "mean of the pre and post SDs (Lakens 2013); both positive when values rose."]
    if "note" in posthoc:
        nc = posthoc[posthoc["note"].fillna("") != ""]
        if len(nc):
            notes.append("‡ Not computed (the test stays in its family, whose size is the planned number): "
                         + "; ".join(f"{label(r['dv'])} in {r['group']}: {r['note']}" for _, r in nc.iterrows())
                         + ".")
    return notes


# --- ANOVA tables --------------------------------------------------------------------------------------------------

def anova_table(tab: pd.DataFrame, columns: Mapping[str, tuple[str, str]], effect_col: str = "Source",
                effect_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Generic display of an ANOVA-like table. ``columns`` maps source column -> (display name, format) where
    format is ``"p"``, ``"df"``, ``"int"``, ``"str"`` or a number of decimals as a string (``"3"``)."""
    out = pd.DataFrame()
    for col, (name, fmt) in columns.items():
        if col not in tab:
            continue
        v = tab[col]
        if fmt == "p":
            out[name] = v.map(p_value)
        elif fmt == "df":
            out[name] = v.map(lambda d: df(d))
        elif fmt == "int":
            out[name] = v.map(lambda d: "" if pd.isna(d) else str(int(d)))
        elif fmt == "str":
            out[name] = v.astype(str).map(lambda s: (effect_labels or {}).get(s, s)) if col == effect_col \
                else v.astype(str)
        else:
            out[name] = v.map(lambda d, k=int(fmt): number(d, k))
    return out.fillna("")


# --- analysis frames -----------------------------------------------------------------------------------------------

DEMOGRAPHICS = ["age", "gender", "race", "ethnicity"]


def _biomarkers_wide(biomarkers: pd.DataFrame) -> pd.DataFrame:
    """Long biomarkers (record_id, visit, analyte, value) -> one row per record_id x visit, one column per analyte."""
    w = biomarkers.pivot_table(index=["record_id", "visit"], columns="analyte", values="value", aggfunc="first",
                               observed=True)
    w.columns = [str(c) for c in w.columns]
    return w.reset_index()


def measures_by_visit(scores: pd.DataFrame, biomarkers: pd.DataFrame) -> pd.DataFrame:
    """Scores and analytes side by side: one row per record_id x visit (outer join), analytes as columns."""
    bio = _biomarkers_wide(biomarkers)
    return scores.merge(bio, on=["record_id", "visit"], how="outer").sort_values(["record_id", "visit"],
                                                                               ignore_index=True)


def baseline_data(roster: pd.DataFrame, scores: pd.DataFrame, biomarkers: pd.DataFrame,
                  visit: str = "pre") -> pd.DataFrame:
    """Table 1's frame: one row per roster participant, demographics + every score and analyte at ``visit``."""
    m = measures_by_visit(scores, biomarkers)
    m = m[m["visit"] == visit].drop(columns="visit")
    keep = ["record_id", "cohort", "arm", *[c for c in DEMOGRAPHICS if c in roster]]
    return roster[keep].merge(m, on="record_id", how="left").sort_values("record_id", ignore_index=True)


def trial_analysis_mask(roster: pd.DataFrame, arms: Sequence[str] = ("MBPM", "WL"),
                        flag: str = "analysed") -> pd.Series:
    """Who is in the trial analyses: the roster's ``flag`` column when 01_ingest provides it, else the
    allocated patients of ``arms`` who did not drop out."""
    if flag in roster:
        return roster[flag].astype(bool) & roster["arm"].isin(arms)
    mask = roster["arm"].isin(arms)
    if "dropout" in roster:
        mask &= roster["dropout"].fillna(0).astype(int) == 0
    return mask


def trial_data(roster: pd.DataFrame, scores: pd.DataFrame, biomarkers: pd.DataFrame,
               arms: Sequence[str] = ("MBPM", "WL"), flag: str = "analysed") -> pd.DataFrame:
    """The trial's frame: analysed patients (:func:`trial_analysis_mask`) x visit (pre, post), arm + every
    score and analyte as columns."""
    ids = roster.loc[trial_analysis_mask(roster, arms, flag), ["record_id", "arm"]]
    m = measures_by_visit(scores, biomarkers)
    m = m[m["visit"].isin(["pre", "post"])]
    return ids.merge(m, on="record_id", how="inner").sort_values(["record_id", "visit"], ascending=[True, False],
                                                                ignore_index=True)


def arm_ages(roster: pd.DataFrame, arms: Sequence[str] = ("MBPM", "WL"), flag: str = "analysed") -> pd.DataFrame:
    """Age (years) of the analysed trial patients (:func:`trial_analysis_mask`) per arm: ``n``, ``mean`` and
    ``sd`` (n - 1 denominator), as the source article reports them for the analysed sample (its section 2.1)."""
    analysed = roster.loc[trial_analysis_mask(roster, arms, flag)]
    out = analysed.groupby("arm")["age"].agg(n="count", mean="mean", sd="std")
    return out.reindex(list(arms))


# --- results keys --------------------------------------------------------------------------------------------------

EFFECT_KEYS = {"visit": "time", "analyte": "biomarker", "arm": "group"}
_EFFECT_ORDER = ["time", "biomarker", "group"]


def effect_key(effect: str) -> str:
    """``arm:visit:analyte`` -> ``time_biomarker_group`` (factor names mapped, then time, biomarker, group)."""
    parts = [EFFECT_KEYS.get(p, p) for p in effect.split(":")]
    return "_".join(sorted(parts, key=lambda p: _EFFECT_ORDER.index(p) if p in _EFFECT_ORDER else 99))


def effect_label(effect: str) -> str:
    """``arm:visit:analyte`` -> ``Time × Biomarker × Group``."""
    return " × ".join(p.capitalize() for p in effect_key(effect).split("_"))


def table1_results(comp: pd.DataFrame, categorical=()) -> tuple[dict, dict]:
    """Results keys of Table 1: ``t1.<dv>.{cp,hc}_{n,mean,sd}``, ``.test``, ``.stat``, ``.df1``, ``.df2``, ``.p``,
    Levene, both tests, Hedges' g; ``t1.<var>.chi2/.dof/.p`` for categorical variables."""
    v, d = {}, {}

    def put(key, value, desc):
        v[key], d[key] = value, desc

    for _, r in comp.iterrows():
        k = f"t1.{r['dv']}"
        for g in ("cp", "hc"):
            put(f"{k}.{g}_n", int(r[f"n_{g}"]), f"{label(r['dv'])}: n, {g.upper()} at baseline")
            put(f"{k}.{g}_mean", r[f"mean_{g}"], f"{label(r['dv'])}: mean, {g.upper()} at baseline")
            put(f"{k}.{g}_sd", r[f"sd_{g}"], f"{label(r['dv'])}: SD, {g.upper()} at baseline")
        put(f"{k}.test", r["test"], f"{label(r['dv'])}: test chosen by Levene's rule")
        for s, desc in (("stat", "statistic of the chosen test (F or H)"), ("df1", "df (numerator)"),
                        ("p", "p of the chosen test"), ("levene_w", "Levene W"), ("levene_p", "Levene p"),
                        ("anova_f", "one-way ANOVA F"), ("anova_p", "one-way ANOVA p"), ("kw_h", "Kruskal-Wallis H"),
                        ("kw_p", "Kruskal-Wallis p"), ("g", "Hedges' g (CP - HC)"), ("g_ci_low", "Hedges' g 95% CI low"),
                        ("g_ci_high", "Hedges' g 95% CI high")):
            col = {"levene_w": "levene_W", "anova_f": "anova_F", "kw_h": "kw_H", "p": "pval"}.get(s, s)
            put(f"{k}.{s}", r[col], f"{label(r['dv'])}: {desc}, CP vs HC")
        if np.isfinite(r["df2"]):
            put(f"{k}.df2", r["df2"], f"{label(r['dv'])}: df (denominator) of the ANOVA, CP vs HC")
    for var, _, test in categorical:
        t = test.iloc[0]
        for s, col in (("chi2", "chi2"), ("dof", "dof"), ("p", "pval")):
            put(f"t1.{var}.{s}", t[col], f"{label(var)}: Pearson chi-square {s}, CP vs HC")
    return v, d


def posthoc_results(posthoc: pd.DataFrame, prefix: str) -> tuple[dict, dict]:
    """Results keys ``<prefix>.<dv>.<arm>.{n,t,df,p,p_adj,d_z,d_av,mean_diff,mean_pre,sd_pre,mean_post,sd_post}``
    and ``<prefix>.family_size``."""
    v, d = {}, {}
    names = {"n": "n", "T": "t", "dof": "df", "pval": "p", "p_adj": "p_adj", "d_z": "d_z", "d_av": "d_av",
             "mean_diff": "mean_diff", "mean_pre": "mean_pre", "sd_pre": "sd_pre", "mean_post": "mean_post",
             "sd_post": "sd_post"}
    for _, r in posthoc.iterrows():
        for col, s in names.items():
            key = f"{prefix}.{r['dv']}.{str(r['group']).lower()}.{s}"
            v[key] = r[col]
            d[key] = f"{label(r['dv'])}, {r['group']}: paired t-test pre vs post, {s}"
    v[f"{prefix}.family_size"] = int(posthoc["family_size"].iloc[0])
    d[f"{prefix}.family_size"] = f"tests in the {posthoc['family'].iloc[0]} correction family"
    return v, d


def rm_results(res, prefix: str, test: str = "Pillai") -> tuple[dict, dict]:
    """Results keys of a mixed_anova result: ``<prefix>.n``, per effect ``<prefix>.<effect>.{f,df1,df2,p,pes}``
    from the multivariate ``test`` (within effects) or the univariate table (between effects), plus the
    univariate ``.uni_f``, ``.p_gg``, ``.p_hf``, ``.eps_gg``, ``.eps_hf``."""
    v, d = {f"{prefix}.n": int(res.n_subjects)}, {f"{prefix}.n": "patients in the complete-case mixed ANOVA"}
    mv = res.multivariate[res.multivariate["test"] == test].set_index("effect")
    for _, u in res.univariate.iterrows():
        if u["effect"] == "(Intercept)":
            continue
        k = f"{prefix}.{effect_key(u['effect'])}"
        lab = effect_label(u["effect"])
        if u["effect"] in mv.index:
            m = mv.loc[u["effect"]]
            vals = {"f": m["f"], "df1": m["df1"], "df2": m["df2"], "p": m["p"], "pes": m["pes"]}
            src = f"multivariate ({test})"
        else:
            vals = {"f": u["f"], "df1": u["df"], "df2": u["df_error"], "p": u["p"], "pes": u["pes"]}
            src = "univariate"
        vals.update({"uni_f": u["f"], "uni_p": u["p"], "p_gg": u["p_gg"], "p_hf": u["p_hf"],
                     "eps_gg": u["eps_gg"], "eps_hf": u["eps_hf"]})
        for s, x in vals.items():
            v[f"{k}.{s}"] = x
            d[f"{k}.{s}"] = f"{lab}: {s} ({src if s in ('f', 'df1', 'df2', 'p', 'pes') else 'univariate'})"
    for _, r in res.n_per_group.iterrows():
        key = f"{prefix}.n_{str(r.iloc[0]).lower()}"
        v[key], d[key] = int(r["n"]), f"patients of arm {r.iloc[0]} in the complete-case mixed ANOVA"
    return v, d


def multivariate_table(res) -> pd.DataFrame:
    """Display of mixed_anova's multivariate tests: effect, test, value, F, df, p, partial eta squared."""
    mv = res.multivariate.copy()
    mv["effect"] = mv["effect"].map(effect_label)
    return pd.DataFrame({"Effect": mv["effect"], "Test": mv["test"], "Value": mv["value"].map(lambda x: number(x, 3)),
                         "F": mv["f"].map(lambda x: number(x, 3)),
                         "df": [df(a, b) for a, b in zip(mv["df1"], mv["df2"], strict=True)],
                         "p": mv["p"].map(p_value), PES: mv["pes"].map(lambda x: number(x, 3))})


def univariate_table(res) -> pd.DataFrame:
    """Display of mixed_anova's univariate tests with Mauchly's W and the GG / HF corrections."""
    u = res.univariate[res.univariate["effect"] != "(Intercept)"].copy()
    sph = res.sphericity.set_index("effect") if len(res.sphericity) else pd.DataFrame()

    def mauchly(e):
        w = ":".join(p for p in e.split(":") if p != "arm")
        if w in sph.index:
            s = sph.loc[w]
            return f"{statistic('W', s['w'])}, p{NBSP}{p_value(s['p'], relation=True)}"
        return ""
    return pd.DataFrame({"Effect": u["effect"].map(effect_label), "F": u["f"].map(lambda x: number(x, 3)),
                         "df": [df(a, b) for a, b in zip(u["df"], u["df_error"], strict=True)],
                         "p": u["p"].map(p_value), PES: u["pes"].map(lambda x: number(x, 3)),
                         "Mauchly": u["effect"].map(mauchly), "ε~GG~": u["eps_gg"].map(lambda x: number(x, 3)),
                         "p~GG~": u["p_gg"].map(p_value), "ε~HF~": u["eps_hf"].map(lambda x: number(x, 3)),
                         "p~HF~": u["p_hf"].map(p_value)})


# --- clinical Time x Group ------------------------------------------------------------------------------------------

def clinical_results(clin: pd.DataFrame) -> tuple[dict, dict]:
    """Keys ``clin.<score>.<effect>.{f,df1,df2,p,pes}`` (effect: group, time, time_group) and ``clin.<score>.n``."""
    v, d = {}, {}
    for _, r in clin.iterrows():
        k = f"clin.{r['dv']}.{effect_key(r['effect'])}"
        for s, col in (("f", "f"), ("df1", "df"), ("df2", "df_error"), ("p", "p"), ("pes", "pes")):
            v[f"{k}.{s}"] = r[col]
            d[f"{k}.{s}"] = f"{label(r['dv'])}: {effect_label(r['effect'])} mixed ANOVA, {s}"
        v[f"clin.{r['dv']}.n"] = int(r["n"])
        d[f"clin.{r['dv']}.n"] = f"{label(r['dv'])}: patients with both visits in the Time x Group ANOVA"
    return v, d


def clinical_table(clin: pd.DataFrame) -> pd.DataFrame:
    """One row per score: n and F (df), p, partial eta squared of Group, Time and Time x Group."""
    rows = []
    for dv, sub in clin.groupby("dv", sort=False):
        row = {"Score": label(dv), "n": str(int(sub["n"].iloc[0]))}
        for _, r in sub.iterrows():
            lab = effect_label(r["effect"])
            row[f"{lab} F ({df(r['df'], r['df_error'])})"] = number(r["f"], 3)
            row[f"{lab} p"] = p_value(r["p"])
            row[f"{lab} {PES}"] = number(r["pes"], 3)
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


# --- robustness -----------------------------------------------------------------------------------------------------

CONTRAST_LABELS = {"change_a": "Change in MBPM", "change_b": "Change in WL", "interaction": "Time × Group",
                   "group": "Group (MBPM − WL)"}


def mixedlm_results(mlm: pd.DataFrame) -> tuple[dict, dict]:
    """Keys ``robust.mlm.<analyte>.<contrast>.{estimate,se,z,p,q}``."""
    v, d = {}, {}
    for _, r in mlm.iterrows():
        k = f"robust.mlm.{r['analyte']}.{r['contrast']}"
        for s, col in (("estimate", "estimate"), ("se", "se"), ("z", "z"), ("p", "pval"), ("q", "qval")):
            v[f"{k}.{s}"] = r[col]
            d[f"{k}.{s}"] = (f"{label(r['analyte'])}: mixed model ({'log' if r['log'] else 'raw'} scale) contrast "
                             f"{r['contrast']}, {s}")
    return v, d


def mixedlm_table(mlm: pd.DataFrame) -> pd.DataFrame:
    """One row per analyte x contrast: estimate (SE), z, p, q (BH)."""
    return pd.DataFrame({"Analyte": [ANALYTE_LABELS.get(a, a) for a in mlm["analyte"]],
                         "Contrast": mlm["contrast"].map(CONTRAST_LABELS),
                         "Estimate (SE)": [f"{number(e, 3)} ({number(s, 3)})" for e, s in zip(mlm["estimate"],
                                                                                                 mlm["se"], strict=True)],
                         "z": mlm["z"].map(lambda x: number(x, 2)), "p": mlm["pval"].map(p_value),
                         "q (BH)": mlm["qval"].map(p_value),
                         "n (obs)": [f"{int(a)} ({int(b)})" for a, b in zip(mlm["n_subjects"], mlm["n_obs"],
                                                                            strict=True)]})


def fitter_name(fitter=None) -> str:
    """Where the mixed model is fitted, as the notes name it: the function ``mixedlm_time_group`` calls
    (default :func:`helpers.stats.robustness.random_intercept_reml`, the closed-form REML fit), by module and name."""
    if fitter is None:
        from helpers.stats import robustness

        fitter = robustness.random_intercept_reml
    return f"{fitter.__module__}.{fitter.__qualname__}"


def mixedlm_notes(log_transform: bool, fitter=None) -> list[str]:
    """Footnote of the mixed-model table; the fitting function is named from ``fitter`` (see :func:`fitter_name`)."""
    scale = "natural-log concentrations (estimates are log ratios)" if log_transform else "raw pg/mL"
    return [f"*Note.* Linear mixed model per analyte on {scale}: four Time × Group cell means, random intercept per "
            f"patient, REML (`{fitter_name(fitter)}`, profiled closed-form fit checked against lme4; model-based "
            "standard errors as lme4), Wald z tests. All available "
            "observations of the analysed patients are used. q: Benjamini-Hochberg across the six analytes, "
            "separately for each contrast."]


CORRECTION_NAMES = {"bonferroni": "Bonferroni", "holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}


def correction_name(method: str) -> str:
    """The printed name of a multiplicity correction (``correction`` parameter: bonferroni, holm, fdr_bh)."""
    return CORRECTION_NAMES.get(str(method), str(method))


def headline_findings(post_bio, post_log, rm_raw, rm_log, mlm, base_tests, il8_log) -> list[dict]:
    """The paper's five headline findings and, for each, ``(p, direction_ok)`` per check (None: not applicable),
    for :func:`helpers.stats.robustness.survival_table`."""
    ph = post_bio.set_index(["dv", "group"])
    pl = post_log.set_index(["dv", "group"])
    m = mlm.set_index(["analyte", "contrast"])

    def mv_p(res, effect):
        t = res.multivariate
        return float(t[(t["effect"] == effect) & (t["test"] == "Pillai")]["p"].iloc[0])

    def up(dv, arm, contrast):
        r, lg, mm = ph.loc[(dv, arm)], pl.loc[(dv, arm)], m.loc[(dv, contrast)]
        return {"Paper's method": (r["pval"], r["mean_diff"] > 0),
                "Multiplicity-corrected": (r["p_adj"], r["mean_diff"] > 0),
                "Log scale": (lg["pval"], lg["mean_diff"] > 0),
                "Mixed model, all observations (FDR)": (mm["qval"], mm["estimate"] > 0)}

    def omnibus(effect, contrast):
        sub = mlm[mlm["contrast"] == contrast]
        return {"Paper's method": (mv_p(rm_raw, effect), True), "Multiplicity-corrected": None,
                "Log scale": (mv_p(rm_log, effect), True),
                "Mixed model, all observations (FDR)": (float(sub["qval"].min()), True)}

    b = base_tests.set_index("dv")
    il8 = b.loc["il8"]
    n_base = len(b)  # the planned family: every baseline analyte test, computed or not
    il8_adj = min(1.0, float(il8["pval"]) * n_base)
    lg = il8_log.iloc[0]
    return [
        {"finding": "Oxytocin rose in MBPM", "checks": up("oxytocin", "MBPM", "change_a")},
        {"finding": "IL-1β rose in WL", "checks": up("il1b", "WL", "change_b")},
        {"finding": "Time × Biomarker × Group interaction", "checks": omnibus("arm:visit:analyte", "interaction")},
        {"finding": "Biomarker × Group interaction", "checks": omnibus("arm:analyte", "group")},
        {"finding": "IL-8 higher in CP than HC", "checks": {
            "Paper's method": (il8["pval"], il8["mean_cp"] > il8["mean_hc"]),
            "Multiplicity-corrected": (il8_adj, il8["mean_cp"] > il8["mean_hc"]),
            "Log scale": (lg["pval"], lg["mean_cp"] > lg["mean_hc"]),
            "Mixed model, all observations (FDR)": None}},
    ]


def survival_results(long: pd.DataFrame) -> tuple[dict, dict]:
    """Keys ``robust.survives.<finding>.<check>`` (1 / 0) and ``robust.p.<finding>.<check>``."""
    slug = {"Oxytocin rose in MBPM": "oxytocin_mbpm", "IL-1β rose in WL": "il1b_wl",
            "Time × Biomarker × Group interaction": "time_biomarker_group",
            "Biomarker × Group interaction": "biomarker_group", "IL-8 higher in CP than HC": "il8_cp_hc"}
    check = {"Paper's method": "paper", "Multiplicity-corrected": "corrected", "Log scale": "log",
             "Mixed model, all observations (FDR)": "mixedlm"}
    v, d = {}, {}
    for _, r in long.iterrows():
        if r["survives"] is None or pd.isna(r["pval"]):
            continue
        k = f"{slug.get(r['finding'], r['finding'])}.{check.get(r['check'], r['check'])}"
        v[f"robust.survives.{k}"] = int(bool(r["survives"]))
        d[f"robust.survives.{k}"] = f"1 if '{r['finding']}' survives the check '{r['check']}'"
        v[f"robust.p.{k}"] = r["pval"]
        d[f"robust.p.{k}"] = f"p (or q) of '{r['finding']}' under the check '{r['check']}'"
    return v, d


def survival_notes(alpha: float, correction: str, log_transform: bool) -> list[str]:
    corr = correction_name(correction)
    return [f"*Note.* yes: p < {alpha:g} with the paper's direction. Paper's method: paired t-test (rises), "
            "multivariate Pillai test of the complete-case mixed ANOVA (interactions), Levene-rule test (IL-8). "
            f"Multiplicity-corrected: {corr} over the 12 arm × analyte paired tests (rises) or Bonferroni over the "
            "six baseline analyte tests (IL-8); not applicable to the omnibus tests. Log scale: the same test on "
            "log concentrations. Mixed model: per-analyte Time × Group mixed model on all observations "
            f"({'log' if log_transform else 'raw'} scale), Benjamini-Hochberg q across analytes; for an omnibus "
            "interaction the smallest q of the matching per-analyte contrast (Time × Group for the three-way, "
            "Group for Biomarker × Group)."]


# --- associations ---------------------------------------------------------------------------------------------------

def assoc_results(assoc: pd.DataFrame) -> tuple[dict, dict]:
    """Keys ``assoc.<y>.<method>.{n,r,ci_low,ci_high,p}`` (y without the ``_change`` suffix)."""
    v, d = {}, {}
    for _, r in assoc.iterrows():
        y = r["y"].removesuffix("_change")
        for s, col in (("n", "n"), ("r", "r"), ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("p", "pval")):
            k = f"assoc.{y}.{r['method']}.{s}"
            v[k] = r[col]
            d[k] = f"{r['method'].capitalize()} correlation of oxytocin change with {label(y)} change, {s}"
    return v, d


def assoc_table(assoc: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome x method: n, r [95% CI], p."""
    return pd.DataFrame({"Change in": [label(y.removesuffix("_change")) for y in assoc["y"]],
                         "Method": assoc["method"].str.capitalize(), "n": assoc["n"].astype(int).astype(str),
                         "r [95% CI]": [ci(r, lo, hi) for r, lo, hi in zip(assoc["r"], assoc["ci_low"],
                                                                                assoc["ci_high"], strict=True)],
                         "p": assoc["pval"].map(p_value)})


# --- correction families and the baseline robustness check (Welch) -------------------------------------------------

SAME_TEST_AS = {"pam_raw": "pam_mean"}
"""Scores that repeat another score's test (a linear function of it): each enters a correction family once, as the
score it maps to. The PAM-13 raw sum is 13 x the item mean (prorated over answered items, helpers.scoring)."""


def clinical_family(trial: pd.DataFrame) -> list[str]:
    """The clinical scores of the post hoc family: :data:`CLINICAL_SCORES` present in ``trial`` with any value,
    minus those in :data:`SAME_TEST_AS` (counted once, as the score they repeat)."""
    return [s for s in CLINICAL_SCORES if s in trial and trial[s].notna().any() and s not in SAME_TEST_AS]


def welch_table(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Beside every Table 1 comparison: the test the paper's rule picked with its p, and Welch's ANOVA (unequal
    variances allowed) with F (df1, df2) and p, and whether the two agree on significance at ``alpha``."""
    rows = []
    for _, r in comparisons.iterrows():
        rule_sig, welch_sig = r["pval"] < alpha, r["welch_p"] < alpha
        same = "" if pd.isna(r["pval"]) or pd.isna(r["welch_p"]) else ("yes" if rule_sig == welch_sig else "no")
        rows.append({"Measure": label(r["dv"]), "Rule's test": r["test"], "p (rule)": p_value(r["pval"]),
                     "Welch F": number(r["welch_F"], 3), "df": df(r["welch_df1"], r["welch_df2"]),
                     "p (Welch)": p_value(r["welch_p"]), f"Same verdict at {alpha:g}": same})
    return pd.DataFrame(rows)


def welch_notes(alpha: float) -> list[str]:
    return [f"*Note.* The paper's rule (Levene, then one-way ANOVA or Kruskal-Wallis) beside Welch's one-way ANOVA "
            "(Welch 1951), which compares means without assuming equal variances; Kruskal-Wallis compares "
            "distributions (ranks) and does not address unequal variances. Welch's df2 is fractional "
            "(Welch-Satterthwaite). Empty: Welch's test needs two or more distinct values per group. Verdicts "
            f"compare p < {alpha:g} on both tests, unadjusted."]


def welch_results(comparisons: pd.DataFrame) -> tuple[dict, dict]:
    """Keys ``t1.<dv>.welch_{f,df2,p}``: Welch's ANOVA beside each Table 1 comparison."""
    v, d = {}, {}
    for _, r in comparisons.iterrows():
        for s_, col in (("welch_f", "welch_F"), ("welch_df2", "welch_df2"), ("welch_p", "welch_p")):
            k = f"t1.{r['dv']}.{s_}"
            v[k], d[k] = r[col], f"{label(r['dv'])}: Welch's ANOVA {s_.split('_')[1]}, CP vs HC (robustness)"
    return v, d
