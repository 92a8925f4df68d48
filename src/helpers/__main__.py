"""The ``mbpm`` command line (also ``python -m helpers``): the report's pipeline steps.

Commands: ``run`` (the pipeline under Snakemake: what ``make report`` calls), ``execute`` (one notebook with
papermill, as a pipeline job), ``merge-results``, ``supplementary`` (the supplementary's pages, for Quarto), ``render``
(Quarto manuscript, or a clear message), ``publish`` (article and supplementary as one site folder), ``deps`` (the helper files a notebook depends on), ``synth`` (write a
synthetic study), ``variants`` (list the analysis variants, or compare their results), ``diff`` (what changed
between two builds), ``snapshot`` (keep the build as the default base of ``diff``).
"""

from __future__ import annotations

import argparse
import json
import sys


def _die_with_parent() -> None:
    """A render started by Snakemake (``exec``-ed by its shell) dies with it, as the notebook jobs do
    (:mod:`helpers.lifetime`): a killed ``mbpm run`` leaves no Quarto writing into ``_manuscript/``."""
    import os
    import signal

    from helpers import lifetime

    lifetime.die_with_parent(signal.SIGKILL, parent=os.getppid())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "synth":
        from helpers import synthetic

        return synthetic.cli(argv[1:]) or 0
    if argv and argv[0] in ("diff", "snapshot"):  # what changed between two builds
        from helpers import diff

        return (diff.cli if argv[0] == "diff" else diff.snapshot_cli)(argv[1:])
    if argv and argv[0] == "run":
        from helpers import runner

        return runner.main(argv[1:])
    if argv and argv[0] == "variants":
        from helpers import variants

        return variants.main(argv[1:])

    parser = argparse.ArgumentParser(prog="mbpm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the pipeline (Snakemake), as `make report` does (see `mbpm run --help`)")
    sub.add_parser("synth", help="write a synthetic study (see `mbpm synth --help`)")
    sub.add_parser("variants", help="list or compare the analysis variants (see `mbpm variants --help`)")
    sub.add_parser("diff", help="what changed between two builds (see `mbpm diff --help`)")
    sub.add_parser("snapshot", help="keep the current build as the default BASE of `diff`")
    p = sub.add_parser("execute", help="execute a notebook with papermill (a pipeline job)")
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--params-json", default="{}", help="parameters as a JSON object")
    p.add_argument("--log", default=None, help="write the job's output here (the terminal gets progress lines)")
    p.add_argument("--invalidates", nargs="*", default=[], metavar="FILE",
                   help="files built from this notebook's outputs: deleted before it starts")
    p.add_argument("--failed-dir", default=None, help="where a failed executed notebook is kept (build/failed)")
    p = sub.add_parser("merge-results", help="merge build/results/*.json into build/results.json")
    p.add_argument("fragments", nargs="+")
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-csv", required=True)
    p = sub.add_parser("supplementary", help="write the supplementary's pages (Quarto Markdown) for a build")
    p.add_argument("--build", default="build")
    p.add_argument("--out", default=None)
    p = sub.add_parser("publish", help="render article, notebooks and supplementary into one site folder (_publish)")
    p.add_argument("--build", default="build")
    p.add_argument("--log", default=None, help="Quarto's output (default <build>/logs/publish.log)")
    p = sub.add_parser("render", help="render the manuscript with Quarto, or say why not")
    p.add_argument("--build", default="build")
    p.add_argument("--log", default=None, help="Quarto's output (default <build>/logs/render.log)")
    p.add_argument("--summary", action="store_true",
                   help="do not render: say whether Quarto is usable and where the outputs are (make report)")
    p = sub.add_parser("deps", help="helper files a notebook depends on")
    p.add_argument("notebook")
    args = parser.parse_args(argv)

    from helpers import pipeline

    if args.command == "execute":
        return pipeline.run_job(args.notebook, args.output, json.loads(args.params_json), log=args.log,
                                invalidates=args.invalidates, failed_dir=args.failed_dir)
    elif args.command == "merge-results":
        from helpers.io import merge_results

        merged = merge_results(args.fragments, args.out_json, args.out_csv)
        print(f"results: {len(merged)} keys -> {args.out_json}")
    elif args.command == "supplementary":
        from helpers import supplementary

        supplementary.build_supplementary(args.build, args.out or f"{args.build}/supplementary")
    elif args.command == "publish":
        from helpers import publish

        _die_with_parent()
        return publish.publish(args.build, args.log)
    elif args.command == "render":
        from helpers import render

        _die_with_parent()
        if args.summary:
            line = render.status_line()
            if line:
                print(line)
            print(pipeline.summary(args.build))
            return 0
        return render.render(args.build, args.log)
    elif args.command == "deps":
        print("\n".join(pipeline.helper_files(args.notebook)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
