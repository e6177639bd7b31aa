"""Chunking: structure first, then size, with overlap, metadata and exact token counts."""

from __future__ import annotations

import random
import re

import pytest

from galaxyco_ui.knowledge.chunking import chunk_document, count_tokens
from galaxyco_ui.knowledge.types import Chunk, DocumentKind, ParsedDocument, Section

VOCABULARY = [
    "agent",
    "index",
    "search",
    "policy",
    "invoice",
    "customer",
    "refund",
    "ticket",
    "report",
    "server",
    "backup",
    "token",
    "page",
    "workspace",
    "member",
    "role",
    "billing",
    "export",
    "import",
    "schedule",
    "retry",
]


def word(number: int, prefix: str = "w") -> str:
    """A one-token word (letters only) that encodes ``number``: 0 → "wa", 27 → "wbb"."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[digit] + letters
        if not number:
            return prefix + letters


def number_of(token: str) -> int:
    value = 0
    for letter in token[1:]:
        value = value * 26 + "abcdefghijklmnopqrstuvwxyz".index(letter)
    return value


def words(count: int, prefix: str = "w") -> list[str]:
    return [word(i, prefix) for i in range(count)]


def sentences(count: int, *, seed: int = 0, prefix: str = "s") -> list[str]:
    """Numbered sentences of 8-20 words, so every sentence is unique and findable."""
    rng = random.Random(seed)
    out = []
    for number in range(count):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(6, 18))]
        out.append(f"{prefix}{number} " + " ".join(words) + ".")
    return out


def doc_of(*sections: Section, kind: DocumentKind = DocumentKind.TEXT) -> ParsedDocument:
    return ParsedDocument(kind=kind, sections=list(sections))


def overlap_between(previous: str, current: str) -> str:
    """The longest prefix of ``current`` that is a suffix of ``previous``."""
    for size in range(min(len(previous), len(current)), 0, -1):
        if previous.endswith(current[:size]):
            return current[:size]
    return ""


def assert_well_formed(chunks: list[Chunk], target: int) -> None:
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text.strip() == chunk.text != ""
        assert chunk.token_count == count_tokens(chunk.text)
        assert chunk.token_count <= target


class TestCountTokens:
    def test_words_and_punctuation(self) -> None:
        assert count_tokens("") == 0
        assert count_tokens("   \n ") == 0
        assert count_tokens("Hello, world!") == 4
        assert count_tokens("snake_case") == 3

    def test_long_words_and_numbers_cost_more(self) -> None:
        assert count_tokens("internationalization") == 2  # 20 letters: 12 + 8
        assert count_tokens("1234567") == 3  # 123 456 7

    def test_each_cjk_character_is_a_token(self) -> None:
        assert count_tokens("東京は日本の首都です。") == 11
        assert count_tokens("한국어") == 3

    def test_english_prose_is_close_to_bpe(self) -> None:
        text = " ".join(sentences(200))
        ratio = count_tokens(text) / len(text.split())
        assert 1.0 <= ratio <= 1.5

    def test_fast_enough_for_ingestion(self) -> None:
        import time

        page = " ".join(sentences(30))
        started = time.perf_counter()
        for _ in range(200):
            count_tokens(page)
        assert time.perf_counter() - started < 0.5


class TestChunkSizes:
    def test_long_section_is_split_within_the_target(self) -> None:
        text = "\n\n".join(" ".join(sentences(5, seed=p, prefix=f"p{p}s")) for p in range(40))
        chunks = chunk_document(doc_of(Section(text, heading="Guide")), target_tokens=120, overlap=0.15)
        assert len(chunks) > 10
        assert_well_formed(chunks, 120)
        assert all(chunk.token_count >= 40 for chunk in chunks[:-1])  # packed, not one sentence each
        assert all(chunk.heading == "Guide" for chunk in chunks)

    def test_no_content_is_lost_or_reordered(self) -> None:
        all_sentences = sentences(300, seed=3)
        text = "\n\n".join(" ".join(all_sentences[i : i + 4]) for i in range(0, 300, 4))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=100, overlap=0.2)
        found = [int(n) for chunk in chunks for n in re.findall(r"\bs(\d+)\b", chunk.text)]
        assert sorted(set(found)) == list(range(300))
        for chunk in chunks:  # each sentence appears whole, in order
            numbers = [int(n) for n in re.findall(r"\bs(\d+)\b", chunk.text)]
            assert numbers == sorted(numbers)
            for number in numbers[1:-1]:
                assert all_sentences[number] in chunk.text

    def test_section_exactly_at_the_target_is_one_chunk(self) -> None:
        text = " ".join(words(200))
        assert count_tokens(text) == 200
        chunks = chunk_document(doc_of(Section(text, heading="H")), target_tokens=200)
        assert [(c.text, c.token_count, c.heading) for c in chunks] == [(text, 200, "H")]

    def test_one_token_over_the_target_splits(self) -> None:
        text = " ".join(words(201))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=200)
        assert len(chunks) == 2
        assert_well_formed(chunks, 200)

    def test_huge_paragraph_without_sentence_breaks_is_cut_at_words(self) -> None:
        chunks = chunk_document(doc_of(Section(" ".join(words(3_000)))), target_tokens=150, overlap=0.1)
        assert_well_formed(chunks, 150)
        covered: set[int] = set()
        previous_end = -1
        for chunk in chunks:
            numbers = [number_of(token) for token in chunk.text.split()]  # whole words only
            assert numbers == list(range(numbers[0], numbers[-1] + 1))
            assert numbers[0] <= previous_end + 1  # contiguous with (or overlapping) the previous
            previous_end = numbers[-1]
            covered.update(numbers)
        assert covered == set(range(3_000))

    def test_text_without_any_whitespace_is_cut_between_tokens(self) -> None:
        rng = random.Random(5)
        text = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6_000)
        )  # 500 tokens, no spaces
        chunks = chunk_document(doc_of(Section(text)), target_tokens=100, overlap=0.1)
        assert_well_formed(chunks, 100)
        rebuilt = chunks[0].text
        for previous, chunk in zip(chunks, chunks[1:], strict=False):
            shared = overlap_between(previous.text, chunk.text)
            assert len(shared) >= 12
            rebuilt += chunk.text[len(shared) :]
        assert rebuilt == text

    def test_csv_sections_split_between_rows_only(self) -> None:
        rows = [f"id: {i}; name: Person {i}. Senior; city: Town {i}" for i in range(1, 51)]
        doc = doc_of(Section("\n".join(rows), heading="Rows 1\u201350"), kind=DocumentKind.CSV)
        chunks = chunk_document(doc, target_tokens=80, overlap=0.15)
        assert len(chunks) > 3
        assert_well_formed(chunks, 80)
        for chunk in chunks:
            assert all(line in rows for line in chunk.text.split("\n"))

    @pytest.mark.parametrize(("target", "overlap"), [(1, 0.0), (5, 0.2), (37, 0.49), (400, 0.15)])
    def test_any_reasonable_settings_stay_within_bounds(self, target: int, overlap: float) -> None:
        text = "\n\n".join(sentences(60, seed=9)) + "\n" + "x" * 100
        assert_well_formed(
            chunk_document(doc_of(Section(text)), target_tokens=target, overlap=overlap), target
        )

    @pytest.mark.parametrize(("target", "overlap"), [(0, 0.1), (100, -0.1), (100, 0.5)])
    def test_invalid_settings_are_rejected(self, target: int, overlap: float) -> None:
        with pytest.raises(ValueError):
            chunk_document(doc_of(Section("text")), target_tokens=target, overlap=overlap)


class TestOverlap:
    def test_each_continuing_chunk_starts_with_the_tail_of_the_previous(self) -> None:
        text = " ".join(sentences(120, seed=1))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=200, overlap=0.15)
        assert len(chunks) > 3
        for previous, chunk in zip(chunks, chunks[1:], strict=False):
            shared = overlap_between(previous.text, chunk.text)
            assert 15 <= count_tokens(shared) <= 30  # about 0.15 * 200
            assert previous.text[-len(shared) - 1] == " " and shared[0] != " "  # whole words
            assert count_tokens(chunk.text[len(shared) :]) > 0

    def test_overlap_is_whole_sentences_when_they_fit(self) -> None:
        text = " ".join(f"Point {word(i)} is short." for i in range(300))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=100, overlap=0.2)
        for previous, chunk in zip(chunks, chunks[1:], strict=False):
            shared = overlap_between(previous.text, chunk.text)
            assert re.fullmatch(r"(Point w[a-z]+ is short\. ?)+", shared)
            assert count_tokens(shared) == 20  # four five-token sentences

    def test_overlap_falls_back_to_whole_words_for_a_long_last_sentence(self) -> None:
        text = " ".join(words(1_000))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=100, overlap=0.15)
        for previous, chunk in zip(chunks, chunks[1:], strict=False):
            shared = overlap_between(previous.text, chunk.text)
            assert 8 <= count_tokens(shared) <= 15  # about 0.15 * 100, whole words
            assert previous.text[-len(shared) - 1] == " " and shared[0] == "w"

    def test_zero_overlap(self) -> None:
        text = " ".join(words(1_000))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=100, overlap=0)
        assert " ".join(chunk.text for chunk in chunks) == text

    def test_no_overlap_across_headings(self) -> None:
        first = " ".join(sentences(40, prefix="a"))
        second = " ".join(sentences(40, prefix="b"))
        chunks = chunk_document(
            doc_of(Section(first, heading="A"), Section(second, heading="B")), target_tokens=150
        )
        boundary = next(i for i, chunk in enumerate(chunks) if chunk.heading == "B")
        assert chunks[boundary].text.startswith("b0 ")
        assert all(chunk.heading == "A" for chunk in chunks[:boundary])
        assert all(
            chunk.heading == "B" and not re.search(r"\ba\d+\b", chunk.text) for chunk in chunks[boundary:]
        )


class TestStructure:
    def test_pages_never_share_a_chunk_so_every_page_reference_is_exact(self) -> None:
        pages = [Section(f"Page {n} has a short line of text.", page=n) for n in range(1, 11)]
        chunks = chunk_document(doc_of(*pages, kind=DocumentKind.PDF), target_tokens=40, overlap=0.1)
        assert [(chunk.page, chunk.text) for chunk in chunks] == [(p.page, p.text) for p in pages]
        assert_well_formed(chunks, 40)

    def test_sections_of_one_page_under_one_heading_merge(self) -> None:
        parts = [Section(f"Paragraph {n} is short.", heading="Intro", page=3) for n in range(1, 4)]
        chunks = chunk_document(doc_of(*parts, kind=DocumentKind.PDF), target_tokens=400)
        assert [(c.page, c.heading, c.text) for c in chunks] == [
            (3, "Intro", "\n\n".join(p.text for p in parts))
        ]

    def test_a_chunk_at_least_half_full_ends_at_the_page_boundary(self) -> None:
        page_one = " ".join(words(150, "o"))
        page_two = " ".join(words(150, "t"))
        doc = doc_of(Section(page_one, page=1), Section(page_two, page=2), kind=DocumentKind.PDF)
        chunks = chunk_document(doc, target_tokens=200, overlap=0.15)
        assert [(chunk.page, chunk.text) for chunk in chunks] == [(1, page_one), (2, page_two)]

    def test_a_chunk_holds_text_of_its_own_page_only(self) -> None:
        page_one = " ".join(words(30, "o"))
        page_two = " ".join(words(300, "t"))
        doc = doc_of(Section(page_one, page=1), Section(page_two, page=2), kind=DocumentKind.PDF)
        chunks = chunk_document(doc, target_tokens=100, overlap=0.1)
        assert (chunks[0].page, chunks[0].text) == (1, page_one)
        for chunk in chunks[1:]:
            assert chunk.page == 2 and chunk.text.startswith("t") and " o" not in chunk.text
        assert_well_formed(chunks, 100)

    def test_different_headings_never_share_a_chunk(self) -> None:
        doc = doc_of(Section("Alpha text.", heading="A"), Section("Beta text.", heading="B"))
        chunks = chunk_document(doc, target_tokens=400)
        assert [(c.ordinal, c.heading, c.text) for c in chunks] == [
            (0, "A", "Alpha text."),
            (1, "B", "Beta text."),
        ]

    def test_same_heading_separated_by_another_is_not_merged(self) -> None:
        doc = doc_of(Section("one", heading="A"), Section("two", heading="B"), Section("three", heading="A"))
        assert [c.text for c in chunk_document(doc)] == ["one", "two", "three"]

    def test_empty_sections_and_documents_make_no_chunks(self) -> None:
        assert chunk_document(doc_of()) == []
        assert chunk_document(doc_of(Section("  \n\n "), Section(""))) == []
        chunks = chunk_document(doc_of(Section(""), Section("real text", heading="H"), Section("\n")))
        assert [(c.ordinal, c.text, c.heading) for c in chunks] == [(0, "real text", "H")]

    def test_deterministic(self) -> None:
        doc = doc_of(
            *(Section(" ".join(sentences(25, seed=n)), heading=f"H{n % 3}", page=n) for n in range(1, 20)),
            kind=DocumentKind.PDF,
        )
        assert chunk_document(doc, target_tokens=120) == chunk_document(doc, target_tokens=120)


class TestUnicode:
    def test_cjk_text_splits_at_full_stops(self) -> None:
        text = "".join(f"第{n}文、東京は日本の首都であり人口が多い都市です。" for n in range(60))
        chunks = chunk_document(doc_of(Section(text)), target_tokens=100, overlap=0.15)
        assert_well_formed(chunks, 100)
        assert len(chunks) > 10
        assert chunks[0].text.startswith("第0文")
        for previous, chunk in zip(chunks, chunks[1:], strict=False):
            assert chunk.text.endswith("。")
            shared = overlap_between(previous.text, chunk.text)
            assert 0 < count_tokens(shared) <= 15
            assert chunk.text[len(shared) :].startswith("第")  # new text starts a sentence

    def test_accents_emoji_and_rtl_text_survive_unchanged(self) -> None:
        text = "Crème brûlée 🍮 costs €5. مرحبا بالعالم. Ünïcödé façade — naïve café."
        chunks = chunk_document(doc_of(Section(text)), target_tokens=400)
        assert [chunk.text for chunk in chunks] == [text]
        small = chunk_document(doc_of(Section(text * 10)), target_tokens=20, overlap=0)
        assert " ".join(chunk.text for chunk in small).split() == (text * 10).split()
