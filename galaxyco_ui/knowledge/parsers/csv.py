"""CSV: one section per ``ROWS_PER_SECTION`` rows, each row as "header: value; ..."."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from galaxyco_ui.knowledge.parsers.common import INVISIBLE, decode_text, normalise_text, too_long
from galaxyco_ui.knowledge.sniffing import SNIFF_BYTES, csv_delimiter
from galaxyco_ui.knowledge.types import DocumentError, DocumentKind, ParsedDocument, Section

ROWS_PER_SECTION = 50


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    text = INVISIBLE.sub("", decode_text(path.read_bytes()))
    delimiter, skip_space = csv_delimiter(text[:SNIFF_BYTES])
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=skip_space, strict=True
    )
    sections: list[Section] = []
    lines: list[str] = []
    header: list[str] = []
    first = count = chars = 0
    try:
        for row in reader:
            values = [" ".join(value.split()) for value in row]
            if not any(values):
                continue
            if not header:
                header = [value or f"column {i}" for i, value in enumerate(values, 1)]
                continue
            count += 1
            first = first or count
            labels = header + [f"column {i}" for i in range(len(header) + 1, len(values) + 1)]
            line = "; ".join(
                f"{label}: {value}" for label, value in zip(labels, values, strict=False) if value
            )
            lines.append(line)
            chars += len(line)  # parse_document checks the exact total at the end
            if chars > max_chars:
                raise too_long(max_chars)
            if len(lines) == ROWS_PER_SECTION:
                sections.append(Section(text="\n".join(lines), heading=f"Rows {first}\u2013{count}"))
                lines, first = [], 0
    except csv.Error as exc:
        raise DocumentError(
            f"This CSV file could not be read: line {reader.line_num} is malformed ({exc})."
        ) from None
    if lines:
        sections.append(Section(text="\n".join(lines), heading=f"Rows {first}\u2013{count}"))
    if not sections and header:  # a header and nothing else is still some text
        sections.append(Section(text=normalise_text(", ".join(header))))
    return ParsedDocument(kind=DocumentKind.CSV, sections=sections)
