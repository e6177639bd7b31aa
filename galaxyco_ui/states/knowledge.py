"""The knowledge screens' shared state: the collections list (/knowledge), the
collection dialog (create, rename, describe) and workspace-wide search."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import knowledge, knowledge_search
from galaxyco_ui.services.knowledge import CollectionView
from galaxyco_ui.services.knowledge_search import SearchResultView
from galaxyco_ui.states.guard import guarded

SEARCH_LIMIT = 10


class KnowledgeState(rx.State):
    collections: rx.Field[list[CollectionView]] = rx.field(default_factory=list)
    can_create: bool = False
    loaded: bool = False
    query: str = ""
    results: list[SearchResultView] = []
    searched: str = ""  # the query the results are for ("" = no search yet)
    searching: bool = False

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.collections = knowledge.list_collections(ctx=ctx)
        self.can_create = can(ctx, Permission.UPLOAD_KNOWLEDGE)
        self.loaded = True
        return None

    @rx.event
    @guarded
    def delete_collection(self, ctx: TenantContext, collection_id: str):
        knowledge.delete_collection(ctx=ctx, collection_id=collection_id)
        self.results = [r for r in self.results if r.collection_id != collection_id]
        return [rx.toast.success("Collection deleted."), KnowledgeState.load]

    @rx.event
    @guarded(reset={"searching": False})
    async def search(self, ctx: TenantContext, form: dict):
        self.query = str(form.get("query", ""))[: knowledge_search.MAX_QUERY_CHARS]
        if not self.query.strip():
            self.results, self.searched = [], ""
            return
        self.searching = True
        yield
        self.results = await knowledge_search.search(ctx=ctx, query=self.query, limit=SEARCH_LIMIT)
        self.searched, self.searching = self.query.strip(), False

    @rx.event
    def clear_search(self):
        self.query, self.results, self.searched = "", [], ""


class CollectionFormState(rx.State):
    """The create / edit dialog, opened from the list and from a collection's header."""

    open: bool = False
    collection_id: str = ""  # "" = a new collection
    form: dict[str, str] = {"name": "", "description": ""}
    errors: dict[str, str] = {}
    form_key: int = 0

    @rx.var
    def is_new(self) -> bool:
        return self.collection_id == ""

    @rx.event
    def open_create(self):
        self._show("", "", "")

    @rx.event
    def open_edit(self, collection_id: str, name: str, description: str):
        self._show(collection_id, name, description)

    def _show(self, collection_id: str, name: str, description: str) -> None:
        self.collection_id = collection_id
        self.form = {"name": name, "description": description}
        self.errors = {}
        self.form_key += 1
        self.open = True

    @rx.event
    def set_open(self, is_open: bool):
        self.open = is_open
        if not is_open:
            self.errors = {}

    @rx.event
    @guarded
    def save(self, ctx: TenantContext, form_data: dict):
        data = {"name": form_data.get("name", ""), "description": form_data.get("description", "")}
        try:
            if self.is_new:
                view = knowledge.create_collection(ctx=ctx, data=data)
            else:
                view = knowledge.update_collection(ctx=ctx, collection_id=self.collection_id, data=data)
        except ValidationError as exc:
            # The inputs are uncontrolled and the form is not re-keyed: what was typed stays.
            self.errors = exc.field_errors or {"name": exc.message}
            return None
        self.open, self.errors = False, {}
        if self.is_new:
            return [
                rx.toast.success(f"Created “{view.name}”. Upload documents to it next."),
                rx.redirect(f"/knowledge/{view.id}"),
            ]
        if str(self.router.url.path).rstrip("/") == "/knowledge":
            return [rx.toast.success("Saved."), KnowledgeState.load]
        # Imported here: the collection page's state imports this module.
        from galaxyco_ui.states.knowledge_collection import CollectionState

        return [rx.toast.success("Saved."), CollectionState.refresh_header]
