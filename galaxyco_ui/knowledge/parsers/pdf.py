"""PDF: one section per page with text, headed by the outline (bookmark) path covering it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from galaxyco_ui.knowledge.parsers.common import HEADING_SEPARATOR, normalise_text, too_long
from galaxyco_ui.knowledge.types import DocumentError, DocumentKind, ParsedDocument, Section

log = logging.getLogger("galaxyco.knowledge")

NO_TEXT = "No text was found in this PDF. Scanned pages need OCR, which is not supported yet."
ENCRYPTED = "This PDF is password-protected. Upload a copy without a password."
DAMAGED = "This PDF could not be read: it looks damaged or incomplete."


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    reader = PdfReader(path, strict=False)
    if reader.is_encrypted:
        try:
            opened = bool(reader.decrypt(""))  # owner-only restrictions open without a password
        except Exception:
            opened = False
        if not opened:
            raise DocumentError(ENCRYPTED)
    page_count = len(reader.pages)
    if page_count > max_pages:
        raise DocumentError(
            f"This PDF has {page_count:,} pages, above the limit of {max_pages:,} pages. "
            "Split it into smaller files and upload them separately."
        )
    headings = _headings(reader, page_count)
    sections: list[Section] = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        text = normalise_text(page.extract_text())
        if not text:
            continue
        chars += len(text)
        if chars > max_chars:
            raise too_long(max_chars)
        sections.append(Section(text=text, heading=headings[number - 1], page=number))
    try:
        metadata = reader.metadata
        title = " ".join(str((metadata.get("/Title") if metadata else None) or "").split())
    except Exception:
        title = ""
    return ParsedDocument(kind=DocumentKind.PDF, sections=sections, page_count=page_count, title=title)


def _headings(reader: PdfReader, page_count: int) -> list[str]:
    """The outline (bookmark) path in effect on each page; "" where there is none."""
    starts: list[tuple[int, int, str]] = []  # (page index, outline order, heading path)

    def walk(items: list[Any], parents: list[str], depth: int) -> None:
        last = ""
        for item in items:
            if len(starts) >= 5_000 or depth > 16:
                return
            if isinstance(item, list):
                walk(item, [*parents, last] if last else parents, depth + 1)
                continue
            last = " ".join(str(getattr(item, "title", "") or "").split())
            page = reader.get_destination_page_number(item)
            if last and page is not None and 0 <= page < page_count:
                starts.append((page, len(starts), HEADING_SEPARATOR.join([*parents, last])))

    try:
        walk(reader.outline, [], 0)
    except Exception as exc:  # a broken outline only costs us the headings
        log.info("ignored a broken PDF outline: %r", exc)
        starts = []
    headings = [""] * page_count
    current, index = "", 0
    starts.sort()
    for page in range(page_count):
        while index < len(starts) and starts[index][0] <= page:
            current = starts[index][2]
            index += 1
        headings[page] = current
    return headings
