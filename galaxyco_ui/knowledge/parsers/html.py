"""HTML: one section per h1-h6 heading, block elements as paragraphs, tables as " | " rows.

Scripts, styles and embedded objects are dropped; the tree is walked iteratively, so deeply
nested markup cannot hit the recursion limit.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from bs4 import (
    BeautifulSoup,
    CData,
    MarkupResemblesLocatorWarning,
    NavigableString,
    Tag,
    XMLParsedAsHTMLWarning,
)

from galaxyco_ui.knowledge.parsers.common import SectionBuilder
from galaxyco_ui.knowledge.types import DocumentKind, ParsedDocument

_WHITESPACE_RUN = re.compile(r"\s+")
_DROP = ("script", "style", "noscript", "template", "svg", "head", "iframe", "object", "embed", "canvas")
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog"),
        *("div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup"),
        *("hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "ul"),
    }
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


def parse(path: Path, max_pages: int, max_chars: int) -> ParsedDocument:
    with warnings.catch_warnings():  # bs4 warns about markup that looks like a URL or XML
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(path.read_bytes(), "lxml")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()

    builder = SectionBuilder(max_chars)
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
        if node.name in _HEADINGS:
            flush()
            builder.heading(_HEADINGS[node.name], node.get_text(" "))
            continue
        if node.name == "table":
            flush()
            builder.paragraph(_table_text(node))
            continue
        if node.name == "br":
            buffer.append("\n")
            continue
        if node.name in _BLOCKS:
            flush()
            if node.name == "li":
                prefix = "- "
            elif node.name == "pre":
                in_pre += 1
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    flush()
    return ParsedDocument(kind=DocumentKind.HTML, sections=builder.finish(), title=title)


def _table_text(table: Tag) -> str:
    """One line per row, cells joined with " | "."""
    lines = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # a nested table's rows appear in its cell's text
        cells = [" ".join(cell.get_text(" ").split()) for cell in row.find_all(("td", "th"), recursive=False)]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
