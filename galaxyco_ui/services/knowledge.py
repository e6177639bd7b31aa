"""Knowledge: collections, uploaded items, their chunks, and search.

Permissions: everyone in the workspace reads and searches; members and admins create
collections and upload; members rename, delete and re-index what they created, admins
anything. Every lookup is scoped to ``ctx.workspace_id``: an id from another workspace
is "not found", never "forbidden".

Uploading stores the original (``knowledge.storage``), records the item as ``queued``
and hands its id to the ingestion queue (``knowledge.ingest``); the same content in the
same collection is recognised by its SHA-256 and not stored or indexed twice.

The functions live in ``knowledge_collections``, ``knowledge_items`` and (the view
models) ``knowledge_views``; this module re-exports them, so callers keep using
``services.knowledge.<name>``.
"""

from __future__ import annotations

from galaxyco_ui.knowledge.search import existing_collection_ids
from galaxyco_ui.services.knowledge_collections import (
    CollectionInput,
    collection_choices,
    collection_in_workspace,
    create_collection,
    delete_collection,
    get_collection,
    list_collections,
    update_collection,
)
from galaxyco_ui.services.knowledge_items import (
    context_for_item,
    delete_item,
    get_item,
    item_chunks,
    item_statuses,
    list_items,
    open_original,
    reindex_item,
    upload_item,
)
from galaxyco_ui.services.knowledge_views import ChunkView, CollectionView, ItemView, UploadOutcome

__all__ = [
    "ChunkView",
    "CollectionInput",
    "CollectionView",
    "ItemView",
    "UploadOutcome",
    "collection_choices",
    "collection_in_workspace",
    "context_for_item",
    "create_collection",
    "delete_collection",
    "delete_item",
    "existing_collection_ids",
    "get_collection",
    "get_item",
    "item_chunks",
    "item_statuses",
    "list_collections",
    "list_items",
    "open_original",
    "reindex_item",
    "update_collection",
    "upload_item",
]
