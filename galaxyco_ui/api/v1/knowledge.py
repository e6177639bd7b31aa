"""``/knowledge``: collections, their documents (upload, status, re-index, delete) and search.

Uploads go through ``services.knowledge.upload_item`` exactly like the upload zone of the
collection page: the type is decided from the bytes, the per-file size limit and the
workspace's allowed types apply, and the same content in the same collection is the
existing item (so repeating an upload never indexes twice). The request as a whole is
capped before it is read (``api/upload_limit.py``: 413).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StringConstraints
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from galaxyco_ui.api.v1.deps import ApiContext
from galaxyco_ui.api.v1.idempotency import idempotent
from galaxyco_ui.api.v1.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of
from galaxyco_ui.api.v1.problems import TOO_LARGE
from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.knowledge.storage import MAX_FILES_PER_UPLOAD
from galaxyco_ui.services import knowledge, knowledge_search
from galaxyco_ui.services.knowledge import CollectionInput, CollectionView, ItemView
from galaxyco_ui.services.knowledge_search import MAX_QUERY_CHARS, Mode, SearchResultView

router = APIRouter(prefix="/knowledge", tags=["knowledge"])

MAX_TOP_K = 50


class CollectionPatch(BaseModel):
    """Only the fields sent change; the rest keep their values."""

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class UploadedFile(BaseModel):
    """What became of one file of an upload."""

    name: str = Field(description="The file name as sent.")
    outcome: Literal["added", "duplicate", "refused"] = Field(
        description="added: a new item, queued for indexing; duplicate: the same content is "
        "already in this collection (`item` is that item); refused: `error` says why."
    )
    item: ItemView | None = None
    error: str | None = None


class UploadResult(BaseModel):
    files: list[UploadedFile]


class SearchRequest(BaseModel):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)]
    mode: Mode = Field(
        default="hybrid",
        description="hybrid: full text and vectors fused (full text alone when the workspace has "
        "no embedding model); keyword: full text only; semantic: vectors only (needs an "
        "embedding model).",
    )
    collection_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list,
        max_length=knowledge_search.MAX_COLLECTIONS,
        description="Only these collections; empty searches all of the workspace's.",
    )
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K, description="How many passages at most.")


class SearchResult(BaseModel):
    item_id: str
    item_name: str
    collection_id: str
    collection_name: str
    ordinal: int = Field(description="The passage's position in its document (0 first).")
    heading: str
    page: int | None
    score: float = Field(description="Higher is better; comparable within one answer only.")
    matched_by: list[str] = Field(description='Which searches found it: "fts", "vector".')
    text: str = Field(description="The passage (shortened around the matching words).")
    citation: str = Field(description="Where it comes from, e.g. “handbook.pdf”, page 2.")


class SearchResponse(BaseModel):
    results: list[SearchResult]


# ---------------------------------------------------------------- collections


@router.get("/collections", response_model=Page[CollectionView], summary="List collections")
async def list_collections(
    ctx: ApiContext, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> Page[CollectionView]:
    rows = await asyncio.to_thread(knowledge.list_collections, ctx=ctx)
    return page_of(rows, cursor, limit)


@router.post("/collections", status_code=201, response_model=CollectionView, summary="Create a collection")
async def create_collection(request: Request, ctx: ApiContext, body: CollectionInput) -> Response:
    data: dict[str, object] = body.model_dump()
    return await idempotent(
        request, ctx, lambda: asyncio.to_thread(knowledge.create_collection, ctx=ctx, data=data)
    )


@router.get("/collections/{collection_id}", response_model=CollectionView, summary="Get a collection")
async def get_collection(ctx: ApiContext, collection_id: str) -> CollectionView:
    return await asyncio.to_thread(knowledge.get_collection, ctx=ctx, collection_id=collection_id)


@router.patch("/collections/{collection_id}", response_model=CollectionView, summary="Update a collection")
async def update_collection(ctx: ApiContext, collection_id: str, body: CollectionPatch) -> CollectionView:
    def update() -> CollectionView:
        current = knowledge.get_collection(ctx=ctx, collection_id=collection_id)
        data: dict[str, object] = {"name": current.name, "description": current.description}
        data.update(body.model_dump(exclude_unset=True, exclude_none=True))
        return knowledge.update_collection(ctx=ctx, collection_id=collection_id, data=data)

    return await asyncio.to_thread(update)


@router.delete(
    "/collections/{collection_id}",
    status_code=204,
    summary="Delete a collection with its documents",
)
async def delete_collection(ctx: ApiContext, collection_id: str) -> Response:
    await asyncio.to_thread(knowledge.delete_collection, ctx=ctx, collection_id=collection_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- items


@router.get(
    "/collections/{collection_id}/items",
    response_model=Page[ItemView],
    summary="List a collection's documents",
)
async def list_items(
    ctx: ApiContext, collection_id: str, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> Page[ItemView]:
    rows = await asyncio.to_thread(knowledge.list_items, ctx=ctx, collection_id=collection_id)
    return page_of(rows, cursor, limit)


_NOTHING_NEW: dict[int | str, dict[str, Any]] = {
    200: {"model": UploadResult, "description": "Nothing new: every file was a duplicate."}
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "maxItems": MAX_FILES_PER_UPLOAD,
                            "description": "The documents, one `file` part each.",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/collections/{collection_id}/items",
    status_code=201,
    response_model=UploadResult,
    responses={**_NOTHING_NEW, **TOO_LARGE},
    openapi_extra=_UPLOAD_BODY,
    summary="Upload documents",
    description=(
        f"`multipart/form-data` with one or more `file` parts (at most {MAX_FILES_PER_UPLOAD}). "
        "Each file is judged on its own: its type comes from its content, and the size limit "
        "and the workspace's allowed types apply. 201 when at least one file was added, 200 "
        "when every accepted file was already there, 422 when every file was refused (`errors` "
        "per file). Uploading the same content again answers the existing item, so a retry is "
        "safe without an Idempotency-Key."
    ),
)
async def upload_items(request: Request, ctx: ApiContext, collection_id: str) -> Response:
    # The key, the role and the collection are checked before the body is read, so a
    # caller who may not upload here never has files spooled to disk.
    require(ctx, Permission.UPLOAD_KNOWLEDGE)
    await asyncio.to_thread(knowledge.get_collection, ctx=ctx, collection_id=collection_id)
    try:
        async with request.form(max_files=MAX_FILES_PER_UPLOAD, max_fields=MAX_FILES_PER_UPLOAD) as form:
            parts = form.getlist("file")
            files = [p for p in parts if isinstance(p, StarletteUploadFile)]
            if not files or len(files) != len(parts):
                raise ValidationError({"file": "Send each document as a multipart/form-data `file` part."})
            results = [await _upload_one(ctx, collection_id, f) for f in files]
    except (HTTPException, MultiPartException) as error:  # too many parts, or a malformed body
        detail = error.detail if isinstance(error, HTTPException) else error.message
        raise ValidationError({"file": str(detail)}) from None
    if all(r.outcome == "refused" for r in results):
        keys = ["file"] if len(results) == 1 else [f"file[{i}]" for i in range(len(results))]
        raise ValidationError({key: r.error or "" for key, r in zip(keys, results, strict=True)})
    added = any(r.outcome == "added" for r in results)
    return Response(
        UploadResult(files=results).model_dump_json(),
        status_code=201 if added else 200,
        media_type="application/json",
    )


async def _upload_one(ctx: TenantContext, collection_id: str, part: StarletteUploadFile) -> UploadedFile:
    name = part.filename or ""
    try:
        outcome = await knowledge.upload_item(
            ctx=ctx, collection_id=collection_id, filename=name, source=part.file
        )
    except ValidationError as error:  # this file only; 403 and 404 concern them all
        return UploadedFile(
            name=name, outcome="refused", error=next(iter(error.field_errors.values()), error.message)
        )
    return UploadedFile(name=name, outcome="duplicate" if outcome.duplicate else "added", item=outcome.item)


@router.get("/items/{item_id}", response_model=ItemView, summary="Get a document and its indexing status")
async def get_item(ctx: ApiContext, item_id: str) -> ItemView:
    return await asyncio.to_thread(knowledge.get_item, ctx=ctx, item_id=item_id)


@router.delete("/items/{item_id}", status_code=204, summary="Delete a document")
async def delete_item(ctx: ApiContext, item_id: str) -> Response:
    await asyncio.to_thread(knowledge.delete_item, ctx=ctx, item_id=item_id)
    return Response(status_code=204)


@router.post(
    "/items/{item_id}/reindex",
    status_code=202,
    response_model=ItemView,
    summary="Index a document again from its original",
)
async def reindex_item(ctx: ApiContext, item_id: str) -> ItemView:
    return await knowledge.reindex_item(ctx=ctx, item_id=item_id)


# ---------------------------------------------------------------- search


@router.post("/search", response_model=SearchResponse, summary="Search the workspace's documents")
async def search(ctx: ApiContext, body: SearchRequest) -> SearchResponse:
    hits = await knowledge_search.search(
        ctx=ctx,
        query=body.query,
        collection_ids=list(body.collection_ids),
        limit=body.top_k,
        mode=body.mode,
    )
    return SearchResponse(results=[_result(hit) for hit in hits])


def _result(hit: SearchResultView) -> SearchResult:
    where = [f"“{hit.item_name}”"]
    if hit.page is not None:
        where.append(f"page {hit.page}")
    if hit.heading:
        where.append(f"section “{hit.heading}”")
    return SearchResult(
        **hit.model_dump(exclude={"segments"}),
        citation=", ".join(where),
    )
