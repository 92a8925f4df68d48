"""Publishing the article and its supplementary as one self-contained site folder (``make publish``).

:func:`publish` writes the supplementary's pages (:func:`helpers.supplementary.build_supplementary`), renders the
Quarto manuscript with the ``publish`` profile (``_quarto-publish.yml``: the article in HTML, Word, JATS and MECA,
the executed notebooks as notebook pages, the supplementary's pages) into :data:`PUBLISH_DIR`, and copies the
revision reports of ``make diff`` (``<build>/diff/``, ``<build>/variants/<name>/diff/``) to the same relative place
in it, so every relative link of the site resolves wherever the folder is served from.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from helpers import render
from helpers.paths import project_path, project_root, source_epoch

PUBLISH_DIR = "_publish"
PROFILE = "publish"
# The supplementary's pages (helpers.supplementary writes them), in the order it lists them: file stem -> title (the
# page's heading). Here, not in helpers.supplementary, so that the Snakefile reads them without importing pandas.
PAGES = {
    "index": "Supplementary material",
    "reproduction": "Reproduction of the reported results",
    "data-quality": "Data quality",
    "variants": "Analysis variants and revision reports",
    "provenance": "Provenance of this build",
}


def diff_reports(build: Path) -> list[Path]:
    """The revision-report folders of a build and of its variants (``make diff`` writes ``diff/index.html``)."""
    found = [build / "diff", *sorted((build / "variants").glob("*/diff"))]
    return [d for d in found if (d / "index.html").is_file()]


def publish(build_dir: str | Path = "build", log: str | Path | None = None) -> int:
    """Write the supplementary's pages, render the site into ``_publish/`` and add the revision reports; returns
    Quarto's exit code (0 with one line when there is no usable Quarto, as :func:`helpers.render.render`)."""
    build = project_path(build_dir)
    if not (build / "results.json").is_file():
        print(f"publish: no {build / 'results.json'}: run `make report` (the pipeline) first", file=sys.stderr)
        return 1
    from helpers import supplementary  # pandas: not at import (the Snakefile imports this module)

    supplementary.build_supplementary(build)
    site = project_root() / PUBLISH_DIR
    before = os.environ.get("QUARTO_PROFILE")
    os.environ["QUARTO_PROFILE"] = PROFILE  # render.render passes its environment on to Quarto
    try:
        code = render.render(build_dir, log or build / "logs" / "publish.log")
    finally:
        if before is None:
            del os.environ["QUARTO_PROFILE"]
        else:
            os.environ["QUARTO_PROFILE"] = before
    if code != 0 or not (site / "index.html").is_file():
        return code
    # Quarto matches the manuscript's resource paths (build/notebooks/*.ipynb) at any depth, so the everyday render's
    # copies in _manuscript/ would be published too: not part of the site.
    shutil.rmtree(site / render.MANUSCRIPT_DIR, ignore_errors=True)
    meca = site / "index-meca.zip"
    found = source_epoch()
    if found and meca.is_file():
        render.normalize_zip(meca, found[0])
    for report in diff_reports(build):
        target = site / report.relative_to(project_root())
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(report, target)
    print(f"published site: {site}/ (open index.html, or serve the folder: see README, Publishing)")
    return 0
