"""Turn an uploaded file into text sections, once its type is known.

    kind = sniffing.detect_kind(path, filename)  # from the content; the name breaks ties
    doc = parse_document(path, kind, max_pages=..., max_chars=...)

Every problem a user can fix (encrypted, damaged, empty, too long, zip bomb, unsupported type)
is a ``DocumentError`` whose message is shown on the item; no exception from a parser
library escapes ``parse_document``.

Each parser returns ``Section`` objects: one per PDF page (with the page number and the
outline title covering it), one per heading for Word, Markdown and HTML (nested headings
joined with ``HEADING_SEPARATOR``), one per 50 rows for CSV, and one for plain text.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
from bs4 import (
    BeautifulSoup,
    CData,
    MarkupResemblesLocatorWarning,
    NavigableString,
    Tag,
    XMLParsedAsHTMLWarning,
)
from docx.table import Table
from pypdf import PdfReader

from galaxyco_ui.knowledge.sniffing import (
    DOCX_DAMAGED,
    EMPTY,
    SNIFF_BYTES,
    csv_delimiter,
    not_a_docx,
    zip_infos,
)
from galaxyco_ui.knowledge.types import KIND_LABELS, DocumentError, DocumentKind, ParsedDocument, Section

log = logging.getLogger("galaxyco.knowledge")

HEADING_SEPARATOR = " \u203a "  # a single right-pointing angle quotation mark
CSV_ROWS_PER_SECTION = 50

_NO_TEXT = "No text was found in this file."
_PDF_NO_TEXT = "No text was found in this PDF. Scanned pages need OCR, which is not supported yet."
_PDF_ENCRYPTED = "This PDF is password-protected. Upload a copy without a password."
_PDF_DAMAGED = "This PDF could not be read: it looks damaged or incomplete."

_SPACE = "[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\u2028\u2029\x85]")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff\u00ad]")
_INNER_SPACES = re.compile(rf"(?<=\S){_SPACE}+")
_TRAILING_SPACES = re.compile(rf"{_SPACE}+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_WHITESPACE_RUN = re.compile(r"\s+")
_MD_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def _too_long(max_chars: int) -> DocumentError:
    return DocumentError(
        f"This document has more than {max_chars:,} characters of text, above the limit for one "
        "file. Split it into smaller files and upload them separately."
    )


def normalise_text(text: str) -> str:
    """Tidy extracted text: collapse runs of spaces, keep paragraph breaks, drop NULs.

    Line breaks become ``\\n``, control and zero-width characters are removed, spaces
    inside a line collapse to one (leading indentation is kept), trailing spaces go, and
    three or more newlines become one blank line.
    """
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _INNER_SPACES.sub(" ", text)
    text = _TRAILING_SPACES.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


# -- parsing ----------------------------------------------------------------------------------


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
        damaged = {DocumentKind.PDF: _PDF_DAMAGED, DocumentKind.DOCX: DOCX_DAMAGED}
        raise DocumentError(damaged.get(kind, f"This {KIND_LABELS[kind]} file could not be read.")) from exc
    if not doc.sections:
        raise DocumentError(_PDF_NO_TEXT if kind is DocumentKind.PDF else _NO_TEXT)
    if sum(len(section.text) for section in doc.sections) > max_chars:
        raise _too_long(max_chars)
    return doc


class _SectionBuilder:
    """Collects paragraphs under a stack of headings and emits ``Section`` objects."""

    def __init__(self, max_chars: int) -> None:
        self.sections: list[Section] = []
        self._headings: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._tight = False
        self._chars = 0
        self._max_chars = max_chars

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self.flush()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))

    def paragraph(self, text: str, *, tight: bool = False) -> None:
        """Add a paragraph; consecutive ``tight`` ones (list items) share one block."""
        text = normalise_text(text)
        if not text:
            return
        self._chars += len(text)  # parse_document checks the exact total at the end
        if self._chars > self._max_chars:
            raise _too_long(self._max_chars)
        if tight and self._tight and self._paragraphs:
            self._paragraphs[-1] += "\n" + text
        else:
            self._paragraphs.append(text)
        self._tight = tight

    def flush(self) -> None:
        if self._paragraphs:
            heading = HEADING_SEPARATOR.join(text for _, text in self._headings)
            self.sections.append(Section(text="\n\n".join(self._paragraphs), heading=heading))
        self._paragraphs = []
        self._tight = False

    def finish(self) -> list[Section]:
        self.flush()
        return self.sections


def _decode_text(data: bytes) -> str:
    """Decode a whole text file: BOM, else UTF-8, else Windows-1252, else Latin-1.

    A UTF-8 file with a few broken bytes (most of its non-ASCII text is valid) stays
    UTF-8 with replacement characters rather than turning into mojibake.
    """
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    if broken * 10 <= sum(1 for char in text if char > "\x7f"):
        return text
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse_text(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    text = normalise_text(_decode_text(path.read_bytes()))
    sections = [Section(text=text)] if text else []
    return ParsedDocument(kind=DocumentKind.TEXT, sections=sections)


def _parse_pdf(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    reader = PdfReader(path, strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # owner-only restrictions open without a password
        except Exception:
            opened = 0
        if not opened:
            raise DocumentError(_PDF_ENCRYPTED)
    page_count = len(reader.pages)
    if page_count > max_pages:
        raise DocumentError(
            f"This PDF has {page_count:,} pages, above the limit of {max_pages:,} pages. "
            "Split it into smaller files and upload them separately."
        )
    headings = _pdf_headings(reader, page_count)
    sections: list[Section] = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        text = normalise_text(page.extract_text())
        if not text:
            continue
        chars += len(text)
        if chars > max_chars:
            raise _too_long(max_chars)
        sections.append(Section(text=text, heading=headings[number - 1], page=number))
    try:
        title = " ".join(str((reader.metadata or {}).get("/Title") or "").split())
    except Exception:
        title = ""
    return ParsedDocument(kind=DocumentKind.PDF, sections=sections, page_count=page_count, title=title)


def _pdf_headings(reader: PdfReader, page_count: int) -> list[str]:
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


def _check_zip_bomb(path: Path) -> None:
    """Refuse archives that would expand too far, before anything decompresses them."""
    infos = zip_infos(path)  # checks the central directory's entries, sizes and ratios
    if "word/document.xml" not in {info.filename for info in infos}:
        raise not_a_docx(info.filename for info in infos)


def _parse_docx(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    _check_zip_bomb(path)
    document = docx.Document(str(path))
    builder = _SectionBuilder(max_chars)
    title = ""
    # ``Paragraph.style`` searches styles.xml on every call (seconds for a long document),
    # so map style ids to names once and read each paragraph's id from its XML.
    style_names = {style.style_id: style.name or "" for style in document.styles}
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.paragraph(_docx_table_text(block))
            continue
        style = style_names.get(block._p.style or "", "")
        if style == "Title" or (style.startswith("Heading ") and style[8:].isdigit()):
            title = title or (" ".join(block.text.split()) if style == "Title" else "")
            builder.heading(1 if style == "Title" else int(style[8:]), block.text)
        else:
            builder.paragraph(block.text, tight=style.startswith("List"))
    title = " ".join((document.core_properties.title or "").split()) or title
    return ParsedDocument(kind=DocumentKind.DOCX, sections=builder.finish(), title=title)


def _docx_table_text(table: Table) -> str:
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


def _parse_markdown(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    lines = normalise_text(_decode_text(path.read_bytes())).split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, line in enumerate(lines[1:200], 1) if line.strip() in ("---", "...")), 0)
        lines = lines[end + 1 :] if end else lines
    builder = _SectionBuilder(max_chars)
    buffer: list[str] = []
    fence = ""
    title = ""
    for line in lines:
        if fence:
            buffer.append(line)
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
            continue
        if match := _MD_FENCE.match(line):
            fence = match.group(1)
            buffer.append(line)
            continue
        heading, level = None, 0
        if match := _MD_ATX.match(line):
            heading, level = (match.group(2) or "").strip(), len(match.group(1))
        elif (match := _MD_SETEXT.match(line)) and buffer and buffer[-1].strip():
            heading, level = buffer.pop().strip(), 1 if match.group(1)[0] == "=" else 2
        if heading is None:
            buffer.append(line)
            continue
        builder.paragraph("\n".join(buffer))
        buffer = []
        title = title or (heading if level == 1 else "")
        builder.heading(level, heading)
    builder.paragraph("\n".join(buffer))
    return ParsedDocument(kind=DocumentKind.MARKDOWN, sections=builder.finish(), title=title)


_HTML_DROP = ("script", "style", "noscript", "template", "svg", "head", "iframe", "object", "embed", "canvas")
_HTML_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog"),
        *("div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup"),
        *("hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "ul"),
    }
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}


def _parse_html(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    with warnings.catch_warnings():  # bs4 warns about markup that looks like a URL or XML
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(path.read_bytes(), "lxml")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()

    builder = _SectionBuilder(max_chars)
    buffer: list[str] = []
    prefix = ""
    in_pre = 0

    def flush() -> None:
        nonlocal buffer, prefix
        text = "".join(buffer).strip()
        if text:
            builder.paragraph(prefix + text, tight=bool(prefix))
            prefix = ""
        buffer = []

    stack: list[tuple[Any, bool]] = [(soup, False)]
    while stack:  # iterative: deeply nested markup must not hit the recursion limit
        node, closing = stack.pop()
        if closing:
            flush()
            if node.name == "pre":
                in_pre -= 1
            elif node.name == "li":
                prefix = ""
            continue
        if isinstance(node, NavigableString):
            if type(node) is NavigableString or isinstance(node, CData):
                buffer.append(str(node) if in_pre else _WHITESPACE_RUN.sub(" ", str(node)))
            continue
        if not isinstance(node, Tag):
            continue
        if node.name in _HTML_HEADINGS:
            flush()
            builder.heading(_HTML_HEADINGS[node.name], node.get_text(" "))
            continue
        if node.name == "table":
            flush()
            builder.paragraph(_html_table_text(node))
            continue
        if node.name == "br":
            buffer.append("\n")
            continue
        if node.name in _HTML_BLOCKS:
            flush()
            if node.name == "li":
                prefix = "- "
            elif node.name == "pre":
                in_pre += 1
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    flush()
    return ParsedDocument(kind=DocumentKind.HTML, sections=builder.finish(), title=title)


def _html_table_text(table: Tag) -> str:
    """One line per row, cells joined with " | "."""
    lines = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # a nested table's rows appear in its cell's text
        cells = [" ".join(cell.get_text(" ").split()) for cell in row.find_all(("td", "th"), recursive=False)]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _parse_csv(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    text = _INVISIBLE.sub("", _decode_text(path.read_bytes()))
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
                raise _too_long(max_chars)
            if len(lines) == CSV_ROWS_PER_SECTION:
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


_PARSERS: dict[DocumentKind, Callable[[Path, int, int], ParsedDocument]] = {
    DocumentKind.PDF: _parse_pdf,
    DocumentKind.DOCX: _parse_docx,
    DocumentKind.MARKDOWN: _parse_markdown,
    DocumentKind.HTML: _parse_html,
    DocumentKind.TEXT: _parse_text,
    DocumentKind.CSV: _parse_csv,
}
