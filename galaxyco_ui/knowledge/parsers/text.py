"""Plain text: one section, decoded by BOM, UTF-8, Windows-1252 or Latin-1."""

from __future__ import annotations

from pathlib import Path

from galaxyco_ui.knowledge.parsers.common import decode_text, normalise_text
from galaxyco_ui.knowledge.types import DocumentKind, ParsedDocument, Section


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    text = normalise_text(decode_text(path.read_bytes()))
    sections = [Section(text=text)] if text else []
    return ParsedDocument(kind=DocumentKind.TEXT, sections=sections)
