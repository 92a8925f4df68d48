"""config/params.yaml, checked before Snakemake reads it, so a mistake in it names the file, its line and the key.

Snakemake reports a YAML syntax error in the configuration file as "WorkflowError in file Snakefile, line 17: Config
file is not valid JSON or YAML", and the Snakefile's schema check (:func:`helpers.pipeline.check_config`) runs on
the merged configuration, so a bad value in the file reads like a ``--config`` problem. :func:`check_params` reads
the file with PyYAML's node marks (line numbers) and validates it against the same JSON Schema
(config/params.schema.yaml, with ``jsonschema``); ``mbpm run`` and the Snakefile call it first.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from helpers.paths import project_path

PARAMS = "config/params.yaml"
SCHEMA = "config/params.schema.yaml"


class ParamsError(ValueError):
    """config/params.yaml is not valid YAML, or a parameter in it is unknown or has a value the schema rejects."""


def _hint(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _syntax_error(shown: str, text: str, err) -> ParamsError:
    """The message for a YAML syntax error: the line where the broken construct starts (PyYAML's context mark,
    e.g. an unclosed ``[``) or else where the parser stopped (problem mark), its key, and the line(s) themselves."""
    mark, context = getattr(err, "problem_mark", None), getattr(err, "context_mark", None)
    if mark is None:
        return ParamsError(f"{shown}: not valid YAML: {err}")
    start = context if context is not None and context.line != mark.line else mark
    source = text.splitlines()
    line = source[start.line] if start.line < len(source) else ""
    key = line.split(":", 1)[0].strip() if ":" in line and not line.lstrip().startswith("#") else ""
    about = f" (key {key!r})" if key else ""
    problem = " ".join(p for p in (getattr(err, "context", None), getattr(err, "problem", None)) if p)
    at = f"line {mark.line + 1}, column {mark.column + 1}" if start is not mark else f"column {mark.column + 1}"
    shown_lines = sorted({start.line, mark.line})
    quoted = "\n".join(f"  {n + 1} | {source[n]}" for n in shown_lines if n < len(source))
    return ParamsError(f"{shown}:{start.line + 1}: not valid YAML{about}: {problem} ({at})\n{quoted}")


def skip_iri_grammar() -> None:
    """Have jsonschema go without the optional ``rfc3987_syntax``, unless jsonschema is already imported.

    When installed, jsonschema imports it to check the "iri" string format, and it builds a Lark grammar on import:
    1.2 s of CPU in every process that imports jsonschema (the parameter check, a notebook job through papermill and
    nbformat, a test process). No schema of this project checks that format. Called before jsonschema is imported.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


def check_params(path: str | Path = PARAMS, schema: str | Path = SCHEMA, root: str | Path | None = None) -> dict:
    """The parameters of ``path`` (a flat YAML mapping). Raises :class:`ParamsError`, one line per problem, each
    starting ``<file>:<line>:`` and naming the key: a YAML syntax error, a key given twice, a key the schema does
    not list (with the closest one), a value the schema rejects (with the allowed values). Relative paths are
    taken from ``root`` (default: the project root) and shown as given."""
    skip_iri_grammar()
    import jsonschema
    import yaml

    file = Path(root) / path if root else project_path(path)
    shown = str(path)
    text = file.read_text(encoding="utf-8")
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise _syntax_error(shown, text, err) from None
    if not isinstance(document, yaml.MappingNode):
        line = document.start_mark.line + 1 if document is not None else 1
        raise ParamsError(f"{shown}:{line}: expected one `parameter: value` per line (a mapping)")
    lines: dict[str, int] = {}
    problems = []
    for key_node, _ in document.value:
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in lines:
            problems.append((line, f"{shown}:{line}: {key}: given twice (first on line {lines[key]}); keep one"))
        lines.setdefault(key, line)
    values = yaml.safe_load(text)
    spec = yaml.safe_load((Path(root) / schema if root else project_path(schema)).read_text(encoding="utf-8"))
    # The file defines the parameters (a key the schema does not type is allowed); a key the schema lists that is
    # missing is a mistake, often a misspelling of it: named at the misspelt key's line when there is one.
    missing = [key for key in spec.get("properties", {}) if key not in values]
    for key in missing:
        typo = difflib.get_close_matches(key, [k for k in values if k not in spec["properties"]], n=1, cutoff=0.6)
        if typo:
            problems.append((lines[typo[0]], f"{shown}:{lines[typo[0]]}: {typo[0]}: unknown parameter; did you "
                                             f"mean {key!r}? ({key} is missing)"))
        else:
            problems.append((0, f"{shown}: {key}: missing (every parameter in {schema} needs a default here)"))
    for err in jsonschema.Draft202012Validator(spec).iter_errors(values):
        key = str(err.path[0]) if err.path else None
        line = lines.get(key, 1)
        hint = _hint(err.instance, err.validator_value) if err.validator == "enum" else ""
        problems.append((line, f"{shown}:{line}: {key or '(top level)'}: {err.message}{hint}"))
    if problems:
        raise ParamsError("\n".join(message for _, message in sorted(problems)))
    return values


def params_ok(root: str | Path | None = None) -> bool:
    """Check config/params.yaml (under ``root``, default the project); on a problem print it and say the run did
    nothing. What ``mbpm run`` calls before it starts Snakemake."""
    try:
        check_params(root=root)
    except ParamsError as err:
        print(f"{err}\npipeline did nothing: fix {PARAMS} and run the same command again.", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.config [file]``: check config/params.yaml (or ``file``); exit 1 with the problems."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_params(*(argv[:1] or [PARAMS]))
    except ParamsError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
