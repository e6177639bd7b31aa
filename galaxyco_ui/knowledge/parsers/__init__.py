"""One parser module per ``DocumentKind``, named after the kind's value.

Each module has ``parse(path, max_pages, max_chars) -> ParsedDocument``; ``knowledge.parsing``
picks one by kind and turns any library failure into a ``DocumentError``, so call
``parsing.parse_document``, not these. ``common`` holds what several share: text
normalisation, decoding, the heading-aware ``SectionBuilder`` and the too-long error.

The modules use absolute imports, so ``import docx`` in ``docx.py`` and ``import csv`` in
``csv.py`` are python-docx and the standard library, never these files.
"""
