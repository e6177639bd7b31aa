"""One knowledge item (/knowledge/items/[item_id]): its metadata and its chunks, the text
an agent actually searches and cites.

Links to a passage look like ``/knowledge/items/<id>?chunk=3#chunk-3``: the page shows
the chunk's page of the list, marks it and scrolls it into view.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import reflex as rx

from galaxyco_ui.errors import GalaxyError, NotFoundError
from galaxyco_ui.services import knowledge
from galaxyco_ui.services.knowledge import ChunkView, ItemView
from galaxyco_ui.states.live import client_connected
from galaxyco_ui.states.session import error_toast, require_page_auth, tenant_context

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
    chunks: list[ChunkView] = []
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
    def load(self):
        ctx = require_page_auth(self)
        if ctx is None:
            return None
        self.item_id = str(self.router.url.path).rstrip("/").rsplit("/", 1)[-1]
        query_chunk = self.router.url.query_parameters.get("chunk", "")
        self.selected_chunk = int(query_chunk) if query_chunk.isdigit() else -1
        try:
            self.item = knowledge.get_item(ctx=ctx, item_id=self.item_id)
        except NotFoundError:
            self.found, self.loaded, self.chunks, self.chunk_total = False, True, [], 0
            return None
        self.found = True
        self._load_chunks(ctx, around=self.selected_chunk)
        self.loaded = True
        self._generation += 1
        events = [rx.call_script(_SELECTED_CHUNK_JS, callback=ItemState.select_chunk)]
        if self.pending:
            events.append(ItemState.watch(self._generation))
        return events

    def _load_chunks(self, ctx, *, around: int = -1, offset: int | None = None) -> None:  # type: ignore[no-untyped-def]
        every = knowledge.item_chunks(ctx=ctx, item_id=self.item_id)
        self.chunk_total = len(every)
        if offset is None:
            position = next((i for i, c in enumerate(every) if c.ordinal == around), 0)
            offset = position - position % CHUNK_PAGE
        self.chunk_offset = max(0, min(offset, max(self.chunk_total - 1, 0)))
        self.chunks = every[self.chunk_offset : self.chunk_offset + CHUNK_PAGE]

    @rx.event
    def select_chunk(self, ordinal: int | str | None):
        """Mark the chunk the address names and scroll to it (shown on its page of chunks)."""
        try:
            value = int(ordinal) if ordinal is not None else -1
        except (TypeError, ValueError):
            value = -1
        self.selected_chunk = value
        if value < 0 or not self.chunk_total:
            return None
        if not any(c.ordinal == value for c in self.chunks):
            try:
                self._load_chunks(tenant_context(self), around=value)
            except GalaxyError as exc:
                return error_toast(exc)
        return rx.call_script(_scroll_to_chunk_js(value))

    @rx.event
    def show_chunks(self, direction: int):
        try:
            self._load_chunks(tenant_context(self), offset=self.chunk_offset + direction * CHUNK_PAGE)
        except GalaxyError as exc:
            return error_toast(exc)
        return rx.call_script("document.getElementById('chunks')?.scrollIntoView({block: 'start'})")

    @rx.event
    async def reindex(self):
        try:
            self.item = await knowledge.reindex_item(ctx=tenant_context(self), item_id=self.item_id)
        except GalaxyError as exc:
            yield error_toast(exc)
            return
        self._generation += 1
        yield rx.toast.success("Re-indexing. The chunks below are replaced when it finishes.")
        yield ItemState.watch(self._generation)

    @rx.event
    def delete(self):
        collection_id = self.item.collection_id
        try:
            knowledge.delete_item(ctx=tenant_context(self), item_id=self.item_id)
        except GalaxyError as exc:
            return error_toast(exc)
        return [rx.toast.success("Document deleted."), rx.redirect(f"/knowledge/{collection_id}")]

    @rx.event(background=True)
    async def watch(self, generation: int):
        """Follow the item's indexing about once a second; reload its chunks when done."""
        async with self:
            ctx = require_page_auth(self)
            item_id = self.item_id
        if ctx is None:
            return
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            async with self:
                if generation != self._generation or not client_connected(self):
                    return
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
