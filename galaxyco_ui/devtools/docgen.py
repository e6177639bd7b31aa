"""Small document generators for tests, benchmarks and browser tests.

Everything here is built from the standard library plus the parsers the product already
depends on (pypdf, python-docx), so no test needs fixture files checked into the repo::

    make_pdf(["Page one text", "Page two text"], title="Manual")    a real, readable PDF
    make_encrypted_pdf(["secret page"], password="pw")               needs a password
    make_docx([("heading1", "Setup"), ("para", "Run it."), ("table", "a | b\\n1 | 2")])
    make_zip_bomb_docx(expanded_mb=300)                              a docx-shaped zip bomb
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Sequence

_PDF_WRAP = 90  # characters per line: Helvetica 11 pt fits ~90 on a Letter page
_PDF_LEADING = 14
_PDF_TOP = 750

_DOCX_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
_DOCX_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="word/document.xml"/></Relationships>'
)


def _pdf_string(line: str) -> bytes:
    """A PDF literal string for ``line`` (WinAnsi bytes, ``\\ ( )`` escaped)."""
    raw = line.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _pdf_content(text: str) -> bytes:
    """The content stream that draws ``text`` top-down, one wrapped line per ``Tj``."""
    ops = [b"BT /F1 11 Tf %d %d Td %d TL" % (72, _PDF_TOP, _PDF_LEADING)]
    for paragraph_line in text.split("\n"):
        wrapped = textwrap.wrap(paragraph_line, _PDF_WRAP, break_long_words=True) or [""]
        for line in wrapped:
            ops.append(_pdf_string(line) + b" Tj T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def make_pdf(pages: Sequence[str], *, title: str = "") -> bytes:
    """Write a small, valid PDF by hand: one page per string, text in Helvetica.

    Lines longer than ~90 characters are wrapped; ``\\n`` starts a new line. Characters
    outside Windows-1252 become ``?``. pypdf extracts the text back.

    Args:
        pages: the text of each page (an empty string makes a blank page).
        title: stored as the document's ``/Title`` when given.

    Returns:
        The PDF file's bytes.
    """
    objects: list[bytes] = []  # objects[i] is object number i + 1

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree exists
    page_tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    page_ids: list[int] = []
    for text in pages:
        content = _pdf_content(text)
        stream = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (page_tree, font, stream)
            )
        )
    kids = b" ".join(b"%d 0 R" % pid for pid in page_ids)
    objects[page_tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % page_tree
    info = add(b"<< /Title %s /Producer (GalaxyCo docgen) >>" % _pdf_string(title)) if title else 0

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"/Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref_at)
    return bytes(out)


def make_encrypted_pdf(
    pages: Sequence[str] = ("This page is secret.",),
    *,
    password: str = "secret",  # noqa: S107 - a test fixture, not a credential
    owner_password: str | None = None,
) -> bytes:
    """A ``make_pdf`` document encrypted with pypdf (AES-128).

    Args:
        pages: the text of each page.
        password: the user password needed to open it; ``""`` makes a PDF that opens
            without a password but is still encrypted (owner restrictions only).
        owner_password: the owner password (defaults to ``password`` + "-owner").

    Returns:
        The encrypted PDF's bytes.
    """
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(pages))))
    writer.encrypt(
        user_password=password,
        owner_password=owner_password if owner_password is not None else password + "-owner",
        algorithm="AES-128",
    )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(blocks: Sequence[tuple[str, str]]) -> bytes:
    """Build a Word document with python-docx.

    Args:
        blocks: ``(kind, text)`` pairs in order. ``kind`` is ``"title"``, ``"heading1"`` to
            ``"heading6"``, ``"para"`` or ``"table"``; a table's text has one row per line
            and cells separated by ``|``.

    Returns:
        The .docx file's bytes.

    Raises:
        ValueError: for an unknown block kind.
    """
    import docx

    document = docx.Document()
    for kind, text in blocks:
        if kind == "title":
            document.add_heading(text, level=0)
        elif kind.startswith("heading") and kind[7:].isdigit():
            document.add_heading(text, level=int(kind[7:]))
        elif kind == "para":
            document.add_paragraph(text)
        elif kind == "table":
            rows = [[cell.strip() for cell in line.split("|")] for line in text.splitlines() if line.strip()]
            width = max((len(row) for row in rows), default=1)
            table = document.add_table(rows=len(rows), cols=width)
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        else:
            raise ValueError(f"unknown block kind: {kind!r}")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip_bomb_docx(expanded_mb: int = 300, *, entries: int = 0) -> bytes:
    """A docx-shaped zip whose ``word/document.xml`` expands to ``expanded_mb`` MB.

    The payload is streamed into the archive 1 MB at a time, so building a 300 MB bomb
    needs about 1 MB of memory (the result itself is a few hundred KB).

    Args:
        expanded_mb: the declared uncompressed size of ``word/document.xml``, in MB.
        entries: when above 0, also add this many tiny extra parts (to test limits on the
            number of entries).

    Returns:
        The zip file's bytes.
    """
    buffer = io.BytesIO()
    block = b"<w:p/>" * (1024 * 1024 // 6) + b"    "
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_CONTENT_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELS)
        for number in range(entries):
            archive.writestr(f"word/media/part{number}.xml", b"<x/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(expanded_mb):
                member.write(block)
    return buffer.getvalue()
