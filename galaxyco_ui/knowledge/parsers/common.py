"""What the parsers share: text normalisation, decoding, sections under headings, limits."""

from __future__ import annotations

import codecs
import re

from galaxyco_ui.knowledge.types import DocumentError, Section

HEADING_SEPARATOR = " \u203a "  # a single right-pointing angle quotation mark

_OTHER_SPACES = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"  # all but " "
_SPACE = f"[ {_OTHER_SPACES}]"
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\u2028\u2029\x85]")
INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff\u00ad]")
# A run of spaces after a non-space, except a lone " " (most of them, and already right):
# a run that starts with two spaces or with another space character. Starting with the
# space rather than the look-behind lets the engine skip to candidates; about three times
# faster than ``(?<=\S){_SPACE}+`` on a page of prose, same result.
_INNER_SPACES = re.compile(rf"(?: (?={_SPACE})|[{_OTHER_SPACES}])(?<=\S.){_SPACE}*")
_TRAILING_SPACES = re.compile(rf"{_SPACE}+(?=\n|\Z)")
_BLANK_LINES = re.compile(r"\n{3,}")


def too_long(max_chars: int) -> DocumentError:
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
    text = INVISIBLE.sub("", text)
    text = _INNER_SPACES.sub(" ", text)
    text = _TRAILING_SPACES.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


class SectionBuilder:
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
            raise too_long(self._max_chars)
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


def decode_text(data: bytes) -> str:
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
