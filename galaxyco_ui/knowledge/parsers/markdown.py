"""Markdown: one section per ATX or setext heading; fenced code and front matter handled."""

from __future__ import annotations

import re
from pathlib import Path

from galaxyco_ui.knowledge.parsers.common import SectionBuilder, decode_text, normalise_text
from galaxyco_ui.knowledge.types import DocumentKind, ParsedDocument

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    lines = normalise_text(decode_text(path.read_bytes())).split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, line in enumerate(lines[1:200], 1) if line.strip() in ("---", "...")), 0)
        lines = lines[end + 1 :] if end else lines
    builder = SectionBuilder(max_chars)
    buffer: list[str] = []
    fence = ""
    title = ""
    for line in lines:
        if fence:
            buffer.append(line)
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
            continue
        if match := _FENCE.match(line):
            fence = match.group(1)
            buffer.append(line)
            continue
        heading, level = None, 0
        if match := _ATX.match(line):
            heading, level = (match.group(2) or "").strip(), len(match.group(1))
        elif (match := _SETEXT.match(line)) and buffer and buffer[-1].strip():
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
