"""Word (DOCX): one section per heading (nested headings joined), tables as " | " rows.

The archive's central directory is checked for zip bombs before python-docx opens it.
"""

from __future__ import annotations

from pathlib import Path

import docx
from docx.table import Table

from galaxyco_ui.knowledge.parsers.common import SectionBuilder
from galaxyco_ui.knowledge.sniffing import not_a_docx, zip_infos
from galaxyco_ui.knowledge.types import DocumentKind, ParsedDocument


def _check_zip_bomb(path: Path) -> None:
    """Refuse archives that would expand too far, before anything decompresses them."""
    infos = zip_infos(path)  # checks the central directory's entries, sizes and ratios
    if "word/document.xml" not in {info.filename for info in infos}:
        raise not_a_docx(info.filename for info in infos)


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    _check_zip_bomb(path)
    document = docx.Document(str(path))
    builder = SectionBuilder(max_chars)
    title = ""
    # ``Paragraph.style`` searches styles.xml on every call (seconds for a long document),
    # so map style ids to names once and read each paragraph's id from its XML.
    style_names = {style.style_id: style.name or "" for style in document.styles}
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.paragraph(_table_text(block))
            continue
        style = style_names.get(block._p.style or "", "")
        if style == "Title" or (style.startswith("Heading ") and style[8:].isdigit()):
            title = title or (" ".join(block.text.split()) if style == "Title" else "")
            builder.heading(1 if style == "Title" else int(style[8:]), block.text)
        else:
            builder.paragraph(block.text, tight=style.startswith("List"))
    title = " ".join((document.core_properties.title or "").split()) or title
    return ParsedDocument(kind=DocumentKind.DOCX, sections=builder.finish(), title=title)


def _table_text(table: Table) -> str:
    """One line per row, cells joined with " | " (merged cells once)."""
    lines = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated once per grid column
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
