"""Sniffing and parsing uploaded documents: every type, the traps, and the failures."""

from __future__ import annotations

import io
import random
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pypdf
import pypdfium2  # type: ignore[import-untyped]  # the package has no type information
import pytest
from pypdf import PdfReader, PdfWriter

from galaxyco_ui.devtools.docgen import (
    make_docx,
    make_encrypted_pdf,
    make_pdf,
    make_zip_bomb_docx,
)
from galaxyco_ui.knowledge.parsing import normalise_text, parse_document
from galaxyco_ui.knowledge.sniffing import SNIFF_BYTES, detect_kind, is_docx, sniff_kind
from galaxyco_ui.knowledge.types import DocumentError, DocumentKind, ParsedDocument

PDF, DOCX, MD, HTML, TEXT, CSV = (
    DocumentKind.PDF,
    DocumentKind.DOCX,
    DocumentKind.MARKDOWN,
    DocumentKind.HTML,
    DocumentKind.TEXT,
    DocumentKind.CSV,
)
OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


@pytest.fixture
def upload(tmp_path: Path):
    """Write bytes under a name and return the path."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


def parse(path: Path, *, max_pages: int = 2_000, max_chars: int = 5_000_000) -> ParsedDocument:
    return parse_document(path, detect_kind(path, path.name), max_pages=max_pages, max_chars=max_chars)


def refuse_with_pdfium(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make PDFium refuse every PDF as malformed, so the parser falls back to pypdf."""

    def refuse(*args, **kwargs):
        raise pypdfium2.PdfiumError("Failed to load document", err_code=pypdfium2.raw.FPDF_ERR_FORMAT)

    monkeypatch.setattr(pypdfium2, "PdfDocument", refuse)


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_listing_entries_it_does_not_declare(count: int, *, declared_size: int = 1) -> bytes:
    """A docx-shaped zip whose central directory lists ``count`` entries (``word/document.xml``,
    then one-letter names, all pointing at one stored byte), while the end record declares a
    single entry: zipfile ignores that count and reads the whole directory.

    ``declared_size`` is the uncompressed size each entry claims. One-letter names fit
    500,000 entries in an upload of under 25 MB.
    """
    data = b"x"
    crc = zlib.crc32(data)

    def central(name: bytes) -> bytes:
        return (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0,
                crc,
                1,
                declared_size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )

    first = b"word/document.xml"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 1, 1, len(first), 0) + first + data
    directory = central(first) + central(b"a") * (count - 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local), 0)
    return local + directory + end


# -- sniffing ---------------------------------------------------------------------------------


class TestSniffing:
    def test_pdf_is_recognised_by_content_whatever_the_name(self) -> None:
        pdf = make_pdf(["hello"])
        assert sniff_kind(pdf[:SNIFF_BYTES], "notes.txt") is PDF
        assert sniff_kind(pdf[:SNIFF_BYTES], "") is PDF

    def test_pdf_header_may_follow_a_bom_and_whitespace(self) -> None:
        assert sniff_kind(b"\xef\xbb\xbf\r\n  %PDF-1.7\n...", "x.bin") is PDF

    def test_text_named_pdf_is_text(self) -> None:
        assert sniff_kind(b"Just a plain note, nothing more.\n", "report.pdf") is TEXT

    def test_a_mention_of_the_pdf_header_in_text_is_not_a_pdf(self) -> None:
        assert sniff_kind(b"A PDF file starts with %PDF-1.7 on its first line.\n", "a.txt") is TEXT

    def test_any_zip_is_a_docx_candidate(self) -> None:
        assert sniff_kind(b"PK\x03\x04rest", "a.txt") is DOCX

    def test_docx_named_txt_is_detected_as_docx(self, upload) -> None:
        path = upload("letter.txt", make_docx([("para", "Dear team,")]))
        assert detect_kind(path, "letter.txt") is DOCX
        assert is_docx(path)

    @pytest.mark.parametrize(
        ("entries", "message"),
        [
            ({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}, "Excel"),
            ({"[Content_Types].xml": b"<x/>", "ppt/presentation.xml": b"<x/>"}, "PowerPoint"),
            ({"notes.txt": b"hello", "photo.jpg": b"\xff\xd8"}, "zip archive"),
        ],
    )
    def test_zips_that_are_not_word_files_are_refused(self, upload, entries, message) -> None:
        path = upload("book.docx", zip_bytes(entries))
        assert not is_docx(path)
        with pytest.raises(DocumentError, match=f"not supported.*{message}"):
            detect_kind(path, "book.docx")

    def test_damaged_zip_is_refused_at_detection(self, upload) -> None:
        data = make_docx([("para", "hello")])
        path = upload("broken.docx", data[: len(data) // 2])
        assert not is_docx(path)
        with pytest.raises(DocumentError, match="damaged or incomplete"):
            detect_kind(path, "broken.docx")

    def test_ole_compound_file_is_refused_as_encrypted_or_legacy(self) -> None:
        with pytest.raises(DocumentError, match=r"password-protected.*legacy \.doc"):
            sniff_kind(OLE_HEADER, "contract.docx")

    @pytest.mark.parametrize(
        "head",
        [
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            b"text with a NUL\x00 inside",
            bytes(range(256)) * 4,
            b"\x1f\x8b\x08\x08" + bytes(range(1, 32)) * 20,
        ],
        ids=["png", "nul", "all-bytes", "controls"],
    )
    def test_binary_is_refused(self, head: bytes) -> None:
        with pytest.raises(DocumentError, match="not supported: it looks like a binary file"):
            sniff_kind(head, "data.txt")

    def test_empty_head_is_refused(self) -> None:
        with pytest.raises(DocumentError, match="The file is empty"):
            sniff_kind(b"", "a.txt")

    @pytest.mark.parametrize(
        "head",
        [
            b"<!DOCTYPE html><html><body>x</body></html>",
            b"  \n<!-- generated -->\n<html lang='en'><p>x</p></html>",
            b"\xef\xbb\xbf<?xml version='1.0'?><html><p>x</p></html>",
            b"Some text first\n<body><p>hi</p></body>",
            b"<div>fragment</div>\n<head><title>t</title></head>",
        ],
    )
    def test_html_is_recognised_by_content_even_with_another_name(self, head: bytes) -> None:
        assert sniff_kind(head, "page.md") is HTML
        assert sniff_kind(head, "page.txt") is HTML

    def test_html_fragment_relies_on_its_name(self) -> None:
        assert sniff_kind(b"<p>Hello <b>there</b></p>", "snippet.html") is HTML
        assert sniff_kind(b"<p>Hello <b>there</b></p>", "snippet.txt") is TEXT

    def test_markdown_with_a_body_tag_inside_a_code_fence_stays_markdown(self) -> None:
        head = b"# Embedding\n\n```html\n<body>\n  <p>x</p>\n</body>\n```\n"
        assert sniff_kind(head, "guide.md") is MD
        assert sniff_kind(head, "guide.txt") is MD

    def test_markdown_by_name_or_by_headings_and_fences(self) -> None:
        assert sniff_kind(b"plain words only", "readme.md") is MD
        assert sniff_kind(b"plain words only", "README.MARKDOWN") is MD
        assert sniff_kind(b"Intro\n\n## Install\n\nRun it.", "notes") is MD
        assert sniff_kind(b"Example:\n```\ncode\n```\n", "notes.txt") is MD
        assert sniff_kind(b"#hashtag is not a heading", "notes.txt") is TEXT

    @pytest.mark.parametrize(
        "head",
        [
            b"name,age,city\nAda,36,London\nAlan,41,Wilmslow\nGrace,85,Arlington\n",
            b"name;age;city\nAda;36;London\nAlan;41;Wilmslow\nGrace;85;Arlington\n",
            b"name\tage\tcity\nAda\t36\tLondon\nAlan\t41\tWilmslow\nGrace\t85\tArlington\n",
            b'id,comment\n1,"hello, world"\n2,"quoted ""twice"""\n3,plain\n',
        ],
        ids=["comma", "semicolon", "tab", "quoted"],
    )
    def test_csv_is_recognised_by_content(self, head: bytes) -> None:
        assert sniff_kind(head, "export.txt") is CSV
        assert sniff_kind(head, "export") is CSV

    def test_csv_by_name_even_with_one_column(self) -> None:
        assert sniff_kind(b"email\na@example.com\nb@example.com\n", "list.csv") is CSV

    def test_two_rows_are_not_enough_to_call_it_csv(self) -> None:
        assert sniff_kind(b"a,b\n1,2\n", "x.txt") is TEXT

    def test_prose_with_commas_is_text(self) -> None:
        head = b"Hello, my friend, how are you?\nI am fine, thanks, and you?\nGood, good, thanks.\n"
        assert sniff_kind(head, "letter.txt") is TEXT

    def test_inconsistent_delimiters_are_text(self) -> None:
        head = b"Shopping: eggs, milk\nbread\nRemember: call Sam, Jo, and Kim today\nnothing else\n"
        assert sniff_kind(head, "todo.txt") is TEXT

    def test_truncated_head_ignores_its_cut_last_line(self) -> None:
        rows = b"".join(b"%d,name %d,%d\n" % (i, i, i * 2) for i in range(2_000))
        head = rows[:SNIFF_BYTES]
        assert not head.endswith(b"\n")
        assert sniff_kind(head, "data") is CSV

    def test_utf16_with_bom_and_latin1_text_are_text(self) -> None:
        assert sniff_kind("Grüße aus Köln\n".encode("utf-16"), "a.txt") is TEXT
        assert sniff_kind("Café crème, naïve – déjà vu".encode("cp1252"), "a.txt") is TEXT

    def test_utf8_cut_in_the_middle_of_a_character_is_still_text(self) -> None:
        data = ("é" * SNIFF_BYTES).encode()[: SNIFF_BYTES - 1]
        assert sniff_kind(data, "a.txt") is TEXT


# -- PDF --------------------------------------------------------------------------------------


class TestPdf:
    def test_one_section_per_page_with_page_numbers_and_title(self, upload) -> None:
        path = upload(
            "manual.pdf", make_pdf(["First page text.", "", "Third (page) with \\ slash."], title="Manual")
        )
        doc = parse(path)
        assert doc.kind is PDF
        assert doc.page_count == 3
        assert doc.title == "Manual"
        assert [(s.page, s.text, s.heading) for s in doc.sections] == [
            (1, "First page text.", ""),
            (3, "Third (page) with \\ slash.", ""),
        ]

    def test_long_lines_are_wrapped_and_all_words_extracted(self, upload) -> None:
        words = [f"word{i}" for i in range(400)]
        doc = parse(upload("long.pdf", make_pdf([" ".join(words)])))
        assert doc.sections[0].text.split() == words

    def test_outline_titles_become_page_headings(self, upload) -> None:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Intro", "Setup", "Linux", "Usage"]))))
        writer.add_outline_item(title="Introduction", page_number=0)
        setup = writer.add_outline_item(title="Setup", page_number=1)
        writer.add_outline_item(title="Linux", page_number=2, parent=setup)
        writer.add_outline_item(title="Usage", page_number=3)
        buffer = io.BytesIO()
        writer.write(buffer)
        doc = parse(upload("book.pdf", buffer.getvalue()))
        assert [(s.page, s.heading) for s in doc.sections] == [
            (1, "Introduction"),
            (2, "Setup"),
            (3, "Setup \u203a Linux"),
            (4, "Usage"),
        ]

    def test_password_protected_pdf_is_refused(self, upload) -> None:
        with pytest.raises(DocumentError, match="password-protected. Upload a copy without a password"):
            parse(upload("secret.pdf", make_encrypted_pdf(["Top secret."], password="hunter2")))

    def test_pdf_encrypted_only_with_an_owner_password_is_read(self, upload) -> None:
        doc = parse(upload("restricted.pdf", make_encrypted_pdf(["Readable text."], password="")))
        assert doc.sections[0].text == "Readable text."

    @pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
    def test_truncated_pdf_is_refused_as_damaged(self, upload, cut: float) -> None:
        data = make_pdf([f"Page {i} has some text." for i in range(20)])
        path = upload("cut.pdf", data[: int(len(data) * cut)])
        with pytest.raises(DocumentError, match="could not be read: it looks damaged or incomplete"):
            parse(path)

    @pytest.mark.parametrize(
        "data",
        [b"%PDF-1.7\n" + b"garbage \x00\xff" * 500, b"%PDF-1.4\n", b"%PDF-1.4\n1 0 obj << /Type /Catalog"],
        ids=["garbage", "header-only", "unterminated"],
    )
    def test_garbage_with_a_pdf_header_is_refused_as_damaged(self, upload, data: bytes) -> None:
        with pytest.raises(DocumentError, match="damaged or incomplete"):
            parse(upload("fake.pdf", data))

    def test_broken_content_stream_is_refused_as_damaged(self, upload) -> None:
        data = make_pdf(["fine page", "broken page"])
        broken = data.replace(b"(broken page) Tj", b"(broken page( Tj", 1)  # same length: offsets stay valid
        assert broken != data
        with pytest.raises(DocumentError, match="damaged or incomplete"):
            parse(upload("broken.pdf", broken))

    @pytest.mark.parametrize("error", [RuntimeError("boom"), MemoryError(), RecursionError()])
    @pytest.mark.parametrize("library", ["pdfium", "pypdf"])
    def test_unexpected_library_errors_become_document_errors(
        self, upload, monkeypatch, error, library
    ) -> None:
        def explode(self, *args, **kwargs):
            raise error

        if library == "pdfium":
            monkeypatch.setattr(pypdfium2.PdfTextPage, "get_text_range", explode)
        else:
            refuse_with_pdfium(monkeypatch)
            monkeypatch.setattr(pypdf.PageObject, "extract_text", explode)
        with pytest.raises(DocumentError, match="damaged or incomplete") as caught:
            parse(upload("a.pdf", make_pdf(["text"])))
        assert caught.value.__cause__ is error

    def test_a_pdf_pdfium_cannot_open_is_read_by_pypdf(self, upload, monkeypatch) -> None:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Intro", "", "Usage"], title="Guide"))))
        writer.add_outline_item(title="Usage", page_number=2)
        buffer = io.BytesIO()
        writer.write(buffer)
        refuse_with_pdfium(monkeypatch)
        doc = parse(upload("odd.pdf", buffer.getvalue()))
        assert (doc.page_count, doc.title) == (3, "Guide")
        assert [(s.page, s.text, s.heading) for s in doc.sections] == [
            (1, "Intro", ""),
            (3, "Usage", "Usage"),
        ]

    def test_a_page_pdfium_finds_no_text_on_is_asked_of_pypdf(self, upload, monkeypatch) -> None:
        real = pypdfium2.PdfTextPage.get_text_range

        def blind_on_page_two(self, *args, **kwargs):
            text = real(self, *args, **kwargs)
            return "" if text == "Second" else text

        monkeypatch.setattr(pypdfium2.PdfTextPage, "get_text_range", blind_on_page_two)
        doc = parse(upload("a.pdf", make_pdf(["First", "Second", "Third"])))
        assert [(s.page, s.text) for s in doc.sections] == [(1, "First"), (2, "Second"), (3, "Third")]

    def test_pages_pdfium_finds_empty_stay_empty_when_pypdf_cannot_decrypt_the_file(
        self, upload, monkeypatch
    ) -> None:
        # PDFium opened it; pypdf lacks the cipher (AES needs the cryptography package).
        def refuse(*args, **kwargs):
            raise pypdf.errors.DependencyError("cryptography is required for AES algorithm")

        monkeypatch.setattr(pypdf.PdfReader, "decrypt", refuse)
        doc = parse(upload("a.pdf", make_encrypted_pdf(["First", "", "Third"], password="")))
        assert [(s.page, s.text) for s in doc.sections] == [(1, "First"), (3, "Third")]

    def test_a_word_hyphenated_at_a_line_end_keeps_its_hyphen_and_break(self, upload) -> None:
        doc = parse(upload("a.pdf", make_pdf(["A line that ends in a hyph-\nenated word."])))
        assert doc.sections[0].text == "A line that ends in a hyph-\nenated word."

    def test_outline_items_with_a_destination_instead_of_an_action_head_their_page(self, upload) -> None:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["One", "Two"]))))
        for title, page in (("First", 0), ("Second", 1)):
            writer.add_outline_item(title=title, page_number=page)  # a /GoTo action (/A)
        outline = writer.root_object["/Outlines"]
        for item in (outline["/First"].get_object(), outline["/Last"].get_object()):
            item[pypdf.generic.NameObject("/Dest")] = item.pop("/A")["/D"]
        buffer = io.BytesIO()
        writer.write(buffer)
        doc = parse(upload("dests.pdf", buffer.getvalue()))
        assert [(s.page, s.heading) for s in doc.sections] == [(1, "First"), (2, "Second")]

    def test_pdf_without_text_asks_for_ocr(self, upload) -> None:
        with pytest.raises(DocumentError, match="No text was found in this PDF.*OCR"):
            parse(upload("scan.pdf", make_pdf(["", "", ""])))

    def test_page_limit(self, upload) -> None:
        path = upload("big.pdf", make_pdf(["x"] * 6))
        assert parse(path, max_pages=6).page_count == 6
        with pytest.raises(DocumentError, match="6 pages, above the limit of 5 pages"):
            parse(path, max_pages=5)

    def test_character_limit(self, upload) -> None:
        path = upload("long.pdf", make_pdf(["a" * 50 + " b" * 25] * 4))
        assert parse(path, max_chars=400).sections
        with pytest.raises(DocumentError, match="more than 300 characters of text, above the limit"):
            parse(path, max_chars=300)


# -- Word -------------------------------------------------------------------------------------


class TestDocx:
    def test_headings_nest_and_tables_join_cells(self, upload) -> None:
        data = make_docx(
            [
                ("title", "Admin Guide"),
                ("para", "Read this first."),
                ("heading1", "Setup"),
                ("para", "General steps."),
                ("heading2", "Linux"),
                ("para", "Install the package."),
                ("table", "Distro | Command\nDebian | apt install x\nFedora | dnf install x"),
                ("heading2", "Windows"),
                ("para", "Run the installer."),
                ("heading1", "Usage"),
                ("para", "Start it."),
            ]
        )
        doc = parse(upload("guide.docx", data))
        assert doc.kind is DOCX
        assert doc.title == "Admin Guide"
        assert [(s.heading, s.text) for s in doc.sections] == [
            ("Admin Guide", "Read this first."),
            ("Setup", "General steps."),
            (
                "Setup \u203a Linux",
                "Install the package.\n\nDistro | Command\nDebian | apt install x\nFedora | dnf install x",
            ),
            ("Setup \u203a Windows", "Run the installer."),
            ("Usage", "Start it."),
        ]
        assert all(s.page is None for s in doc.sections)

    def test_text_before_any_heading_has_no_heading(self, upload) -> None:
        doc = parse(
            upload("a.docx", make_docx([("para", "Loose text."), ("heading3", "Deep"), ("para", "Body.")]))
        )
        assert [(s.heading, s.text) for s in doc.sections] == [("", "Loose text."), ("Deep", "Body.")]

    def test_corrupt_zip_is_refused(self, upload) -> None:
        data = make_docx([("para", "hello")])
        with pytest.raises(DocumentError, match="Word file could not be read: it looks damaged"):
            parse_document(upload("a.docx", data[:-200]), DOCX, max_pages=10, max_chars=10_000)

    def test_invalid_document_xml_is_refused(self, upload) -> None:
        data = make_docx([("para", "hello")])
        with zipfile.ZipFile(io.BytesIO(data)) as original:
            entries = {name: original.read(name) for name in original.namelist()}
        entries["word/document.xml"] = b"<w:document><not-closed>"
        with pytest.raises(DocumentError, match="Word file could not be read"):
            parse(upload("a.docx", zip_bytes(entries)))

    def test_zip_without_document_xml_is_refused_by_the_parser_too(self, upload) -> None:
        path = upload("a.docx", zip_bytes({"[Content_Types].xml": b"<x/>"}))
        with pytest.raises(DocumentError, match="not supported"):
            parse_document(path, DOCX, max_pages=10, max_chars=10_000)

    def test_zip_bomb_is_refused_quickly_without_expanding_it(self, upload) -> None:
        path = upload("bomb.docx", make_zip_bomb_docx(300))
        assert path.stat().st_size < 5 * 1024 * 1024
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(DocumentError, match=r"expands to more than 200 MB.*possible zip bomb"):
                parse(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert time.perf_counter() - started < 2
        assert peak < 20 * 1024 * 1024

    def test_one_part_with_an_extreme_compression_ratio_is_refused(self, upload) -> None:
        path = upload("ratio.docx", make_zip_bomb_docx(50))
        with pytest.raises(DocumentError, match="200 times its size.*possible zip bomb"):
            parse(path)

    def test_too_many_parts_are_refused(self, upload) -> None:
        path = upload("parts.docx", make_zip_bomb_docx(1, entries=2_001))
        with pytest.raises(DocumentError, match="more than 2,000 parts.*possible zip bomb"):
            parse_document(path, DOCX, max_pages=10, max_chars=10_000)

    def test_a_zip_that_declares_one_entry_but_lists_half_a_million_is_refused_cheaply(self, upload) -> None:
        path = upload("many.docx", zip_listing_entries_it_does_not_declare(500_000))
        assert path.stat().st_size < 25 * 1024 * 1024  # fits under the upload limit
        for check in (
            lambda: detect_kind(path, "many.docx"),
            lambda: parse_document(path, DOCX, max_pages=10, max_chars=10_000),
        ):
            tracemalloc.start()
            started = time.perf_counter()
            try:
                with pytest.raises(DocumentError, match="more than 2,000 parts.*possible zip bomb"):
                    check()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert time.perf_counter() - started < 1
            assert peak < 5 * 1024 * 1024  # zipfile would have built 500,000 ZipInfo objects

    def test_declared_sizes_in_the_central_directory_are_summed_over_every_entry(self, upload) -> None:
        # 300 entries of 1 MB each: no single part is extreme, together they expand to 300 MB.
        path = upload("wide.docx", zip_listing_entries_it_does_not_declare(300, declared_size=1024 * 1024))
        with pytest.raises(DocumentError, match=r"expands to more than 200 MB.*possible zip bomb"):
            detect_kind(path, "wide.docx")

    def test_a_central_directory_that_runs_past_the_file_is_damaged(self, upload) -> None:
        data = bytearray(zip_listing_entries_it_does_not_declare(3))
        data[-10:-6] = (10**6).to_bytes(4, "little")  # the directory's declared size
        with pytest.raises(DocumentError, match="Word file could not be read: it looks damaged"):
            detect_kind(upload("cut.docx", bytes(data)), "cut.docx")

    def test_a_normal_sized_document_passes_the_bomb_checks(self, upload) -> None:
        blocks = [("para", f"Paragraph {i} " + "lorem ipsum " * 40) for i in range(300)]
        doc = parse(upload("big.docx", make_docx(blocks)))
        assert len(doc.sections[0].text.split("\n\n")) == 300

    def test_character_limit(self, upload) -> None:
        path = upload("a.docx", make_docx([("para", "x" * 60)] * 5))
        assert parse(path, max_chars=500).sections
        with pytest.raises(DocumentError, match="more than 200 characters"):
            parse(path, max_chars=200)

    def test_document_with_only_headings_has_no_text(self, upload) -> None:
        with pytest.raises(DocumentError, match="No text was found in this file"):
            parse(upload("a.docx", make_docx([("heading1", "Only a heading")])))


# -- Markdown, HTML, text, CSV ----------------------------------------------------------------


class TestMarkdown:
    def test_headings_nest_by_level_and_fences_and_front_matter_are_respected(self, upload) -> None:
        text = (
            "---\ntitle: ignored\ntags: [a]\n---\n"
            "Preface text.\n\n"
            "# Guide\n\nIntro.\n\n"
            "## Install\n\nSteps:\n\n```bash\n# not a heading\nmake install\n```\n\n"
            "### Linux ###\n\nUse apt.\n\n"
            "## Usage\n\nRun it.\n\n"
            "Appendix\n========\n\nExtra.\n"
        )
        doc = parse(upload("guide.md", text.encode()))
        assert doc.kind is MD
        assert doc.title == "Guide"
        assert [(s.heading, s.text) for s in doc.sections] == [
            ("", "Preface text."),
            ("Guide", "Intro."),
            ("Guide \u203a Install", "Steps:\n\n```bash\n# not a heading\nmake install\n```"),
            ("Guide \u203a Install \u203a Linux", "Use apt."),
            ("Guide \u203a Usage", "Run it."),
            ("Appendix", "Extra."),
        ]
        assert "title: ignored" not in doc.text

    def test_a_leading_rule_without_a_closing_one_is_not_front_matter(self, upload) -> None:
        doc = parse(upload("a.md", b"---\nJust text after a rule.\n"))
        assert "Just text after a rule." in doc.text

    def test_unclosed_fence_swallows_the_rest(self, upload) -> None:
        doc = parse(upload("a.md", b"# A\n\n```\n# inside\n"))
        assert [(s.heading, s.text) for s in doc.sections] == [("A", "```\n# inside")]


class TestHtml:
    def test_scripts_styles_and_head_are_dropped_and_structure_kept(self, upload) -> None:
        html = b"""<!DOCTYPE html>
        <html><head><title>Help  Centre</title><style>p { color: red }</style>
        <script>var secret = "do not index";</script></head>
        <body>
          <noscript>Enable JS</noscript><template><p>hidden template</p></template>
          <svg><text>svg text</text></svg>
          <p>Welcome to   the <b>help</b>
             centre.</p>
          <h1>Accounts</h1>
          <p>Manage accounts.<br>Second line.</p>
          <h2>Passwords</h2>
          <ul><li>Reset it</li><li>Change it<ul><li>Nested item</li></ul></li></ul>
          <table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>$10</td></tr></table>
          <h2>Billing</h2><div><div>Invoices <i>monthly</i>.</div></div>
          <script>console.log("late script")</script>
          <!-- a comment -->
        </body></html>"""
        doc = parse(upload("help.html", html))
        assert doc.kind is HTML
        assert doc.title == "Help Centre"
        assert [(s.heading, s.text) for s in doc.sections] == [
            ("", "Welcome to the help centre."),
            ("Accounts", "Manage accounts.\nSecond line."),
            (
                "Accounts \u203a Passwords",
                "- Reset it\n- Change it\n- Nested item\n\nPlan | Price\nPro | $10",
            ),
            ("Accounts \u203a Billing", "Invoices monthly."),
        ]
        for hidden in (
            "do not index",
            "color",
            "Enable JS",
            "hidden template",
            "svg text",
            "late script",
            "comment",
        ):
            assert hidden not in doc.text

    def test_pre_keeps_its_lines(self, upload) -> None:
        doc = parse(upload("a.html", b"<html><body><pre>def f():\n    return 1</pre></body></html>"))
        assert doc.text == "def f():\n    return 1"

    def test_deeply_nested_markup_does_not_crash(self, upload) -> None:
        html = b"<html><body>" + b"<div>" * 5_000 + b"deep text" + b"</div>" * 5_000 + b"</body></html>"
        try:
            doc = parse(upload("deep.html", html))
        except DocumentError:
            return  # refusing it is fine too; crashing is not
        assert "deep text" in doc.text

    def test_page_with_only_scripts_has_no_text(self, upload) -> None:
        with pytest.raises(DocumentError, match="No text was found in this file"):
            parse(upload("a.html", b"<!doctype html><html><body><script>x()</script></body></html>"))

    def test_character_limit_applies_to_extracted_text_not_markup(self, upload) -> None:
        html = b"<html><body>" + b'<p class="very-long-class-name-repeated">word</p>' * 50 + b"</body></html>"
        assert parse(upload("a.html", html), max_chars=400).sections
        with pytest.raises(DocumentError, match="more than 100 characters"):
            parse(upload("b.html", html), max_chars=100)


class TestText:
    def test_paragraphs_kept_and_whitespace_normalised(self, upload) -> None:
        data = b"  Title   line\r\n\r\n\r\n\r\nSecond\tparagraph  with\x00 NUL.  \r\nSame paragraph.\n\n\n"
        doc = parse_document(upload("notes.txt", data), TEXT, max_pages=10, max_chars=1_000)
        assert doc.kind is TEXT
        assert [(s.heading, s.page, s.text) for s in doc.sections] == [
            ("", None, "Title line\n\nSecond paragraph with NUL.\nSame paragraph.")
        ]

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
    def test_encodings(self, upload, encoding: str) -> None:
        text = "Café crème – naïve “quotes”"
        assert parse(upload("a.txt", text.encode(encoding))).text == text

    def test_utf8_with_a_stray_bad_byte_is_not_read_as_windows_1252(self, upload) -> None:
        data = ("Grüße aus Köln, schöne Größe. " * 20).encode() + b"\xff end"
        text = parse_document(upload("a.txt", data), TEXT, max_pages=1, max_chars=10_000).text
        assert text.startswith("Grüße aus Köln") and text.endswith("\ufffd end")

    def test_empty_file(self, upload) -> None:
        with pytest.raises(DocumentError, match="^The file is empty.$"):
            parse_document(upload("empty.txt", b""), TEXT, max_pages=10, max_chars=100)

    def test_whitespace_only_file(self, upload) -> None:
        with pytest.raises(DocumentError, match="^No text was found in this file.$"):
            parse(upload("blank.txt", b" \n\n\t \r\n"))

    def test_character_limit(self, upload) -> None:
        path = upload("a.txt", b"word " * 100)
        assert parse(path, max_chars=499).sections
        with pytest.raises(DocumentError, match="more than 498 characters"):
            parse(path, max_chars=498)

    def test_normalise_text_keeps_indentation_and_paragraphs(self) -> None:
        assert normalise_text("a\u00a0\u00a0b \u200b\n\n\n\n    indented   code\x0cnext") == (
            "a b\n\n    indented code\nnext"
        )

    def test_normalise_text_matches_its_plain_definition(self) -> None:
        # The space patterns are written for speed; this is what they must mean.
        space = "[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"

        def plain(text: str) -> str:
            text = re.sub(r"\r\n?|[\x0b\x0c\u2028\u2029\x85]", "\n", text)
            text = re.sub(r"[\x00-\x08\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff\u00ad]", "", text)
            text = re.sub(rf"(?<=\S){space}+", " ", text)
            text = re.sub(rf"{space}+$", "", text, flags=re.MULTILINE)
            return re.sub(r"\n{3,}", "\n\n", text).strip()

        rng = random.Random(7)
        alphabet = "ab. \t\n\r\x0b\x0c\u00a0\u2003\u3000\u2028\x85\x00\u200b\ufeff\u00ad"
        for _ in range(20_000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
            assert normalise_text(text) == plain(text), repr(text)


class TestCsv:
    def test_rows_become_labelled_lines_in_sections_of_fifty(self, upload) -> None:
        rows = "".join(f"{i},Name {i},city {i}\n" for i in range(1, 61))
        doc = parse(upload("people.csv", ("id,name,city\n" + rows).encode()))
        assert doc.kind is CSV
        assert [s.heading for s in doc.sections] == ["Rows 1\u201350", "Rows 51\u201360"]
        first = doc.sections[0].text.split("\n")
        assert len(first) == 50
        assert first[0] == "id: 1; name: Name 1; city: city 1"
        assert doc.sections[1].text.split("\n")[-1] == "id: 60; name: Name 60; city: city 60"

    def test_sniffed_delimiter_quotes_blank_values_and_extra_columns(self, upload) -> None:
        data = b'product;price;note\n"Desk; oak";120;"said ""sturdy"""\nLamp;;\n\nChair;45;ok;extra\n'
        doc = parse(upload("stock.csv", data))
        assert doc.sections[0].text.split("\n") == [
            'product: Desk; oak; price: 120; note: said "sturdy"',
            "product: Lamp",
            "product: Chair; price: 45; note: ok; column 4: extra",
        ]

    def test_multiline_quoted_values_stay_in_their_row(self, upload) -> None:
        data = b'id,comment\n1,"first line\nsecond line"\n2,short\n'
        assert (
            parse(upload("c.csv", data)).text
            == "id: 1; comment: first line second line\nid: 2; comment: short"
        )

    @pytest.mark.parametrize(
        "data",
        [b'a,b\n1,"x"y\n2,3\n', b'a,b\n1,"never closed\n2,3\n', b'a,b\n1,"' + b"x" * 200_000 + b'"\n'],
        ids=["junk-after-quote", "unterminated", "huge-field"],
    )
    def test_malformed_csv_is_refused(self, upload, data: bytes) -> None:
        with pytest.raises(DocumentError, match="This CSV file could not be read: line"):
            parse(upload("bad.csv", data))

    def test_header_only(self, upload) -> None:
        assert parse(upload("h.csv", b"name,email\n")).text == "name, email"

    def test_character_limit(self, upload) -> None:
        path = upload("a.csv", b"k,v\n" + b"key,value\n" * 10)
        assert parse(path, max_chars=200).sections
        with pytest.raises(DocumentError, match="more than 100 characters"):
            parse(path, max_chars=100)
