"""One knowledge collection (/knowledge/[collection_id]): upload, live item status, search.

Uploads go in one request per drop: ``begin_upload`` records the names and sizes of
the accepted files (computed in the browser), ``upload_progress`` turns the request's
progress into a bar per file (``knowledge_upload.file_shares``), and ``handle_upload``
stores each file and reports its outcome.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import reflex as rx
from reflex_base.event import EventSpec

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import GalaxyError, NotFoundError, ValidationError
from galaxyco_ui.services import knowledge, knowledge_search
from galaxyco_ui.services.knowledge import CollectionView, ItemView
from galaxyco_ui.services.knowledge_search import SearchResultView
from galaxyco_ui.states.guard import guarded, session_context
from galaxyco_ui.states.knowledge_upload import UPLOAD_ID, UploadRow, file_shares, rejection_message
from galaxyco_ui.states.live import client_connected

POLL_INTERVAL = 1.0
PENDING = ("queued", "processing")
SEARCH_LIMIT = 10


class CollectionState(rx.State):
    collection_id: str = ""
    found: bool = True
    loaded: bool = False
    collection: CollectionView = CollectionView(
        id="",
        name="",
        description="",
        item_count=0,
        ready_count=0,
        pending_count=0,
        failed_count=0,
        size_bytes=0,
        created_by_name="",
        created_at=datetime(1970, 1, 1, tzinfo=UTC),
        updated_at=datetime(1970, 1, 1, tzinfo=UTC),
        can_edit=False,
    )
    items: rx.Field[list[ItemView]] = rx.field(default_factory=list)
    can_upload: bool = False
    uploads: rx.Field[list[UploadRow]] = rx.field(default_factory=list)
    uploading: bool = False
    query: str = ""
    results: list[SearchResultView] = []
    searched: str = ""
    searching: bool = False
    _generation: int = 0

    @rx.var
    def pending_count(self) -> int:
        return sum(1 for item in self.items if item.status in PENDING)

    # ------------------------------------------------------------ loading

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        collection_id = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        if collection_id != self.collection_id:
            self.uploads, self.results, self.query, self.searched = [], [], "", ""
        self.collection_id = ""  # kept only once the service has found it in this workspace
        self.can_upload = can(ctx, Permission.UPLOAD_KNOWLEDGE)
        self.uploading = False
        self._generation += 1  # a watcher of the collection shown before stops
        try:
            self.collection = knowledge.get_collection(ctx=ctx, collection_id=collection_id)
            self.items = knowledge.list_items(ctx=ctx, collection_id=collection_id)
        except NotFoundError:
            self.found, self.items = False, []
            self.loaded = True
            return None
        self.collection_id = collection_id
        self.found, self.loaded = True, True
        return self._watch()

    @rx.event
    @guarded
    def refresh_header(self, ctx: TenantContext):
        self.collection = knowledge.get_collection(ctx=ctx, collection_id=self.collection_id)

    def _watch(self) -> EventSpec | None:
        """Start (or restart) following the items still being indexed."""
        self._generation += 1
        if self.pending_count or self.uploading:
            return CollectionState.watch(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy
        return None

    @rx.event(background=True)
    @guarded
    async def watch(self, ctx: TenantContext, generation: int):
        """Poll the status of queued/processing items about once a second, updating
        just those rows, until none is pending (nor being uploaded), the page changes
        or the browser leaves.

        It is started by ``begin_upload`` (a websocket event), never from
        ``handle_upload``: Reflex keeps an upload's HTTP response open until every event
        the upload handler chains has finished, and the browser refuses a new upload
        with the same id while that response is open.

        Every poll resolves the session again and reads only through services that
        look the items up in the caller's workspace.
        """
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            async with self:
                if generation != self._generation or not client_connected(self):
                    return
                pending = [item.id for item in self.items if item.status in PENDING]
                collection_id = self.collection_id
                uploading = self.uploading
            if not pending:
                if uploading:
                    continue
                return
            if (current := session_context(self)) is None:
                return
            ctx = current
            statuses = await asyncio.to_thread(knowledge.item_statuses, ctx=ctx, item_ids=pending)
            finished = [i for i, (status, *_rest) in statuses.items() if status not in PENDING]
            # Finished rows are re-read whole (pages, indexed at); the rest take the status only.
            fresh: dict[str, ItemView] = {}
            for item_id in finished:
                try:
                    fresh[item_id] = await asyncio.to_thread(knowledge.get_item, ctx=ctx, item_id=item_id)
                except NotFoundError:
                    continue
            header = None
            if finished:
                try:
                    header = await asyncio.to_thread(
                        knowledge.get_collection, ctx=ctx, collection_id=collection_id
                    )
                except NotFoundError:
                    header = None
            async with self:
                if generation != self._generation:
                    return
                self._apply_statuses(statuses, fresh)
                if header is not None:
                    self.collection = header

    def _apply_statuses(
        self, statuses: dict[str, tuple[str, int, str, int]], fresh: dict[str, ItemView]
    ) -> None:
        changed = False
        items = []
        for item in self.items:
            if item.id in fresh:
                items.append(fresh[item.id])
                changed = True
            elif item.id in statuses:
                status, progress, error, chunks = statuses[item.id]
                if (status, progress, error, chunks) != (
                    item.status,
                    item.progress,
                    item.error,
                    item.chunk_count,
                ):
                    item = item.model_copy(
                        update={"status": status, "progress": progress, "error": error, "chunk_count": chunks}
                    )
                    changed = True
                items.append(item)
            elif item.status in PENDING:
                changed = True  # deleted meanwhile: drop the row
            else:
                items.append(item)
        if changed:
            self.items = items
        finished = {item_id: view.status for item_id, view in fresh.items()}
        if any(row.item_id in finished and not row.indexed for row in self.uploads):
            self.uploads = [
                row.model_copy(update={"indexed": finished[row.item_id]})
                if row.item_id in finished and not row.indexed
                else row
                for row in self.uploads
            ]

    # ------------------------------------------------------------ upload

    @rx.event
    def begin_upload(self, dropped: list[dict[str, Any]]):
        """The accepted files of a drop, in the order the browser sends them."""
        self.uploads = [
            UploadRow(name=str(f.get("name") or "Untitled"), size=int(f.get("size") or 0)) for f in dropped
        ]
        self.uploading = bool(self.uploads)
        return self._watch()

    @rx.event
    def upload_progress(self, progress: dict[str, Any]):
        loaded, total = int(progress.get("loaded", 0)), int(progress.get("total", 0))
        if not self.uploads or total <= 0:
            return
        rows = []
        for row, (start, length) in zip(
            self.uploads, file_shares([r.size for r in self.uploads], total), strict=True
        ):
            if row.state == "uploading":
                percent = min(max((loaded - start) * 100 // length, 0), 100)
                if percent == 100:
                    row = row.model_copy(update={"progress": 100, "state": "processing"})
                elif percent != row.progress:
                    row = row.model_copy(update={"progress": percent})
            rows.append(row)
        self.uploads = rows

    @rx.event
    def rejected_files(self, files: list[dict[str, Any]]):
        """Files the browser refused before sending (too large, type not accepted)."""
        rows = [
            UploadRow(
                name=str(f.get("name") or "Untitled"),
                size=int(f.get("size") or 0),
                state="refused",
                message=rejection_message(list(f.get("codes") or []), int(f.get("size") or 0)),
            )
            for f in files
        ]
        # react-dropzone reports a drop's accepted files (begin_upload, which starts the
        # list afresh) before its rejected ones.
        self.uploads = [*self.uploads, *rows]

    @rx.event
    def cancel_upload(self):
        self.uploading = False
        self.uploads = [
            r.model_copy(update={"state": "refused", "message": "Upload cancelled."})
            if r.state in ("uploading", "processing")
            else r
            for r in self.uploads
        ]
        return rx.cancel_upload(UPLOAD_ID)

    @rx.event
    def dismiss_uploads(self):
        self.uploads = []

    @rx.event
    @guarded(reset={"uploading": False})
    async def handle_upload(self, ctx: TenantContext, files: list[rx.UploadFile]):
        """Store each file and queue it for indexing, reporting each outcome as it comes."""
        names = [r.name for r in self.uploads if r.state != "refused"]
        if len(names) != len(files):  # no begin_upload for this drop: show what arrived
            self.uploads = [UploadRow(name=f.name or "Untitled", size=f.size or 0) for f in files] + [
                r for r in self.uploads if r.state == "refused"
            ]
        pending = [i for i, r in enumerate(self.uploads) if r.state != "refused"]
        for index, file in zip(pending, files, strict=False):
            self.uploads[index] = self.uploads[index].model_copy(
                update={"state": "processing", "progress": 100}
            )
            yield
            try:
                outcome = await knowledge.upload_item(
                    ctx=ctx,
                    collection_id=self.collection_id,
                    filename=file.name or self.uploads[index].name,
                    source=file.file,
                )
            except ValidationError as exc:
                update = {"state": "refused", "message": next(iter(exc.field_errors.values()), exc.message)}
            except GalaxyError as exc:
                update = {"state": "refused", "message": exc.message}
            else:
                if outcome.duplicate:
                    update = {
                        "state": "duplicate",
                        "message": f"Already in this collection as “{outcome.item.name}”.",
                        "item_id": outcome.item.id,
                    }
                else:
                    update = {"state": "added", "message": "Added; indexing.", "item_id": outcome.item.id}
            self.uploads[index] = self.uploads[index].model_copy(update=update)
            yield
        self.uploading = False
        # The watcher begin_upload started picks the new items up from here.
        self.items = knowledge.list_items(ctx=ctx, collection_id=self.collection_id)
        self.collection = knowledge.get_collection(ctx=ctx, collection_id=self.collection_id)

    # ------------------------------------------------------------ items

    @rx.event
    @guarded
    async def reindex(self, ctx: TenantContext, item_id: str):
        view = await knowledge.reindex_item(ctx=ctx, item_id=item_id)
        self.items = [view if item.id == item_id else item for item in self.items]
        yield rx.toast.success(f"Re-indexing “{view.name}”.")
        yield self._watch()

    @rx.event
    @guarded
    def delete_item(self, ctx: TenantContext, item_id: str):
        knowledge.delete_item(ctx=ctx, item_id=item_id)
        self.collection = knowledge.get_collection(ctx=ctx, collection_id=self.collection_id)
        self.items = [item for item in self.items if item.id != item_id]
        self.results = [r for r in self.results if r.item_id != item_id]
        return rx.toast.success("Document deleted.")

    @rx.event
    @guarded
    def delete_collection(self, ctx: TenantContext):
        knowledge.delete_collection(ctx=ctx, collection_id=self.collection_id)
        return [rx.toast.success("Collection deleted."), rx.redirect("/knowledge")]

    # ------------------------------------------------------------ search

    @rx.event
    @guarded(reset={"searching": False})
    async def search(self, ctx: TenantContext, form: dict):
        self.query = str(form.get("query", ""))[: knowledge_search.MAX_QUERY_CHARS]
        if not self.query.strip():
            self.results, self.searched = [], ""
            return
        self.searching = True
        yield
        self.results = await knowledge_search.search(
            ctx=ctx, query=self.query, collection_id=self.collection_id, limit=SEARCH_LIMIT
        )
        self.searched, self.searching = self.query.strip(), False

    @rx.event
    def clear_search(self):
        self.query, self.results, self.searched = "", [], ""
