"""Uploading to a knowledge collection: what the drop zone accepts, why the browser
refused a file, and each file's share of the upload request (for per-file progress).

The browser reports the progress of the whole upload request (bytes of the multipart
body sent). The files are sent one after the other in that body, so a file's bar is
the part of the body it occupies: ``file_shares`` maps the body onto the files.
"""

from __future__ import annotations

from pydantic import BaseModel

from galaxyco_ui.config import get_settings
from galaxyco_ui.knowledge.types import KIND_LABELS, DocumentKind

UPLOAD_ID = "knowledge-upload"

# What the file picker and the drop zone accept, by document type: MIME types and the
# extensions that stand for them (a file matching either is accepted). The server
# decides the real type from the content and may still refuse a file.
_ACCEPT: dict[str, dict[str, list[str]]] = {
    "pdf": {"application/pdf": [".pdf"]},
    "docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"]},
    "markdown": {"text/markdown": [".md", ".markdown"]},
    "html": {"text/html": [".html", ".htm"]},
    "text": {"text/plain": [".txt"]},
    "csv": {"text/csv": [".csv"]},
}


def upload_accept() -> dict[str, list[str]]:
    """The ``accept`` map of the upload zone for the types this server allows."""
    accept: dict[str, list[str]] = {}
    for kind in get_settings().knowledge_allowed_types:
        accept.update(_ACCEPT.get(kind, {}))
    return accept


def allowed_type_labels() -> str:
    """e.g. "PDF, Word, Markdown, HTML, Text and CSV"."""
    labels = [
        KIND_LABELS[DocumentKind(k)]
        for k in get_settings().knowledge_allowed_types
        if k in list(DocumentKind)
    ]
    return ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else "".join(labels)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


class UploadRow(BaseModel):
    """One file of the current or last upload, as the upload panel shows it.

    ``state``: uploading → processing → added | duplicate | refused. ``indexed`` follows
    an added file's item afterwards: "" while it is indexed, then "ready" or "failed".
    """

    name: str
    size: int
    progress: int = 0
    state: str = "uploading"
    message: str = ""
    item_id: str = ""
    indexed: str = ""


def file_shares(sizes: list[int], total: int) -> list[tuple[int, int]]:
    """(start, length) of each file's part in a multipart body of ``total`` bytes.

    The body is the files' bytes plus per-part headers and boundaries; that overhead is
    spread evenly over the parts (it is a few hundred bytes each).
    """
    overhead = max(total - sum(sizes), 0)
    per_part = overhead / len(sizes) if sizes else 0
    shares, start = [], 0.0
    for size in sizes:
        length = size + per_part
        shares.append((int(start), max(int(length), 1)))
        start += length
    return shares


def rejection_message(codes: list[str], size: int) -> str:
    if "file-too-large" in codes:
        return (
            f"Too large ({human_size(size)}): files can be at most "
            f"{get_settings().knowledge_max_upload_mb} MB."
        )
    if "file-invalid-type" in codes:
        return f"Not a supported type. Upload {allowed_type_labels()} files."
    if "too-many-files" in codes:
        return "Too many files at once."
    return "This file cannot be uploaded."
