# The notebook pipeline: papermill executes each notebook into the build folder, in dependency order, re-running
# only what changed (notebook source, the helper modules it imports, raw data, its parameters), independent
# notebooks in parallel. Run through `make report` (or `snakemake --cores all`).
#
# Analysis variants (config/variants/<name>.yaml, see helpers.variants): the same chain once per variant, into
# build/variants/<name>/, target `variants`; `make variants` runs them with --keep-going and writes the comparison.
# On a cluster: `snakemake --profile profiles/slurm variants` (see profiles/slurm/config.yaml).
import glob
import sys

from helpers import pipeline, variants as _variants

configfile: "config/params.yaml"

BUILD = config["build_dir"]
PY = sys.executable
NOTEBOOKS = {
    # notebook: the notebooks whose outputs it reads
    "01_ingest": [],
    "02_scoring": ["01_ingest"],
    "03_baseline": ["02_scoring"],
    "04_trial_rmanova": ["02_scoring"],
    "05_discussion_figures": ["03_baseline", "04_trial_rmanova"],
}
RAW = sorted(glob.glob(f"{config['raw_dir']}/*"))
HELPERS = {nb: pipeline.helper_files(f"notebooks/{nb}.ipynb") for nb in NOTEBOOKS}
VARIANTS = _variants.load_variants(config)


rule all:
    input:
        f"{BUILD}/results.json",
        f"{BUILD}/supplementary/index.html",


def notebook_chain(prefix, build, cfg):
    """Rules executing the five notebooks with parameters `cfg` into `build`, and merging their results."""
    for nb, upstream in NOTEBOOKS.items():

        rule:
            name:
                f"{prefix}notebook_{nb}"
            input:
                notebook=f"notebooks/{nb}.ipynb",
                helpers=HELPERS[nb],
                upstream=[f"{build}/results/{u}.json" for u in upstream],
                raw=RAW if not upstream else [],
            output:
                notebook=f"{build}/notebooks/{nb}.ipynb",
                results=f"{build}/results/{nb}.json",
            params:
                values=pipeline.params_json(f"notebooks/{nb}.ipynb", cfg),
            log:
                f"{build}/logs/{nb}.log",
            benchmark:
                f"{build}/benchmarks/{nb}.tsv"  # wall time and peak memory of the job (Snakemake measures)
            resources:
                mem_mb=2000,
                runtime=30,
            shell:
                "{PY} -m helpers execute {input.notebook} {output.notebook} --params-json {params.values:q} 2> {log}"
                " || (tail -n 40 {log} >&2; exit 1)"

    rule:
        name:
            f"{prefix}results"
        input:
            [f"{build}/results/{nb}.json" for nb in NOTEBOOKS],
        output:
            json=f"{build}/results.json",
            csv=f"{build}/results_keys.csv",
        shell:
            "{PY} -m helpers merge-results {input} --out-json {output.json} --out-csv {output.csv}"


notebook_chain("", BUILD, config)


rule supplementary:
    input:
        notebooks=[f"{BUILD}/notebooks/{nb}.ipynb" for nb in NOTEBOOKS],
        results=f"{BUILD}/results.json",
        helpers=pipeline.helper_closure_files(["helpers.supplementary"]),
    output:
        f"{BUILD}/supplementary/index.html",
    shell:
        "{PY} -m helpers supplementary --build {BUILD}"


# --- analysis variants ------------------------------------------------------------------------------------------
for _v in VARIANTS:
    _dir = _variants.variant_dir(BUILD, _v.name)
    if _v.error is None:
        notebook_chain(f"variant__{_v.name}__", _dir, _v.config(config, BUILD))
    else:
        # An invalid variant file fails its own job (reported by name by `helpers.variants compare`), not the
        # whole workflow: the other variants and `make report` are unaffected.

        rule:
            name:
                f"variant__{_v.name}__invalid"
            output:
                f"{_dir}/results.json",
            log:
                f"{_dir}/logs/01_ingest.log",
            params:
                error=f"VariantError: {_v.error}",
            shell:
                "echo {params.error:q} | tee {log} >&2; exit 1"


rule variants:
    input:
        [f"{_variants.variant_dir(BUILD, v.name)}/results.json" for v in VARIANTS],


# --- manuscript (Quarto) -----------------------------------------------------------------------------------------
# `make report` asks for target `report`: everything `all` builds plus the rendered article (HTML, Word, JATS, MECA)
# when a usable Quarto is installed; without one, make report says so in one line (helpers.render.status_line).
# The article reads the executed notebooks in build/notebooks/ (embeds) and build/results.json (shortcodes).
from helpers import render as _render

MANUSCRIPT = [f"{_render.MANUSCRIPT_DIR}/{name}" for name in _render.OUTPUTS]


rule manuscript:
    input:
        article="index.qmd",
        project="_quarto.yml",
        bibliography="references.bib",
        csl="vancouver.csl",
        extensions=sorted(glob.glob("_extensions/*/*")),
        filters=sorted(glob.glob("filters/*.lua")),
        reference_doc="templates/reference.docx",
        notebooks=[f"{BUILD}/notebooks/{nb}.ipynb" for nb in NOTEBOOKS],
        results=f"{BUILD}/results.json",
        figures=sorted(glob.glob(f"{config['figures_dir']}/*.svg")),
    output:
        MANUSCRIPT,
    log:
        f"{BUILD}/logs/render.log",
    shell:
        "{PY} -m helpers render --build {BUILD} --log {log}"


rule report:
    input:
        rules.all.input,
        lambda wildcards: MANUSCRIPT if _render.available() else [],  # asks for Quarto only when `report` runs
