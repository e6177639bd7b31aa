"""Mark the words of a search result that match the query, and pick the best excerpt.

The index stems words (``running`` finds ``run``); this module only approximates that for
display: a query word of 4+ characters, shorn of a common English suffix, matches any text
word that starts with it (``install`` marks ``installing``, ``installation``); a shorter
query word must match a whole word (``api`` marks ``API`` but not ``apiary``). Matching is
case-insensitive, and punctuation is never marked.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")
_SUFFIXES = ("ing", "ed", "es", "s")
_PREFIX_MIN = 4
_ELLIPSIS = "…"


def query_words(query: str) -> list[str]:
    """The distinct lowercase words of ``query``, in order (punctuation and emoji dropped)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _PREFIX_MIN:
            return word[: -len(suffix)]
    return word


def _matcher(query: str) -> tuple[set[str], tuple[str, ...]]:
    """(whole words, prefixes) that count as a match for ``query``."""
    whole: set[str] = set()
    prefixes: list[str] = []
    for word in query_words(query):
        if len(word) >= _PREFIX_MIN:
            prefixes.append(_stem(word))
        else:
            whole.add(word)
    return whole, tuple(prefixes)


def _matching_spans(text: str, query: str) -> list[tuple[int, int, str]]:
    """``(start, end, key)`` of each matching word; ``key`` names the query word it matched."""
    whole, prefixes = _matcher(query)
    if not whole and not prefixes:
        return []
    spans = []
    for match in _WORD.finditer(text):
        word = match.group().lower()
        key = word if word in whole else next((p for p in prefixes if word.startswith(p)), None)
        if key is not None:
            spans.append((match.start(), match.end(), key))
    return spans


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """Split ``text`` into segments, ``True`` for the words that match ``query``.

    Joining the segments gives back ``text`` exactly. Adjacent non-matching text is one
    segment; each matching word is its own segment.

    Returns:
        ``[(segment, matched), ...]``; ``[]`` for empty text, ``[(text, False)]`` when
        nothing matches.
    """
    if not text:
        return []
    segments: list[tuple[str, bool]] = []
    position = 0
    for start, end, _ in _matching_spans(text, query):
        if start > position:
            segments.append((text[position:start], False))
        segments.append((text[start:end], True))
        position = end
    if position < len(text):
        segments.append((text[position:], False))
    return segments


def snippet(text: str, query: str, max_chars: int = 320) -> str:
    """The excerpt of ``text`` (at most ``max_chars``) with the most query matches.

    Whitespace runs are collapsed to single spaces. The excerpt starts a little before its
    first match, is cut at word boundaries, and says ``…`` where text was left out. With
    no match it is the start of the text.
    """
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    budget = max(1, max_chars - 2 * len(_ELLIPSIS))
    spans = _matching_spans(flat, query)
    begin = 0
    if spans:
        lead = budget // 6
        best: tuple[int, int] = (-1, -1)
        for i, (start, _, _) in enumerate(spans):
            window_end = start + budget - lead
            inside = [key for s, e, key in spans[i:] if e <= window_end]
            score = (len(set(inside)), len(inside))
            if score > best:
                best, begin = score, max(0, start - lead)
        begin = min(begin, len(flat) - budget)
    return _cut(flat, begin, begin + budget)


def _cut(flat: str, begin: int, end: int) -> str:
    """``flat[begin:end]`` moved inward to word boundaries, with ellipses where cut."""
    if begin > 0 and not flat[begin - 1].isspace():
        space = flat.find(" ", begin, end)
        begin = space + 1 if space != -1 else begin
    if end < len(flat) and not flat[end].isspace():
        space = flat.rfind(" ", begin, end)
        end = space if space > begin else end
    excerpt = flat[begin:end].strip()
    return f"{_ELLIPSIS if begin > 0 else ''}{excerpt}{_ELLIPSIS if end < len(flat) else ''}"


def count_matches(text: str, query: str) -> int:
    """How many words of ``text`` match ``query`` (as ``highlight`` marks them)."""
    return len(_matching_spans(text, query))
