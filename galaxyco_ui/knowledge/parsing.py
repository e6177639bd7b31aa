"""Turn an uploaded file into text sections, once its type is known.

    kind = sniffing.detect_kind(path, filename)  # from the content; the name breaks ties
    doc = parse_document(path, kind, max_pages=..., max_chars=...)

Every problem a user can fix (encrypted, damaged, empty, too long, zip bomb, unsupported type)
is a ``DocumentError`` whose message is shown on the item; no exception from a parser
library escapes ``parse_document``.

Each parser (``knowledge.parsers.<kind>``) returns ``Section`` objects: one per PDF page
(with the page number and the outline title covering it), one per heading for Word,
Markdown and HTML (nested headings joined with ``HEADING_SEPARATOR``), one per 50 rows for
CSV, and one for plain text. This module only picks the parser and enforces the rules
every format shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from galaxyco_ui.knowledge.parsers import csv, docx, html, markdown, pdf, text
from galaxyco_ui.knowledge.parsers.common import HEADING_SEPARATOR, normalise_text, too_long
from galaxyco_ui.knowledge.sniffing import DOCX_DAMAGED, EMPTY
from galaxyco_ui.knowledge.types import KIND_LABELS, DocumentError, DocumentKind, ParsedDocument

__all__ = ["CSV_ROWS_PER_SECTION", "HEADING_SEPARATOR", "normalise_text", "parse_document"]

log = logging.getLogger("galaxyco.knowledge")

CSV_ROWS_PER_SECTION = csv.ROWS_PER_SECTION

_NO_TEXT = "No text was found in this file."

_PARSERS: dict[DocumentKind, Callable[[Path, int, int], ParsedDocument]] = {
    DocumentKind.PDF: pdf.parse,
    DocumentKind.DOCX: docx.parse,
    DocumentKind.MARKDOWN: markdown.parse,
    DocumentKind.HTML: html.parse,
    DocumentKind.TEXT: text.parse,
    DocumentKind.CSV: csv.parse,
}


def parse_document(path: Path, kind: DocumentKind, *, max_pages: int, max_chars: int) -> ParsedDocument:
    """Extract the text of ``path`` as sections, read as ``kind``.

    Args:
        path: the stored upload.
        kind: from ``detect_kind``.
        max_pages: refuse PDFs with more pages (``Settings.knowledge_max_pages``).
        max_chars: refuse documents with more text (``Settings.knowledge_max_extracted_chars``).

    Returns:
        The document; every section has non-empty text and there is at least one.

    Raises:
        DocumentError: empty, encrypted, damaged, over a limit, or no text found. Any
            other failure inside a parser library is reported as this too.
    """
    try:
        if path.stat().st_size == 0:
            raise DocumentError(EMPTY)
        doc = _PARSERS[kind](path, max_pages, max_chars)
    except DocumentError:
        raise
    except Exception as exc:  # parser libraries raise anything on hostile input
        log.warning("could not parse %s document: %r", kind, exc, extra={"kind": str(kind)})
        damaged = {DocumentKind.PDF: pdf.DAMAGED, DocumentKind.DOCX: DOCX_DAMAGED}
        raise DocumentError(damaged.get(kind, f"This {KIND_LABELS[kind]} file could not be read.")) from exc
    if not doc.sections:
        raise DocumentError(pdf.NO_TEXT if kind is DocumentKind.PDF else _NO_TEXT)
    if sum(len(section.text) for section in doc.sections) > max_chars:
        raise too_long(max_chars)
    return doc
