# The notebook pipeline: papermill executes each notebook into the build folder, in dependency order, re-running
# only what changed (notebook source, the helper modules it imports, raw data, its parameters), independent
# notebooks in parallel. Run through `make report` (= `mbpm run`: one run at a time, --rerun-incomplete, progress
# lines; see helpers.runner), or `snakemake --cores all`.
#
# Analysis variants (config/variants/<name>.yaml, see helpers.variants): the same chain once per variant, into
# build/variants/<name>/, target `variants`; `make variants` runs them with --keep-going and writes the comparison.
# On a cluster: `snakemake --profile profiles/slurm variants` (see profiles/slurm/config.yaml).
import glob
import sys

import yaml

# Snakemake imports pandas and numpy (~0.5 s of CPU, on every run, a no-op included) to check whether a rule's params
# hold a DataFrame or an array, and to hash such params; ours are strings, and it accepts their absence (it then
# hashes params as text). Hidden in the Snakemake process only when not already imported; jobs are processes of
# their own and import them as usual.
NO_DATAFRAME_PARAMS = [m for m in ("pandas", "numpy") if m not in sys.modules]
for _m in NO_DATAFRAME_PARAMS:
    sys.modules[_m] = None
from snakemake.exceptions import WorkflowError

from helpers import config as _params, pipeline, publish as _publish, render as _render
from helpers import variants as _variants

# A syntax error or a rejected value in config/params.yaml is reported with its line and key (helpers.config),
# not as Snakemake's "Config file is not valid JSON or YAML" or as a --config problem.
try:
    _params.check_params()
except _params.ParamsError as _err:
    raise WorkflowError(f"config/params.yaml is not valid:\n{_err}") from None

configfile: "config/params.yaml"

# Parameters: an unknown `--config` key (or a value the schema rejects) stops the run before any job, naming the
# closest valid key. A one-off override of an analysis parameter builds into its own folder,
# build/overrides/<slug>/ (figures inside it), never over the default build; `--config build_dir=...` chooses.
DEFAULTS = yaml.safe_load(open("config/params.yaml", encoding="utf-8"))
COMMAND_LINE = dict(workflow.config_settings.overwrite_config or {})
try:
    pipeline.check_config(config, DEFAULTS)
except pipeline.ConfigError as _err:
    raise WorkflowError(f"--config: {_err}") from None
BUILD = pipeline.effective_build_dir(config, COMMAND_LINE)
DEFAULT_BUILD = str(DEFAULTS["build_dir"]).rstrip("/")
if BUILD != str(config["build_dir"]).rstrip("/"):
    config["build_dir"] = BUILD
if BUILD != DEFAULT_BUILD:
    # another build never writes the default build's figures either (`build_dir=X` alone included)
    config["figures_dir"] = COMMAND_LINE.get("figures_dir", f"{BUILD}/figures")
    _why = ", ".join(f"{k}={v}" for k, v in sorted(COMMAND_LINE.items())) or "build_dir"
    # helpers.runner reads this line to say where the run wrote (its "Outputs:" block)
    print(f"pipeline one-off override ({_why}): building into {BUILD}/, figures into {config['figures_dir']}/ "
          "(the default build, figures and _manuscript/ are untouched)", file=sys.stderr)
PY = sys.executable
NOTEBOOKS = {
    # notebook: the notebooks whose outputs it reads
    "01_ingest": [],
    "02_scoring": ["01_ingest"],
    "03_baseline": ["02_scoring"],
    "04_trial_rmanova": ["02_scoring"],
    "05_discussion_figures": ["03_baseline", "04_trial_rmanova"],
}
# Figures each notebook writes into figures_dir (pipeline.FIGURES): declared outputs, so a deleted figure is rebuilt
# and `make clean` (snakemake --delete-all-output) removes them.
RAW = sorted(glob.glob(f"{config['raw_dir']}/*"))
HELPERS = {nb: pipeline.helper_files(f"notebooks/{nb}.ipynb") for nb in NOTEBOOKS}
VARIANTS = _variants.load_variants(config)
# The article (HTML, Word, JATS, MECA) is rendered from the default build only: _quarto.yml embeds the executed
# notebooks of build/, so a one-off override or a variant never overwrites it with a mix of two builds.
MANUSCRIPT = [f"{_render.MANUSCRIPT_DIR}/{name}" for name in _render.OUTPUTS]
PUBLISHED = [f"{_publish.PUBLISH_DIR}/{name}" for name in _render.OUTPUTS]  # make publish (rule publish)


def finals(build):
    """What is built from the notebooks' outputs: deleted when a notebook starts, so a failed or killed run never
    leaves results that look current (the next run rebuilds them, re-running what failed)."""
    built = [f"{build}/results.json", f"{build}/results_keys.csv", f"{build}/supplementary/index.qmd"]
    return built + (MANUSCRIPT + PUBLISHED if build == DEFAULT_BUILD else [])


def figure_files(nb, figures_dir):
    """The figure files notebook ``nb`` writes into ``figures_dir`` (its declared outputs)."""
    return pipeline.figure_files(nb, figures_dir)


rule all:
    input:
        f"{BUILD}/results.json",
        f"{BUILD}/supplementary/index.qmd",
        # final targets too: Snakemake does not re-create a deleted intermediate file while what is built from it
        # looks current, so a deleted figure would otherwise stay deleted
        [f for nb in NOTEBOOKS for f in figure_files(nb, config["figures_dir"])],


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
                figures=figure_files(nb, cfg["figures_dir"]),
            params:
                values=pipeline.params_json(f"notebooks/{nb}.ipynb", cfg),
                finals=finals(build),
                failed=f"{build}/failed",
            log:
                f"{build}/logs/{nb}.log",
            benchmark:
                f"{build}/benchmarks/{nb}.tsv"  # wall time and peak memory of the job (Snakemake measures)
            resources:
                mem_mb=2000,
                runtime=30,
            shell:
                # exec: Snakemake is the job's parent, so the job dies with it (helpers.lifetime)
                "exec {PY} -m helpers execute {input.notebook} {output.notebook} --params-json {params.values:q}"
                " --log {log} --failed-dir {params.failed} --invalidates {params.finals}"

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


# A notebook run by hand in JupyterLab writes into build/ too: its fragment says so, and is discarded (re-run).
for _nb in pipeline.discard_hand_runs(BUILD, list(NOTEBOOKS), finals(BUILD)):
    print(f"pipeline {BUILD}/results/{_nb}.json came from a hand run (JupyterLab), not the pipeline: {_nb} re-runs",
          file=sys.stderr)

notebook_chain("", BUILD, config)


# The supplementary's pages (Quarto Markdown, helpers.supplementary): reproduction, data quality, variants and
# revision reports, provenance. Quarto renders them with the notebooks' pages in the publish profile (rule publish).
SUPPLEMENTARY_PAGES = [f"{BUILD}/supplementary/{page}.qmd" for page in _publish.PAGES]


rule supplementary:
    input:
        notebooks=[f"{BUILD}/notebooks/{nb}.ipynb" for nb in NOTEBOOKS],
        results=f"{BUILD}/results.json",
        helpers=pipeline.helper_closure_files(["helpers.supplementary"]),
        raw=RAW,  # the provenance page lists their checksums
        params="config/params.yaml",
        variants=glob.glob(f"{BUILD}/variants/comparison.md"),  # written by `make variants`, embedded if present
    output:
        SUPPLEMENTARY_PAGES,
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

rule manuscript:
    input:
        article="index.qmd",
        project="_quarto.yml",
        stylesheet="styles.css",
        bibliography="references.bib",
        csl="vancouver.csl",
        extensions=sorted(glob.glob("_extensions/*/*")),
        filters=sorted(glob.glob("filters/*.lua")),
        reference_doc="templates/reference.docx",
        notebooks=[f"{BUILD}/notebooks/{nb}.ipynb" for nb in NOTEBOOKS],
        results=f"{BUILD}/results.json",
        figures=[f for nb in NOTEBOOKS for f in figure_files(nb, config["figures_dir"])],
    output:
        MANUSCRIPT,
    log:
        f"{BUILD}/logs/render.log",
    shell:
        "exec {PY} -m helpers render --build {BUILD} --log {log}"


rule report:
    input:
        rules.all.input,
        # asks for Quarto only when `report` runs, and only for the default build (see DEFAULT_BUILD)
        lambda wildcards: MANUSCRIPT if BUILD == DEFAULT_BUILD and _render.available() else [],


# --- the published site (issue 18) --------------------------------------------------------------------------------
# `make publish`: the article with the notebooks' pages and the supplementary's pages (Quarto profile `publish`,
# _quarto-publish.yml) in one folder, _publish/, plus the revision reports of `make diff` when present.
rule publish:
    input:
        rules.manuscript.input,
        profile="_quarto-publish.yml",
        pages=SUPPLEMENTARY_PAGES,
    output:
        PUBLISHED,
    log:
        f"{BUILD}/logs/publish.log",
    shell:
        "exec {PY} -m helpers publish --build {BUILD} --log {log}"
