"""The Word reference document of the manuscript (``templates/reference.docx``): pandoc's default styles with
table text at 9 pt, so that the submission's tables fit a portrait page with every number on one line, and the
paragraph styles of indented row labels ("Table Label 1", "Table Label 2": a category under its variable, a measure
under its section heading), whose left indent keeps a wrapped label's second line indented.

Regenerate with ``python -m helpers.docx_reference`` (needs Quarto, whose pandoc prints its default reference
document). The column widths themselves are set by ``filters/docx-table-widths.lua``, which assumes this font size
and pandoc's default page (US Letter, 1-inch margins: 9360 twips of text width).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers.paths import project_root

TABLE_FONT_HALF_POINTS = 18  # 9 pt (Word sizes are in half-points)
# US Letter, 1-inch margins, in twips: pandoc's default reference names no page, and then Word, LibreOffice and
# pandoc's own table arithmetic each assume another one. filters/docx-table-widths.lua uses the same numbers.
PAGE = ('<w:pgSz w:w="12240" w:h="15840"/><w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" '
        'w:header="720" w:footer="720" w:gutter="0"/>')
REFERENCE = Path("templates") / "reference.docx"
LABEL_LEVELS = 2
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # every member's date: the same sources make the same bytes


def label_style(level: int, half_points: int = TABLE_FONT_HALF_POINTS) -> str:
    """The paragraph style ``Table Label <level>`` (id ``TableLabel<level>``): pandoc's ``Compact`` (the style of
    table cells) indented ``level`` ems of the table text (an em of ``half_points`` is 10 * half_points twips: 180
    at 9 pt). filters/docx-table-widths.lua gives it to a label that began with ``level`` em spaces
    (helpers.tables.INDENT)."""
    return (f'<w:style w:type="paragraph" w:customStyle="1" w:styleId="TableLabel{level}">'
            f'<w:name w:val="Table Label {level}"/><w:basedOn w:val="Compact"/><w:qFormat/>'
            f'<w:pPr><w:ind w:left="{level * 10 * half_points}"/></w:pPr></w:style>')


def default_reference(quarto: str = "quarto") -> bytes:
    """pandoc's default reference.docx, from the pandoc that ships with Quarto."""
    exe = shutil.which(quarto) or quarto
    return subprocess.run([exe, "pandoc", "--print-default-data-file", "reference.docx"], capture_output=True,
                          check=True).stdout


def with_project_styles(docx: bytes, half_points: int = TABLE_FONT_HALF_POINTS) -> bytes:
    """``docx`` with run properties (font size ``half_points``) on its default table style ``Table``, the label
    styles (:func:`label_style`), and an explicit page size and margins (:data:`PAGE`); dated :data:`ZIP_DATE`."""
    rpr = f'<w:rPr><w:sz w:val="{half_points}"/><w:szCs w:val="{half_points}"/></w:rPr>'
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/styles.xml":
                styles = data.decode("utf-8")
                pattern = re.compile(r'(<w:style w:type="table"[^>]*w:styleId="Table"[^>]*>.*?)(<w:tblPr>)', re.S)
                styles, n = pattern.subn(lambda m: m.group(1) + rpr + m.group(2), styles, count=1)
                if n != 1:
                    raise ValueError("reference.docx: no table style 'Table' to set the table font size on")
                if 'w:styleId="Compact"' not in styles:
                    raise ValueError("reference.docx: no paragraph style 'Compact' to base the label styles on")
                labels = "".join(label_style(level, half_points) for level in range(1, LABEL_LEVELS + 1))
                styles = styles.replace("</w:styles>", labels + "</w:styles>", 1)
                data = styles.encode("utf-8")
            elif item.filename == "word/document.xml":
                doc = data.decode("utf-8")
                doc, n = re.subn(r"</w:sectPr>", PAGE + "</w:sectPr>", doc, count=1)  # after footnotePr (schema order)
                if n != 1:
                    raise ValueError("reference.docx: no section properties to set the page on")
                data = doc.encode("utf-8")
            item.date_time = ZIP_DATE  # pandoc stamps its default reference with the clock
            zout.writestr(item, data)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    out = project_root() / REFERENCE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(with_project_styles(default_reference()))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
