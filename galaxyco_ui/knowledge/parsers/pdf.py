"""PDF: one section per page with text, headed by the outline (bookmark) path covering it.

PDFium (``pypdfium2``, C++) reads the text, about three times faster than pypdf, which
is pure Python. pypdf stays as the fallback for what PDFium cannot use: a file it
refuses to open (other than for a password) is read by pypdf alone, and a page where
PDFium finds no text is asked of pypdf too (a content stream PDFium skips over as
broken is one pypdf reports, so that document is refused as damaged, as before).

PDFium is a C library: it is imported here, on the first PDF, and only ever runs in an
extraction process (``knowledge.extract``), where a crash or a hang costs one document;
the app and worker processes never load it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from galaxyco_ui.knowledge.parsers.common import HEADING_SEPARATOR, normalise_text, too_long
from galaxyco_ui.knowledge.types import DocumentError, DocumentKind, ParsedDocument, Section

log = logging.getLogger("galaxyco.knowledge")

NO_TEXT = "No text was found in this PDF. Scanned pages need OCR, which is not supported yet."
ENCRYPTED = "This PDF is password-protected. Upload a copy without a password."
DAMAGED = "This PDF could not be read: it looks damaged or incomplete."

_MAX_OUTLINE_ITEMS = 5_000
_MAX_OUTLINE_DEPTH = 16
# PDFium marks a word hyphenated at the end of a line with U+FFFE (the hyphen and the
# line break are dropped); pypdf keeps both, and so do we.
_PDFIUM_HYPHEN = "\ufffe"


def _pdfium() -> Any:
    """The ``pypdfium2`` module, imported on first use (only extraction processes get here)."""
    import pypdfium2  # type: ignore[import-untyped]  # the package has no type information

    return pypdfium2


def preload() -> None:
    """Load PDFium now (an extraction process calls this when it starts)."""
    _pdfium()


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    pdfium = _pdfium()
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise DocumentError(ENCRYPTED) from None
        log.info("PDFium could not open a PDF, trying pypdf: %s", error)
        return _parse_with_pypdf(path, max_pages, max_chars)
    try:
        page_count = len(document)
        _check_pages(page_count, max_pages)
        headings = _page_headings(_pdfium_outline(document, page_count), page_count)
        fallback = _PypdfPages(path)
        sections: list[Section] = []
        chars = 0
        for index in range(page_count):
            text = normalise_text(_pdfium_page_text(document, index)) or fallback.text(index)
            if not text:
                continue
            chars += len(text)
            if chars > max_chars:
                raise too_long(max_chars)
            sections.append(Section(text=text, heading=headings[index], page=index + 1))
        title = " ".join(document.get_metadata_value("Title").split())
    finally:
        document.close()
    return ParsedDocument(kind=DocumentKind.PDF, sections=sections, page_count=page_count, title=title)


def _check_pages(page_count: int, max_pages: int) -> None:
    if page_count > max_pages:
        raise DocumentError(
            f"This PDF has {page_count:,} pages, above the limit of {max_pages:,} pages. "
            "Split it into smaller files and upload them separately."
        )


def _pdfium_page_text(document: Any, index: int) -> str:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            text: str = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    return text.replace(_PDFIUM_HYPHEN, "-\n")


class _PypdfPages:
    """pypdf's text of single pages, for those where PDFium found none (opened on first use).

    A file pypdf cannot open at all leaves those pages empty: PDFium read the rest.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reader: PdfReader | None = None
        self._unreadable = False

    def text(self, index: int) -> str:
        if self._reader is None and not self._unreadable:
            try:
                self._reader = _open_with_pypdf(self._path)
            except Exception as exc:  # DocumentError too: pypdf may lack a cipher PDFium has
                log.info("pypdf could not open a PDF that PDFium read: %r", exc)
                self._unreadable = True
        if self._reader is None or index >= len(self._reader.pages):
            return ""
        return normalise_text(self._reader.pages[index].extract_text())


@contextmanager
def _ignoring_broken_outline() -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # a broken outline only costs us the headings
        log.info("ignored a broken PDF outline: %r", exc)


def _pdfium_outline(document: Any, page_count: int) -> list[tuple[int, int, str]]:
    """(page index, outline order, heading path) of every titled outline item."""
    pdfium_c = _pdfium().raw
    starts: list[tuple[int, int, str]] = []
    path: list[str] = []  # the titles of the current item's ancestors, by level ("" if untitled)
    with _ignoring_broken_outline():
        for count, bookmark in enumerate(document.get_toc(max_depth=_MAX_OUTLINE_DEPTH)):
            if count >= _MAX_OUTLINE_ITEMS:
                break
            del path[bookmark.level :]
            title = " ".join((bookmark.get_title() or "").split())
            path.append(title)
            dest = pdfium_c.FPDFBookmark_GetDest(document, bookmark)  # or its GoTo action's
            page = pdfium_c.FPDFDest_GetDestPageIndex(document, dest) if dest else -1
            if title and 0 <= page < page_count:
                starts.append((page, len(starts), HEADING_SEPARATOR.join(t for t in path if t)))
        return starts
    return []


def _page_headings(starts: list[tuple[int, int, str]], page_count: int) -> list[str]:
    """The outline path in effect on each page; "" where there is none."""
    headings = [""] * page_count
    current, index = "", 0
    starts.sort()
    for page in range(page_count):
        while index < len(starts) and starts[index][0] <= page:
            current = starts[index][2]
            index += 1
        headings[page] = current
    return headings


# -- pypdf: the fallback ----------------------------------------------------------------------


def _open_with_pypdf(path: Path) -> PdfReader:
    reader = PdfReader(path, strict=False)
    if reader.is_encrypted:
        try:
            opened = bool(reader.decrypt(""))  # owner-only restrictions open without a password
        except Exception:
            opened = False
        if not opened:
            raise DocumentError(ENCRYPTED)
    return reader


def _parse_with_pypdf(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    reader = _open_with_pypdf(path)
    page_count = len(reader.pages)
    _check_pages(page_count, max_pages)
    headings = _page_headings(_pypdf_outline(reader, page_count), page_count)
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


def _pypdf_outline(reader: PdfReader, page_count: int) -> list[tuple[int, int, str]]:
    starts: list[tuple[int, int, str]] = []

    def walk(items: list[Any], parents: list[str], depth: int) -> None:
        last = ""
        for item in items:
            if len(starts) >= _MAX_OUTLINE_ITEMS or depth > _MAX_OUTLINE_DEPTH:
                return
            if isinstance(item, list):
                walk(item, [*parents, last] if last else parents, depth + 1)
                continue
            last = " ".join(str(getattr(item, "title", "") or "").split())
            page = reader.get_destination_page_number(item)
            if last and page is not None and 0 <= page < page_count:
                starts.append((page, len(starts), HEADING_SEPARATOR.join([*parents, last])))

    with _ignoring_broken_outline():
        walk(reader.outline, [], 0)
        return starts
    return []
