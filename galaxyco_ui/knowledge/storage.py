"""Where uploaded originals live: ``{uploads_dir}/{workspace_id}/{item_id}``.

Never under Reflex's public upload directory (served to anyone at ``/_upload``): the
only way back out is ``api/knowledge_routes.py``, which checks the session and the
workspace. Files are written to a temporary name in the same directory first, so a
failed or refused upload never leaves a partial original behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ValidationError

_ID = re.compile(r"^[0-9a-f]{32}$")
_COPY_BLOCK = 1 << 20
# Files one upload request may carry (the upload zone's limit; the request-size cap).
MAX_FILES_PER_UPLOAD = 20


@dataclass(frozen=True, slots=True)
class StagedFile:
    """An upload written to a temporary file, with its size and SHA-256."""

    path: Path
    size: int
    sha256: str


def _checked(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"not an id: {value!r}")
    return value


def workspace_dir(workspace_id: str) -> Path:
    return get_settings().resolved_uploads_dir / _checked(workspace_id)


def original_path(workspace_id: str, item_id: str) -> Path:
    """Where an item's original file is kept."""
    return workspace_dir(workspace_id) / _checked(item_id)


def max_upload_bytes() -> int:
    return get_settings().knowledge_max_upload_mb * 1024 * 1024


def stage_upload(workspace_id: str, source: BinaryIO, *, limit: int | None = None) -> StagedFile:
    """Copy ``source`` to a temporary file beside the workspace's originals.

    Reads in 1 MB blocks, hashing as it goes, and stops as soon as the limit is passed.

    Raises:
        ValidationError: the file is larger than the limit (nothing is kept).
    """
    limit = max_upload_bytes() if limit is None else limit
    directory = workspace_dir(workspace_id)
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            while block := source.read(_COPY_BLOCK):
                size += len(block)
                if size > limit:
                    raise ValidationError(
                        {"file": f"The file is larger than the {limit // (1024 * 1024)} MB limit."}
                    )
                digest.update(block)
                out.write(block)
    except BaseException:
        discard(Path(name))
        raise
    return StagedFile(path=Path(name), size=size, sha256=digest.hexdigest())


def keep(staged: StagedFile, workspace_id: str, item_id: str) -> Path:
    """Move a staged upload to its final place (atomic: same directory)."""
    target = original_path(workspace_id, item_id)
    os.replace(staged.path, target)
    return target


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def delete_original(workspace_id: str, item_id: str) -> None:
    discard(original_path(workspace_id, item_id))
