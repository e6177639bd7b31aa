"""The embedder a workspace chose (Settings → Knowledge), built with its provider key."""

from __future__ import annotations

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge.embeddings import Embedder, EmbeddingError, make_embedder, model_info
from galaxyco_ui.models import Workspace
from galaxyco_ui.providers.credentials import provider_config


def load_embedder(workspace_id: str) -> Embedder | None:
    """The workspace's embedder, or None when it uses full-text search only.

    Raises:
        EmbeddingError: a model is chosen but its provider key is gone or unreadable.
    """
    with session_scope() as session:
        workspace = session.get(Workspace, workspace_id)
        if workspace is None or not workspace.embedding_model:
            return None
        info = model_info(workspace.embedding_model)
        if info.provider is None:
            return make_embedder(info.id)
        config, problem = provider_config(session, workspace_id, info.provider)
    if config is None:
        raise EmbeddingError(f"Cannot embed with {info.label}: {problem}")
    return make_embedder(info.id, api_key=config.api_key, base_url=config.base_url or None)
