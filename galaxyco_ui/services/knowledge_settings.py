"""Settings → Knowledge: the workspace's embedding model and the upload limits."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from sqlmodel import select

from galaxyco_ui.auth.permissions import Permission, TenantContext, can, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge import ingest
from galaxyco_ui.knowledge.embeddings import EMBEDDING_MODELS, local_model_available
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.types import KIND_LABELS, DocumentKind
from galaxyco_ui.models import ItemStatus, KnowledgeItem, ProviderKey, Workspace, utcnow
from galaxyco_ui.providers.catalog import PROVIDER_LABELS
from galaxyco_ui.services import audit


class EmbeddingChoice(BaseModel):
    id: str  # "" = full-text search only
    label: str
    available: bool
    note: str  # why it is unavailable, or what it needs


class KnowledgeSettingsView(BaseModel):
    embedding_model: str
    choices: list[EmbeddingChoice]
    max_upload_mb: int
    allowed_types: list[str]
    can_manage: bool


def get_knowledge_settings(*, ctx: TenantContext) -> KnowledgeSettingsView:
    """The workspace's embedding model and the upload limits, for Settings → Knowledge."""
    require(ctx, Permission.VIEW_WORKSPACE)
    settings = get_settings()
    with session_scope() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        assert workspace is not None
        keys = set(
            session.exec(
                select(ProviderKey.provider).where(ProviderKey.workspace_id == ctx.workspace_id)
            ).all()
        )
    choices = [EmbeddingChoice(id="", label="None: full-text search only", available=True, note="")]
    for model in EMBEDDING_MODELS:
        if model.provider is None:
            ok = local_model_available()
            note = "" if ok else "Needs the optional local model package on the server (see the README)."
        else:
            ok = model.provider in keys
            label = PROVIDER_LABELS.get(model.provider, model.provider)
            note = (
                f"Uses the workspace's {label} key."
                if ok
                else f"Needs an API key for {label}: add it under Providers."
            )
        choices.append(EmbeddingChoice(id=model.id, label=model.label, available=ok, note=note))
    return KnowledgeSettingsView(
        embedding_model=workspace.embedding_model,
        choices=choices,
        max_upload_mb=settings.knowledge_max_upload_mb,
        allowed_types=[
            KIND_LABELS[DocumentKind(k)] for k in settings.knowledge_allowed_types if k in list(DocumentKind)
        ],
        can_manage=can(ctx, Permission.MANAGE_SETTINGS),
    )


async def set_embedding_model(*, ctx: TenantContext, model_id: str) -> int:
    """Choose how the workspace's knowledge is embedded, and re-index everything with it.

    Vectors of different models cannot be mixed, so the workspace's index is rebuilt:
    every item goes back to ``queued``. Returns how many items were queued.

    Raises:
        ValidationError: unknown model, or its provider key / local package is missing.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    choice = next((c for c in get_knowledge_settings(ctx=ctx).choices if c.id == model_id), None)
    if choice is None:
        raise ValidationError({"embedding_model": "Choose a model from the list."})
    if not choice.available:
        raise ValidationError({"embedding_model": choice.note})
    with session_scope() as session:
        workspace = session.get(Workspace, ctx.workspace_id)
        assert workspace is not None
        if workspace.embedding_model == model_id:
            return 0
        previous = workspace.embedding_model
        workspace.embedding_model = model_id
        workspace.updated_at = utcnow()
        session.add(workspace)
        items = session.exec(
            select(KnowledgeItem).where(
                KnowledgeItem.workspace_id == ctx.workspace_id, KnowledgeItem.status != ItemStatus.PROCESSING
            )
        ).all()
        for item in items:
            item.status = ItemStatus.QUEUED
            item.progress = 0
            item.error = ""
            session.add(item)
        audit.record(
            session,
            ctx,
            "knowledge.embedding_model_changed",
            summary=f"Changed the knowledge embedding model to “{choice.label}”",
            target_type="workspace",
            target_id=ctx.workspace_id,
            data={"from": previous, "to": model_id},
        )
        queued = [item.id for item in items]
    await asyncio.to_thread(get_index().drop_workspace, ctx.workspace_id)
    for item_id in queued:
        await ingest.enqueue_ingest(item_id)
    return len(queued)
