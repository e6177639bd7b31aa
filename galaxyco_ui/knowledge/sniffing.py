"""Decide what kind of document an upload is, from its bytes.

The type comes from the content (``%PDF-``, zip magic and the parts inside a zip, markup),
never from the name alone: a ``.txt`` that is a PDF is a PDF, a ``.pdf`` that is text is
text. The name only breaks ties between text formats (Markdown, CSV, plain text).
Anything else (binary, legacy Office, spreadsheets, presentations) is refused with a
``DocumentError`` that says what to upload instead.
"""

from __future__ import annotations

import codecs
import csv
import re
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePath

from galaxyco_ui.knowledge.types import DocumentError, DocumentKind

SNIFF_BYTES = 8192
# Zip bomb limits for .docx files (a real one has tens of parts and expands a few times).
DOCX_MAX_ENTRIES = 2_000
DOCX_MAX_EXPANDED_BYTES = 200 * 1024 * 1024
DOCX_MAX_RATIO = 200
DOCX_RATIO_MIN_BYTES = 10 * 1024 * 1024
_SUPPORTED = "Upload a PDF, Word (.docx), Markdown, HTML, CSV or plain-text file."
EMPTY = "The file is empty."
DOCX_DAMAGED = "This Word file could not be read: it looks damaged or incomplete."
_OLE_REFUSED = (
    "This file is a password-protected Word file or a legacy .doc (or other old Office) file, "
    "which is not supported. Save it as .docx without a password and upload it again."
)
BOMB = "and was refused (possible zip bomb)."
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
# A central directory file header: signature, then (from offset 20) compressed size,
# uncompressed size and the lengths of the name, extra field and comment that follow.
_CENTRAL_HEADER = struct.Struct("<4s16xIIHHH12x")
_ZIP64_SIZE = 0xFFFFFFFF
_ZIP64_END_RECORDS = 56 + 20  # the zip64 end record and its locator, before the end record
_ECD_SIZE, _ECD_LOCATION = 5, 9  # fields of zipfile's end record list
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
_HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
_HTML_START = re.compile(r"\A(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_HTML_TAG = re.compile(r"<(?:head|body)(?:\s[^>]*)?>", re.I)
_FENCED = re.compile(r"^ {0,3}(```|~~~).*?(?:^ {0,3}\1|\Z)", re.M | re.S)
_MARKDOWN_SIGNAL = re.compile(r"^ {0,3}(?:#{1,6}[ \t]+\S|```|~~~)", re.M)


def unsupported(what: str) -> DocumentError:
    return DocumentError(f"This file type is not supported: {what}. {_SUPPORTED}")


def sniff_kind(head: bytes, filename: str) -> DocumentKind:
    """Decide a document's type from its first bytes; the name only breaks ties.

    Args:
        head: the start of the file (``SNIFF_BYTES`` or the whole file if shorter).
        filename: the name the user gave it (may be empty).

    Returns:
        The kind. ``DOCX`` means "a zip": confirm with ``is_docx`` (``detect_kind`` does).

    Raises:
        DocumentError: empty, binary, legacy/encrypted Office, or otherwise unsupported.
    """
    if not head:
        raise DocumentError(EMPTY)
    start = head[:1024].removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n\x0c")
    if start.startswith(b"%PDF-"):
        return DocumentKind.PDF
    if head.startswith(_ZIP_MAGIC):
        return DocumentKind.DOCX
    if head.startswith(_OLE_MAGIC):
        raise DocumentError(_OLE_REFUSED)
    text = _decode_head(head)
    if not text.strip():
        return DocumentKind.TEXT  # whitespace only: the parser says there is no text
    suffix = PurePath(filename).suffix.lower()
    if _HTML_START.match(text) or _HTML_TAG.search(_FENCED.sub("", text)):
        return DocumentKind.HTML
    if suffix in _MARKDOWN_SUFFIXES:
        return DocumentKind.MARKDOWN
    if suffix == ".csv":
        return DocumentKind.CSV
    if suffix in _HTML_SUFFIXES:
        return DocumentKind.HTML
    if _MARKDOWN_SIGNAL.search(text):
        return DocumentKind.MARKDOWN
    if _looks_like_csv(text, truncated=len(head) >= SNIFF_BYTES):
        return DocumentKind.CSV
    return DocumentKind.TEXT


def detect_kind(path: Path, filename: str) -> DocumentKind:
    """``sniff_kind`` on the file's first bytes, then confirm a zip really is a .docx.

    Raises:
        DocumentError: as ``sniff_kind``, or a zip that is damaged or not a Word file
            (an Excel workbook, a PowerPoint deck, a plain archive).
    """
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
    kind = sniff_kind(head, filename)
    if kind is DocumentKind.DOCX:
        names = [info.filename for info in zip_infos(path)]
        if "word/document.xml" not in names:
            raise not_a_docx(names)
    return kind


def is_docx(path: Path) -> bool:
    """Whether ``path`` is a readable zip holding ``word/document.xml``."""
    try:
        return any(info.filename == "word/document.xml" for info in zip_infos(path))
    except DocumentError:
        return False


def _decode_head(head: bytes) -> str:
    """Decode the first bytes as text, or refuse the file as binary."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(head[len(bom) :], final=False)
            except UnicodeDecodeError:
                raise unsupported("it looks like a binary file") from None
            break
    else:
        if b"\x00" in head:
            raise unsupported("it looks like a binary file")
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            text = head.decode("cp1252", errors="replace")
    controls = sum(1 for char in text if (char < " " and char not in "\t\n\r\x0c") or char in "\x7f\ufffd")
    if controls > 0.05 * len(text):
        raise unsupported("it looks like a binary file")
    return text


def _looks_like_csv(text: str, *, truncated: bool) -> bool:
    """At least three rows with the same number (≥ 2) of comma/semicolon/tab fields.

    Lines that mostly end like sentences are prose with commas, not records.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if truncated and lines and not text.endswith("\n"):
        lines.pop()  # the head may end in the middle of a row
    lines = lines[:50]
    if len(lines) < 3:
        return False
    delimiter, skip_space = csv_delimiter("\n".join(lines), candidates=",;\t")
    try:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter, skipinitialspace=skip_space)]
    except csv.Error:
        return False
    common = max(set(counts), key=counts.count)
    prose = sum(line.rstrip().endswith((".", "?", "!")) for line in lines) * 2 > len(lines)
    return common >= 2 and counts.count(common) >= max(3, 0.9 * len(counts)) and not prose


def csv_delimiter(sample: str, candidates: str = ",;\t|") -> tuple[str, bool]:
    """The delimiter (and whether spaces follow it) that ``csv.Sniffer`` sees in ``sample``.

    Only these two are taken from the sniffer: its guesses about quoting (``doublequote``
    in particular) are unreliable on a small sample, so quoting stays standard.
    """
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=candidates)
    except csv.Error:
        return ",", False
    return dialect.delimiter, bool(dialect.skipinitialspace)


def zip_infos(path: Path) -> list[zipfile.ZipInfo]:
    """The archive's entries, refusing damaged zips and zip bombs.

    The central directory is checked first (``check_central_directory``): ``zipfile``
    builds an object for every entry it lists, whatever the end record declares.

    Raises:
        DocumentError: damaged, too many entries, or expands too far.
    """
    check_central_directory(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise DocumentError(DOCX_DAMAGED) from None


def not_a_docx(names: Iterable[str]) -> DocumentError:
    names = set(names)
    if "xl/workbook.xml" in names:
        return unsupported("Excel workbooks (.xlsx) cannot be read yet; save the sheet as CSV")
    if "ppt/presentation.xml" in names:
        return unsupported("PowerPoint presentations (.pptx) cannot be read yet")
    return unsupported("this is a zip archive, not a Word document")


def check_central_directory(path: Path) -> None:
    """Walk the zip's central directory header by header, as ``zipfile`` will, and refuse bombs.

    The end record's entry count proves nothing: ``zipfile`` reads entries until it has
    consumed the directory's declared size, so an archive can declare one entry and list
    500,000 (hundreds of MB of ``ZipInfo`` objects). This walks the same bytes without
    keeping anything, and stops at the first limit crossed: more than
    ``DOCX_MAX_ENTRIES`` entries, more than ``DOCX_MAX_EXPANDED_BYTES`` declared in all,
    or one large entry that expands more than ``DOCX_MAX_RATIO`` times.

    Raises:
        DocumentError: a limit is crossed, or the directory is damaged.
    """
    with path.open("rb") as file:
        try:
            # zipfile's own reader of the end record (and its zip64 form), so that the
            # bytes walked here are exactly the ones ZipFile will parse.
            end = zipfile._EndRecData(file)  # type: ignore[attr-defined]  # private: not in typeshed
        except OSError:
            end = None
        if not end:
            raise DocumentError(DOCX_DAMAGED)
        size, location = end[_ECD_SIZE], end[_ECD_LOCATION]
        start = location - size  # where ZipFile looks (it tolerates data before the zip)
        if end[0] == zipfile.stringEndArchive64:  # type: ignore[attr-defined]  # private: not in typeshed
            start -= _ZIP64_END_RECORDS
        if start < 0:
            raise DocumentError(DOCX_DAMAGED)
        file.seek(start)
        entries = expanded = walked = 0
        while walked < size:
            header = file.read(_CENTRAL_HEADER.size)
            if len(header) != _CENTRAL_HEADER.size or not header.startswith(b"PK\x01\x02"):
                raise DocumentError(DOCX_DAMAGED)
            compressed, unpacked, name_len, extra_len, comment_len = _CENTRAL_HEADER.unpack(header)[1:6]
            file.seek(name_len, 1)
            if _ZIP64_SIZE in (compressed, unpacked):
                unpacked, compressed = _zip64_sizes(file.read(extra_len), unpacked, compressed)
                file.seek(comment_len, 1)
            else:
                file.seek(extra_len + comment_len, 1)
            walked += _CENTRAL_HEADER.size + name_len + extra_len + comment_len
            entries += 1
            expanded += unpacked
            if entries > DOCX_MAX_ENTRIES:
                raise DocumentError(f"This Word file has more than {DOCX_MAX_ENTRIES:,} parts {BOMB}")
            if expanded > DOCX_MAX_EXPANDED_BYTES:
                limit_mb = DOCX_MAX_EXPANDED_BYTES // (1024 * 1024)
                raise DocumentError(f"This Word file expands to more than {limit_mb} MB {BOMB}")
            if unpacked > DOCX_RATIO_MIN_BYTES and unpacked > DOCX_MAX_RATIO * max(compressed, 1):
                raise DocumentError(
                    f"This Word file expands to more than {DOCX_MAX_RATIO} times its size in one part {BOMB}"
                )


def _zip64_sizes(extra: bytes, unpacked: int, compressed: int) -> tuple[int, int]:
    """The real sizes of an entry whose header says "see the zip64 extra field"."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{min(length, len(extra) - at - 4) // 8}Q", extra, at + 4))
            if unpacked == _ZIP64_SIZE and values:
                unpacked = values.pop(0)
            if compressed == _ZIP64_SIZE and values:
                compressed = values.pop(0)
            break
        at += 4 + length
    return unpacked, compressed
