"""Provider keys: a workspace's credentials per model provider.

Keys are encrypted at rest (``infra.crypto``, purpose ``provider-key``), never returned
to the browser (views carry the last four characters only) and never logged.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import ProviderKey, utcnow
from galaxyco_ui.providers.base import ChatRequest, Message, ProviderConfig, ProviderError
from galaxyco_ui.providers.catalog import PROVIDER_KEYS, PROVIDER_LABELS, PROVIDERS
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.runs.store import PROVIDER_KEY_PURPOSE, provider_config
from galaxyco_ui.services import audit

TEST_TIMEOUT_SECONDS = 20


class ProviderKeyView(BaseModel):
    provider: str
    label: str
    configured: bool
    key_hint: str  # "••••abcd" or ""
    base_url: str
    last_test_ok: bool | None
    last_test_message: str
    last_tested_at: datetime | None


def list_provider_keys(*, ctx: TenantContext) -> list[ProviderKeyView]:
    """Every provider, configured or not, in catalog order."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        rows = {
            k.provider: k
            for k in session.exec(
                select(ProviderKey).where(ProviderKey.workspace_id == ctx.workspace_id)
            ).all()
        }
    return [_view(p.key, rows.get(p.key)) for p in PROVIDERS]


def set_provider_key(
    *, ctx: TenantContext, provider: str, api_key: str, base_url: str = ""
) -> ProviderKeyView:
    """Add or replace a provider's key (admins and owners).

    An empty ``api_key`` keeps the stored key (so the base URL can change alone). The
    OpenAI-compatible provider needs a base URL; its key may be empty (e.g. Ollama).
    """
    require(ctx, Permission.MANAGE_PROVIDER_KEYS)
    if provider not in PROVIDER_KEYS:
        raise NotFoundError("That provider")
    api_key, base_url = api_key.strip(), base_url.strip().rstrip("/")
    errors: dict[str, str] = {}
    if base_url and not base_url.startswith(("http://", "https://")):
        errors["base_url"] = "Enter a URL starting with http:// or https://."
    if provider == "openai_compatible" and not base_url:
        errors["base_url"] = (
            "An OpenAI-compatible endpoint needs its base URL, e.g. http://localhost:11434/v1."
        )
    if len(api_key) > 1000:
        errors["api_key"] = "That key is too long."
    with session_scope() as session:
        row = _row(session, ctx, provider)
        if row is None and not api_key and provider != "openai_compatible":
            errors["api_key"] = "Paste the API key."
        if errors:
            raise ValidationError(errors)
        if row is None:
            row = ProviderKey(
                workspace_id=ctx.workspace_id,
                created_by=ctx.user_id,
                provider=provider,
                api_key_encrypted="",
                last4="",
            )
            session.add(row)
        if api_key:
            row.api_key_encrypted = crypto.encrypt(api_key, purpose=PROVIDER_KEY_PURPOSE)
            row.last4 = api_key[-4:]
        row.base_url = base_url
        row.last_test_ok, row.last_test_message, row.last_tested_at = None, "", None
        row.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "provider_key.set",
            summary=f"Set the {PROVIDER_LABELS[provider]} API key",
            target_type="provider_key",
            target_id=provider,
            data={"base_url": base_url},
        )
        return _view(provider, row)


def remove_provider_key(*, ctx: TenantContext, provider: str) -> None:
    require(ctx, Permission.MANAGE_PROVIDER_KEYS)
    with session_scope() as session:
        row = _row(session, ctx, provider)
        if row is None:
            raise NotFoundError("That provider key")
        session.delete(row)
        audit.record(
            session,
            ctx,
            "provider_key.removed",
            summary=f"Removed the {PROVIDER_LABELS.get(provider, provider)} API key",
            target_type="provider_key",
            target_id=provider,
        )


async def check_provider_key(*, ctx: TenantContext, provider: str, model: str = "") -> ProviderKeyView:
    """Make a real, minimal call with the stored key and record the outcome."""
    require(ctx, Permission.MANAGE_PROVIDER_KEYS)
    config = await asyncio.to_thread(_config, ctx, provider)
    model = model or next(p.suggested_models[0] for p in PROVIDERS if p.key == provider)
    ok, message = await _probe(config, model)
    with session_scope() as session:
        row = _row(session, ctx, provider)
        if row is None:
            raise NotFoundError("That provider key")
        row.last_test_ok, row.last_test_message, row.last_tested_at = ok, message[:500], utcnow()
        return _view(provider, row)


def _row(session: Session, ctx: TenantContext, provider: str) -> ProviderKey | None:
    return session.exec(
        select(ProviderKey).where(
            ProviderKey.workspace_id == ctx.workspace_id, ProviderKey.provider == provider
        )
    ).first()


def _config(ctx: TenantContext, provider: str) -> ProviderConfig:
    with session_scope() as session:
        config, _problem = provider_config(session, ctx.workspace_id, provider)
    if config is None:
        raise NotFoundError("That provider key")
    return config


async def _probe(config: ProviderConfig, model: str) -> tuple[bool, str]:
    client = make_provider(config)
    request = ChatRequest(
        model=model,
        messages=(Message(role="user", content="Reply with: ok"),),
        max_output_tokens=16,
        temperature=0,
    )
    try:
        async with asyncio.timeout(TEST_TIMEOUT_SECONDS):
            async for _event in client.stream(request):
                pass
    except ProviderError as exc:
        return False, exc.message
    except TimeoutError:
        return (
            False,
            f"No answer from {PROVIDER_LABELS[config.provider]} within {TEST_TIMEOUT_SECONDS} seconds.",
        )
    finally:
        await client.aclose()
    return True, f"Connected: {model} answered."


def _view(provider: str, row: ProviderKey | None) -> ProviderKeyView:
    return ProviderKeyView(
        provider=provider,
        label=PROVIDER_LABELS[provider],
        configured=row is not None,
        key_hint=f"••••{row.last4}" if row is not None and row.last4 else "",
        base_url=row.base_url if row is not None else "",
        last_test_ok=row.last_test_ok if row is not None else None,
        last_test_message=row.last_test_message if row is not None else "",
        last_tested_at=row.last_tested_at if row is not None else None,
    )
