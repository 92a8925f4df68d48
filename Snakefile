# The notebook pipeline: papermill executes each notebook into the build folder, in dependency order, re-running
# only what changed (notebook source, the helper modules it imports, raw data, its parameters), independent
# notebooks in parallel. Run through `make report` (or `snakemake --cores all`).
import glob
import sys

from helpers import pipeline

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


rule all:
    input:
        f"{BUILD}/results.json",
        f"{BUILD}/supplementary/index.html",


for nb, upstream in NOTEBOOKS.items():

    rule:
        name:
            f"notebook_{nb}"
        input:
            notebook=f"notebooks/{nb}.ipynb",
            helpers=pipeline.helper_files(f"notebooks/{nb}.ipynb"),
            upstream=[f"{BUILD}/results/{u}.json" for u in upstream],
            raw=RAW if not upstream else [],
        output:
            notebook=f"{BUILD}/notebooks/{nb}.ipynb",
            results=f"{BUILD}/results/{nb}.json",
        params:
            values=pipeline.params_json(f"notebooks/{nb}.ipynb", config),
        log:
            f"{BUILD}/logs/{nb}.log",
        shell:
            "{PY} -m helpers execute {input.notebook} {output.notebook} --params-json {params.values:q} 2> {log}"
            " || (tail -n 40 {log} >&2; exit 1)"


rule results:
    input:
        [f"{BUILD}/results/{nb}.json" for nb in NOTEBOOKS],
    output:
        json=f"{BUILD}/results.json",
        csv=f"{BUILD}/results_keys.csv",
    shell:
        "{PY} -m helpers merge-results {input} --out-json {output.json} --out-csv {output.csv}"


rule supplementary:
    input:
        notebooks=[f"{BUILD}/notebooks/{nb}.ipynb" for nb in NOTEBOOKS],
        results=f"{BUILD}/results.json",
        helpers=pipeline.helper_closure_files(["helpers.supplementary"]),
    output:
        f"{BUILD}/supplementary/index.html",
    shell:
        "{PY} -m helpers supplementary --build {BUILD}"
