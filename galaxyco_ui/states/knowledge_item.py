"""One knowledge item (/knowledge/items/[item_id]): its metadata and its chunks, the text
an agent actually searches and cites.

Links to a passage look like ``/knowledge/items/<id>?chunk=3#chunk-3``: the page shows
the chunk's page of the list, marks it and scrolls it into view.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import GalaxyError, NotFoundError
from galaxyco_ui.services import knowledge
from galaxyco_ui.services.knowledge import ChunkView, ItemView
from galaxyco_ui.states.guard import guarded, session_context
from galaxyco_ui.states.live import client_connected

CHUNK_PAGE = 50  # chunks shown at once: a long document can have thousands
POLL_INTERVAL = 1.0
PENDING = ("queued", "processing")

# The chunk named by the address: "#chunk-N" first, else "?chunk=N"; -1 for none.
_SELECTED_CHUNK_JS = """(() => {
  const m = window.location.hash.match(/^#chunk-(\\d+)$/);
  const q = new URLSearchParams(window.location.search).get("chunk");
  const n = m ? Number(m[1]) : (q !== null && /^\\d+$/.test(q) ? Number(q) : -1);
  return n;
})()"""


def _scroll_to_chunk_js(ordinal: int) -> str:
    return f"""(() => {{
  const show = (tries) => {{
    const el = document.getElementById("chunk-{ordinal}");
    if (el) {{ el.scrollIntoView({{block: "center"}}); el.focus({{preventScroll: true}}); }}
    else if (tries > 0) {{ setTimeout(() => show(tries - 1), 100); }}
  }};
  show(20);
}})()"""


def _blank_item() -> ItemView:
    return ItemView(
        id="",
        collection_id="",
        collection_name="",
        name="",
        kind="",
        kind_label="",
        size_bytes=0,
        status="",
        progress=0,
        error="",
        chunk_count=0,
        page_count=None,
        char_count=0,
        uploaded_by_name="",
        created_at=datetime(1970, 1, 1, tzinfo=UTC),
        indexed_at=None,
        can_edit=False,
    )


class ItemState(rx.State):
    item_id: str = ""
    found: bool = True
    loaded: bool = False
    item: ItemView = _blank_item()
    chunks: rx.Field[list[ChunkView]] = rx.field(default_factory=list)
    chunk_total: int = 0
    chunk_offset: int = 0
    selected_chunk: int = -1
    _generation: int = 0

    @rx.var
    def pending(self) -> bool:
        return self.item.status in PENDING

    @rx.var
    def chunk_range(self) -> str:
        if not self.chunk_total:
            return ""
        return f"{self.chunk_offset + 1} to {self.chunk_offset + len(self.chunks)} of {self.chunk_total}"

    @rx.var
    def has_newer_chunks(self) -> bool:
        return self.chunk_offset + len(self.chunks) < self.chunk_total

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        item_id = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        query_chunk = self.router.url.query_parameters.get("chunk", "")
        self.selected_chunk = int(query_chunk) if query_chunk.isdigit() else -1
        self.item_id = ""  # kept only once the service has found it in this workspace
        self._generation += 1  # a watcher of the item shown before stops
        try:
            self.item = knowledge.get_item(ctx=ctx, item_id=item_id)
        except NotFoundError:
            self.found, self.loaded, self.chunks, self.chunk_total = False, True, [], 0
            self.item = _blank_item()
            return None
        self.found, self.item_id = True, item_id
        self._load_chunks(ctx, around=self.selected_chunk)
        self.loaded = True
        self._generation += 1
        events = [rx.call_script(_SELECTED_CHUNK_JS, callback=ItemState.select_chunk)]
        if self.pending:
            events.append(ItemState.watch(self._generation))  # type: ignore[misc]  # rx.event handler: untyped to mypy
        return events

    def _load_chunks(self, ctx: TenantContext, *, around: int = -1, offset: int | None = None) -> None:
        every = knowledge.item_chunks(ctx=ctx, item_id=self.item_id)
        self.chunk_total = len(every)
        if offset is None:
            position = next((i for i, c in enumerate(every) if c.ordinal == around), 0)
            offset = position - position % CHUNK_PAGE
        self.chunk_offset = max(0, min(offset, max(self.chunk_total - 1, 0)))
        self.chunks = every[self.chunk_offset : self.chunk_offset + CHUNK_PAGE]

    @rx.event
    @guarded
    def select_chunk(self, ctx: TenantContext, ordinal: int | str | None):
        """Mark the chunk the address names and scroll to it (shown on its page of chunks)."""
        try:
            value = int(ordinal) if ordinal is not None else -1
        except (TypeError, ValueError):
            value = -1
        self.selected_chunk = value
        if value < 0 or not self.chunk_total:
            return None
        if not any(c.ordinal == value for c in self.chunks):
            self._load_chunks(ctx, around=value)
        return rx.call_script(_scroll_to_chunk_js(value))

    @rx.event
    @guarded
    def show_chunks(self, ctx: TenantContext, direction: int):
        step = 1 if direction > 0 else -1  # one page at a time, whatever the browser sends
        self._load_chunks(ctx, offset=self.chunk_offset + step * CHUNK_PAGE)
        return rx.call_script("document.getElementById('chunks')?.scrollIntoView({block: 'start'})")

    @rx.event
    @guarded
    async def reindex(self, ctx: TenantContext):
        self.item = await knowledge.reindex_item(ctx=ctx, item_id=self.item_id)
        self._generation += 1
        yield rx.toast.success("Re-indexing. The chunks below are replaced when it finishes.")
        yield ItemState.watch(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy

    @rx.event
    @guarded
    def delete(self, ctx: TenantContext):
        collection_id = self.item.collection_id
        knowledge.delete_item(ctx=ctx, item_id=self.item_id)
        return [rx.toast.success("Document deleted."), rx.redirect(f"/knowledge/{collection_id}")]

    @rx.event(background=True)
    @guarded
    async def watch(self, ctx: TenantContext, generation: int):
        """Follow the item's indexing about once a second; reload its chunks when done.

        Every poll resolves the session again and reads through services that look
        the item up in the caller's workspace.
        """
        async with self:
            item_id = self.item_id
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            async with self:
                if generation != self._generation or self.item_id != item_id or not client_connected(self):
                    return
            if (fresh := session_context(self)) is None:
                return
            ctx = fresh
            statuses = await asyncio.to_thread(knowledge.item_statuses, ctx=ctx, item_ids=[item_id])
            if item_id not in statuses:
                return
            status, progress, error, chunk_count = statuses[item_id]
            if status in PENDING:
                async with self:
                    if generation != self._generation:
                        return
                    if (status, progress) != (self.item.status, self.item.progress):
                        self.item = self.item.model_copy(
                            update={
                                "status": status,
                                "progress": progress,
                                "error": error,
                                "chunk_count": chunk_count,
                            }
                        )
                continue
            try:
                item = await asyncio.to_thread(knowledge.get_item, ctx=ctx, item_id=item_id)
                chunks = await asyncio.to_thread(knowledge.item_chunks, ctx=ctx, item_id=item_id)
            except GalaxyError:
                return  # deleted meanwhile
            async with self:
                if generation != self._generation:
                    return
                self.item = item
                self.chunk_total, self.chunk_offset = len(chunks), 0
                self.chunks = chunks[:CHUNK_PAGE]
            return
