"""Command line: ``python -m helpers <command>`` (also installed as ``mbpm``).

Commands: ``synth`` (write a synthetic study), ``execute`` (run one notebook with papermill), ``merge-results``,
``supplementary`` (HTML supplementary with nbconvert), ``render`` (Quarto manuscript, or a clear message), ``deps``
(the helper files a notebook depends on), ``diff`` (what changed between two builds), ``snapshot`` (keep the build
as the default base of ``diff``).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "synth":
        from helpers import synthetic

        return synthetic.cli(argv[1:]) or 0
    if argv and argv[0] in ("diff", "snapshot"):  # what changed between two builds (issue 14)
        from helpers import diff

        return (diff.cli if argv[0] == "diff" else diff.snapshot_cli)(argv[1:])

    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("synth", help="write a synthetic study (see `python -m helpers synth --help`)")
    sub.add_parser("diff", help="what changed between two builds (see `python -m helpers diff --help`)")
    sub.add_parser("snapshot", help="keep the current build as the default BASE of `diff`")
    p = sub.add_parser("execute", help="execute a notebook with papermill")
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--params-json", default="{}", help="parameters as a JSON object")
    p = sub.add_parser("merge-results", help="merge build/results/*.json into build/results.json")
    p.add_argument("fragments", nargs="+")
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-csv", required=True)
    p = sub.add_parser("supplementary", help="build the HTML supplementary from executed notebooks")
    p.add_argument("--build", default="build")
    p.add_argument("--out", default=None)
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
        pipeline.execute(args.notebook, args.output, json.loads(args.params_json))
    elif args.command == "merge-results":
        from helpers.io import merge_results

        merged = merge_results(args.fragments, args.out_json, args.out_csv)
        print(f"results: {len(merged)} keys -> {args.out_json}")
    elif args.command == "supplementary":
        from helpers import supplementary

        supplementary.build_supplementary(args.build, args.out or f"{args.build}/supplementary")
    elif args.command == "render":
        from helpers import render

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
