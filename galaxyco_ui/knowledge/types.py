"""The values the knowledge pipeline passes between its stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from galaxyco_ui.errors import GalaxyError


class DocumentKind(StrEnum):
    """A document type, decided from the file's content (the name only breaks ties)."""

    PDF = "pdf"
    DOCX = "docx"
    MARKDOWN = "markdown"
    HTML = "html"
    TEXT = "text"
    CSV = "csv"


KIND_LABELS: dict[DocumentKind, str] = {
    DocumentKind.PDF: "PDF",
    DocumentKind.DOCX: "Word",
    DocumentKind.MARKDOWN: "Markdown",
    DocumentKind.HTML: "HTML",
    DocumentKind.TEXT: "Text",
    DocumentKind.CSV: "CSV",
}

KIND_MEDIA_TYPES: dict[DocumentKind, str] = {
    DocumentKind.PDF: "application/pdf",
    DocumentKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocumentKind.MARKDOWN: "text/markdown; charset=utf-8",
    DocumentKind.HTML: "text/html; charset=utf-8",
    DocumentKind.TEXT: "text/plain; charset=utf-8",
    DocumentKind.CSV: "text/csv; charset=utf-8",
}


class DocumentError(GalaxyError):
    """A file that cannot be used: its message is shown on the item (``failed`` status).

    Examples: "This PDF is encrypted. Upload a copy without a password.",
    "The file is empty.", "This file type is not supported: ...".
    """


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading (and, for PDFs, on one page).

    Attributes:
        text: the section's text, paragraphs separated by blank lines.
        heading: the nearest heading above it ("" when there is none), e.g.
            "Installation > Linux" (joined with U+203A) for nested headings.
        page: the 1-based page number (PDF only), else None.
    """

    text: str
    heading: str = ""
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A whole document as the parser read it."""

    kind: DocumentKind
    sections: list[Section]
    page_count: int | None = None
    title: str = ""

    @property
    def text(self) -> str:
        """The extracted text, sections separated by blank lines."""
        return "\n\n".join(s.text for s in self.sections if s.text)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable piece of a document: what the agent reads and cites.

    Attributes:
        ordinal: 0-based position in the document.
        text: the chunk text (with its overlap into the previous chunk).
        heading: the heading of the section it came from ("" when none).
        page: the 1-based page the chunk starts on (PDF only), else None.
        token_count: an estimate of its tokens (``chunking.count_tokens``).
    """

    ordinal: int
    text: str
    heading: str = ""
    page: int | None = None
    token_count: int = 0


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk as the index stores it (one LanceDB row)."""

    item_id: str
    collection_id: str
    ordinal: int
    text: str
    heading: str = ""
    page: int | None = None
    token_count: int = 0

    @property
    def chunk_id(self) -> str:
        return f"{self.item_id}:{self.ordinal}"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked chunk from ``KnowledgeIndex.search``.

    ``score`` is the ranking score of the mode used (BM25 for full text, 1 - distance
    for vectors, the reciprocal-rank-fusion sum for hybrid); higher is better.
    """

    row: ChunkRow
    score: float
    matched_by: tuple[str, ...] = field(default=())
