"""Settings → Knowledge: the workspace's embedding model and the upload limits."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import knowledge_settings
from galaxyco_ui.services.knowledge_settings import EmbeddingChoice
from galaxyco_ui.states.guard import guarded


class KnowledgeSettingsState(rx.State):
    embedding_model: str = ""
    choices: list[EmbeddingChoice] = []
    max_upload_mb: rx.Field[int] = rx.field(0)
    allowed_types: str = ""
    can_manage: bool = False
    error: str = ""
    saving: bool = False
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        view = knowledge_settings.get_knowledge_settings(ctx=ctx)
        self.embedding_model = view.embedding_model
        self.choices = view.choices
        self.max_upload_mb = view.max_upload_mb
        self.allowed_types = ", ".join(view.allowed_types)
        self.can_manage = view.can_manage
        self.error = ""
        self.form_key += 1
        return None

    @rx.event
    @guarded(field_errors="error", reset={"saving": False})
    async def save(self, ctx: TenantContext, form: dict):
        model_id = str(form.get("embedding_model", ""))
        if model_id == self.embedding_model:
            yield rx.toast.info("That model is already in use.")
            return
        self.saving, self.error = True, ""
        yield
        try:
            queued = await knowledge_settings.set_embedding_model(ctx=ctx, model_id=model_id)
        except ValidationError as exc:
            self.saving = False
            self.error = exc.field_errors.get("embedding_model", exc.message)
            return
        self.saving = False
        self.embedding_model = model_id
        if model_id == "" and queued == 0:
            yield rx.toast.success("Saved. Search uses full text only.")
        elif queued == 0:
            yield rx.toast.success("Saved. There are no documents to re-index.")
        else:
            noun = "document" if queued == 1 else "documents"
            yield rx.toast.success(f"Saved. {queued} {noun} will be re-indexed.")
        yield KnowledgeSettingsState.load
