"""Cut a parsed document into overlapping chunks of about ``target_tokens`` tokens.

Structure first, then size:

1. Consecutive sections with the same heading and page form a group; groups never share
   a chunk, so a chunk's heading and page are always true: a citation that says "page 4"
   points at text that is on page 4. (Short PDF pages therefore make short chunks; exact
   page references are worth more to readers than evenly sized chunks.) Within a group,
   a section that fits in what is left of the current chunk joins it; a chunk already
   half full ends at a section boundary instead of straddling it.
2. Long text is split at paragraph breaks, then sentence ends, then line breaks, then
   spaces, and as a last resort between tokens, into pieces that leave room for the
   overlap (CSV text splits at line breaks before sentences: one record per line). The
   pieces are packed greedily up to ``target_tokens``, so a chunk ends where a piece does.
3. Each chunk that continues the previous one inside a section starts with about
   ``overlap * target_tokens`` tokens of its tail (whole sentences, else whole words), so
   an answer that straddles a boundary is still found in one chunk.

The output is deterministic.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from galaxyco_ui.knowledge.types import Chunk, DocumentKind, ParsedDocument, Section

_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"
# One token per CJK/kana/hangul character, per letter run of up to 12 characters, per group of
# up to 3 digits, and per other non-space symbol.
_TOKEN = re.compile(rf"[{_CJK}]|[^\W\d_{_CJK}]{{1,12}}|\d{{1,3}}|[^\w\s]|_")
# Splitters: the whitespace in group "sep" is where the text is cut (and what joins the parts).
_PARAGRAPH_BREAK = re.compile(r"(?P<sep>\s*\n[ \t]*\n\s*)")
# After . ! ? (optionally closed by a quote or bracket), or after a CJK full stop.
_SENTENCE_END = re.compile(r"[.!?][\"')\]\u201d\u2019]?(?P<sep>\s+)|[\u3002\uff01\uff1f](?P<cjk>\s*)")
_LINE_BREAK = re.compile(r"(?P<sep>\s*\n\s*)")
_SPACES = re.compile(r"(?P<sep>\s+)")


def count_tokens(text: str) -> int:
    """Estimate how many model tokens ``text`` is, without a tokenizer.

    Counts word pieces (letter runs, split every 12 letters), digit groups of up to three,
    each punctuation mark and each CJK character. English prose comes out at about 1.2
    per word, close to what BPE tokenizers (cl100k, o200k) produce, and a regex scan keeps
    it well under a millisecond per page.
    """
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class _Piece:
    """A run of text that is never split further (a paragraph, sentence, ...)."""

    text: str
    tokens: int
    separator: str  # what joins it to the piece before it in the same chunk
    page: int | None


def chunk_document(doc: ParsedDocument, *, target_tokens: int = 400, overlap: float = 0.15) -> list[Chunk]:
    """Split ``doc`` into chunks for the index.

    Args:
        doc: the parsed document.
        target_tokens: the most tokens (``count_tokens``) a chunk may hold. Chunks are
            packed close to it; text with nowhere better to split is cut between words,
            or between tokens as a last resort.
        overlap: the share of ``target_tokens`` each continuing chunk repeats from the end
            of the previous one (0 for none, below 0.5).

    Returns:
        Chunks numbered 0..n-1 in document order, none empty, each with the heading of its
        section, its page (PDF) and its token count.

    Raises:
        ValueError: ``target_tokens`` below 1 or ``overlap`` outside [0, 0.5).
    """
    if target_tokens < 1:
        raise ValueError("target_tokens must be at least 1")
    if not 0 <= overlap < 0.5:
        raise ValueError("overlap must be in [0, 0.5)")
    overlap_tokens = int(overlap * target_tokens)
    lines_first = doc.kind is DocumentKind.CSV  # one record per line: never split inside one
    chunks: list[Chunk] = []
    for heading, sections in _groups(doc.sections):
        for text, page, tokens in _chunk_group(
            sections, target_tokens, overlap_tokens, lines_first=lines_first
        ):
            chunks.append(
                Chunk(ordinal=len(chunks), text=text, heading=heading, page=page, token_count=tokens)
            )
    return chunks


def _groups(sections: list[Section]) -> Iterator[tuple[str, list[Section]]]:
    """Runs of consecutive non-empty sections that share a heading and a page."""
    run: list[Section] = []
    for section in sections:
        if not section.text.strip():
            continue
        if run and (section.heading != run[0].heading or section.page != run[0].page):
            yield run[0].heading, run
            run = []
        run.append(section)
    if run:
        yield run[0].heading, run


def _chunk_group(
    sections: list[Section], target: int, overlap: int, *, lines_first: bool
) -> Iterator[tuple[str, int | None, int]]:
    """Pack the pieces of one group into chunks; yields ``(text, page, tokens)``."""
    piece_limit = max(1, target - overlap)  # a piece plus a full overlap still fits
    current: list[_Piece] = []
    used = fresh = 0  # tokens in ``current``, and those of them that are not overlap
    for section in sections:
        pieces = _pieces(section, piece_limit, lines_first=lines_first)
        if current and used + sum(piece.tokens for piece in pieces) > target and fresh * 2 >= target:
            yield _join(current)  # end at the section (page) boundary rather than straddle it
            current, used, fresh = [], 0, 0
        for piece in pieces:
            if fresh and used + piece.tokens > target:
                yield _join(current)
                current = _tail(current, overlap, whole_pieces=lines_first)
                used, fresh = sum(p.tokens for p in current), 0
                if used + piece.tokens > target:  # only when a piece could not be cut small
                    current, used = [], 0
            current.append(piece)
            used += piece.tokens
            fresh += piece.tokens
    if current and fresh:
        yield _join(current)


def _join(pieces: list[_Piece]) -> tuple[str, int | None, int]:
    """The chunk's text, first page and token count.

    Pieces are joined at whitespace (or where a token ends), so no token spans two of
    them and the sum of their counts is ``count_tokens`` of the text.
    """
    text = "".join(piece.separator + piece.text if i else piece.text for i, piece in enumerate(pieces))
    return text.strip(), pieces[0].page, sum(piece.tokens for piece in pieces)


def _pieces(section: Section, limit: int, *, lines_first: bool) -> list[_Piece]:
    """The section's text as pieces of at most ``limit`` tokens, separators kept."""
    levels = (_LINE_BREAK, _SENTENCE_END) if lines_first else (_SENTENCE_END, _LINE_BREAK)
    splitters = (_PARAGRAPH_BREAK, *levels, _SPACES)
    out: list[_Piece] = []
    _split(section.text.strip(), "\n\n", splitters, limit, section.page, out)
    return out


def _split(
    text: str,
    separator: str,
    splitters: tuple[re.Pattern[str], ...],
    limit: int,
    page: int | None,
    out: list[_Piece],
) -> None:
    """Append ``text`` to ``out`` as pieces of ≤ ``limit`` tokens, coarsest split first.

    Neighbouring small parts are joined into pieces of up to ``limit // 8`` tokens: fine
    enough to pack chunks tightly, coarse enough that a file of a million short lines does
    not become a million pieces.
    """
    tokens = _tokens_within(text, limit)
    if tokens is not None:
        if tokens:
            out.append(_Piece(text, tokens, separator, page))
        return
    if not splitters:  # no whitespace left to split at: cut between tokens
        starts = [match.start() for match in _TOKEN.finditer(text)][::limit]
        for i, start in enumerate(starts):
            piece = text[start : starts[i + 1]] if i + 1 < len(starts) else text[start:]
            out.append(_Piece(piece, count_tokens(piece), separator if i == 0 else "", page))
        return
    splitter, rest = splitters[0], splitters[1:]
    parts = _split_keeping_separators(text, splitter)
    first, second = next(parts, None), next(parts, None)
    if first is None or second is None:  # nothing to split at on this level
        _split(text, separator, rest, limit, page, out)
        return
    grain = max(1, limit // 8)
    run: list[str] = []
    run_tokens, run_separator = 0, separator
    for index, (part, part_separator) in enumerate(itertools.chain((first, second), parts)):
        part_separator = part_separator if index else separator
        part_tokens = _tokens_within(part, limit)
        if run and (part_tokens is None or run_tokens + part_tokens > grain):
            out.append(_Piece("".join(run), run_tokens, run_separator, page))
            run, run_tokens = [], 0
        if part_tokens is None:
            _split(part, part_separator, rest, limit, page, out)
            continue
        run.append(part_separator + part if run else part)
        run_separator = run_separator if len(run) > 1 else part_separator
        run_tokens += part_tokens
    if run:
        out.append(_Piece("".join(run), run_tokens, run_separator, page))


def _tokens_within(text: str, limit: int) -> int | None:
    """``count_tokens(text)`` if that is at most ``limit``, else None.

    A token covers at most 12 characters and every word is at least one token, so a long
    text is often known to be over the limit without counting it (half the work on long
    paragraphs). Guessing wrong only splits a text that could have stayed whole.
    """
    if len(text) > 4 * limit and (len(text) > 64 * limit or len(text.split()) > limit):
        return None
    tokens = count_tokens(text)
    return tokens if tokens <= limit else None


def _split_keeping_separators(text: str, splitter: re.Pattern[str]) -> Iterator[tuple[str, str]]:
    """``text`` split at ``splitter``: ``(part, separator before it)`` pairs, no empty parts."""
    position, separator = 0, ""
    for match in splitter.finditer(text):
        group = "sep" if match.group("sep") is not None else "cjk"
        start, end = match.span(group)
        if start > position:
            yield text[position:start], separator
            separator = ""
        separator += _normal_separator(match.group(group))
        position = end
    if position < len(text):
        yield text[position:], separator


def _normal_separator(whitespace: str) -> str:
    """A blank line, a line break, a space, or nothing (a split with no whitespace)."""
    if "\n\n" in whitespace:
        return "\n\n"
    if "\n" in whitespace:
        return "\n"
    return " " if whitespace else ""


def _tail(pieces: list[_Piece], budget: int, *, whole_pieces: bool) -> list[_Piece]:
    """About ``budget`` tokens from the end of ``pieces``: whole pieces, then whole
    sentences or words of the last piece that does not fit whole (unless ``whole_pieces``:
    a CSV record is repeated whole or not at all)."""
    if budget <= 0:
        return []
    taken: list[_Piece] = []
    used = 0
    for piece in reversed(pieces):
        if used + piece.tokens <= budget:
            taken.insert(0, piece)
            used += piece.tokens
            continue
        remaining = budget - used
        if whole_pieces:
            break
        if (not taken or remaining * 2 >= budget) and (part := _text_tail(piece.text, remaining)):
            taken.insert(0, _Piece(part, count_tokens(part), piece.separator, piece.page))
        break
    if taken:
        first = taken[0]
        taken[0] = _Piece(first.text, first.tokens, "", first.page)
    return taken


def _text_tail(text: str, budget: int) -> str:
    """The last whole sentences of ``text`` within ``budget`` tokens, or if they would
    give less than half of it, the last whole words (the last tokens if it has no spaces)."""
    sentences = list(_split_keeping_separators(text, _SENTENCE_END))
    used, start = 0, len(sentences)
    for index in range(len(sentences) - 1, -1, -1):
        cost = count_tokens(sentences[index][0])
        if used + cost > budget:
            break
        used, start = used + cost, index
    if start < len(sentences) and used * 2 >= budget:
        return "".join(sep + part if i else part for i, (part, sep) in enumerate(sentences[start:])).strip()
    matches = list(_TOKEN.finditer(text))
    if not matches or budget <= 0:
        return ""
    cut = matches[max(0, len(matches) - budget)].start()
    space = _SPACES.search(text, cut)
    if cut > 0 and not text[cut - 1].isspace() and space is not None:
        cut = space.end()  # start at a whole word
    return text[cut:].strip()
