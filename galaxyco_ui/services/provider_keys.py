"""Provider keys: a workspace's credentials per model provider.

Keys are encrypted at rest (``infra.crypto``, purpose ``provider-key``), never returned
to the browser (views carry the last four characters only) and never logged.

Base URLs are typed by a workspace admin, so they are vetted like any URL a user types
(``tools.netguard.vet_provider_url_blocking``): public addresses, or loopback/private
``host:port`` pairs the operator listed in ``ALLOWED_PRIVATE_PROVIDER_HOSTS``; never
link-local or cloud metadata. The provider clients vet again when they connect
(``providers.http``). Changing a base URL without pasting a key removes the stored key,
so nobody can send a colleague's key to a server of their choosing. Every change is in
the audit log (``provider_key.created``, ``.updated``, ``.removed``).

Each configured provider's view also says whether this server could reach its base URL
at the last periodic check (``providers.reachability``: keyless, cached; reading it
never connects anywhere).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import ProviderKey, utcnow
from galaxyco_ui.providers.base import ChatRequest, Message, ProviderConfig, ProviderError
from galaxyco_ui.providers.catalog import PROVIDER_KEYS, PROVIDER_LABELS, PROVIDERS
from galaxyco_ui.providers.credentials import PROVIDER_KEY_PURPOSE, provider_config
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.providers.reachability import Reachability, cached_reachability, effective_base_url
from galaxyco_ui.services import audit
from galaxyco_ui.tools import netguard
from galaxyco_ui.tools.base import ToolError

TEST_TIMEOUT_SECONDS = 20
KEY_CLEARED_NOTICE = (
    "The base URL changed, so the stored key was removed (it is only ever sent to the "
    "address it was entered for). Paste the key again to use this provider."
)


class ProviderKeyView(BaseModel):
    provider: str
    label: str
    configured: bool
    has_key: bool  # a key is stored (configured without one: OpenAI-compatible, or cleared)
    key_hint: str  # "••••abcd" or ""
    base_url: str
    last_test_ok: bool | None
    last_test_message: str
    last_tested_at: datetime | None
    notice: str = ""  # set by set_provider_key when the stored key was removed
    # The last periodic reachability check of the base URL in use (checked_at None: not yet).
    reachable: bool = False
    reachability_error: str = ""
    reachability_checked_at: datetime | None = None


def list_provider_keys(*, ctx: TenantContext) -> list[ProviderKeyView]:
    """Every provider, configured or not, in catalog order, each configured one with the
    last periodic reachability check of its base URL (read from the cache)."""
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        rows = {
            k.provider: k
            for k in session.exec(
                select(ProviderKey).where(ProviderKey.workspace_id == ctx.workspace_id)
            ).all()
        }
    reachability = cached_reachability([_url(row) for row in rows.values()])
    views = []
    for p in PROVIDERS:
        row = rows.get(p.key)
        views.append(_with_reachability(_view(p.key, row), reachability.get(_url(row)) if row else None))
    return views


def set_provider_key(
    *, ctx: TenantContext, provider: str, api_key: str, base_url: str = ""
) -> ProviderKeyView:
    """Add or replace a provider's key and base URL (admins and owners).

    An empty ``api_key`` keeps the stored key while the base URL stays the same; with a
    changed base URL it removes the stored key (the view's ``notice`` says so). The
    OpenAI-compatible provider needs a base URL; its key may be empty (e.g. Ollama).
    The base URL is resolved and vetted first (blocking DNS: call from a thread when on
    an event loop).

    Raises:
        ValidationError: ``base_url`` (malformed, or an address the policy refuses: the
            message names ``ALLOWED_PRIVATE_PROVIDER_HOSTS`` when the operator could
            allow it) or ``api_key`` (missing, too long).
    """
    require(ctx, Permission.MANAGE_PROVIDER_KEYS)
    if provider not in PROVIDER_KEYS:
        raise NotFoundError("That provider")
    api_key, base_url = api_key.strip(), base_url.strip().rstrip("/")
    errors: dict[str, str] = {}
    if len(base_url) > 500:
        errors["base_url"] = "That URL is too long (500 characters at most)."
    elif base_url:
        problem = vet_base_url(base_url)
        if problem:
            errors["base_url"] = problem
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
        created = row is None
        if row is None:
            row = ProviderKey(
                workspace_id=ctx.workspace_id,
                created_by=ctx.user_id,
                provider=provider,
                api_key_encrypted="",
                last4="",
            )
            session.add(row)
        previous_url = row.base_url or ""
        url_changed = not created and base_url != previous_url
        key_cleared = url_changed and not api_key and bool(row.api_key_encrypted)
        if api_key:
            row.api_key_encrypted = crypto.encrypt(api_key, purpose=PROVIDER_KEY_PURPOSE)
            row.last4 = api_key[-4:]
        elif key_cleared:
            row.api_key_encrypted, row.last4 = "", ""
        row.base_url = base_url
        row.last_test_ok, row.last_test_message, row.last_tested_at = None, "", None
        row.updated_at = utcnow()
        label = PROVIDER_LABELS[provider]
        if created:
            summary = f"Added the {label} provider" + (" key" if api_key else "")
        elif key_cleared:
            summary = f"Changed the {label} base URL; the stored key was removed"
        else:
            changes = [c for c, on in (("key", bool(api_key)), ("base URL", url_changed)) if on]
            summary = f"Changed the {label} " + (" and ".join(changes) or "settings (no change)")
        audit.record(
            session,
            ctx,
            "provider_key.created" if created else "provider_key.updated",
            summary=summary,
            target_type="provider_key",
            target_id=provider,
            data={
                "base_url": base_url,
                "previous_base_url": previous_url,
                "key_changed": bool(api_key),
                "key_cleared": key_cleared,
            },
        )
        view = _view(provider, row)
    if key_cleared:
        view.notice = KEY_CLEARED_NOTICE
    return view


def vet_base_url(base_url: str) -> str:
    """Why ``base_url`` may not be used as a provider base URL, or "" when it may.

    Resolves the host (blocking) and applies ``netguard``'s provider policy with the
    operator's ``ALLOWED_PRIVATE_PROVIDER_HOSTS``.
    """
    try:
        netguard.vet_provider_url_blocking(base_url, allowed_private=get_settings().private_provider_hosts)
    except ToolError as refused:
        return refused.message
    return ""


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
            data={"base_url": row.base_url or ""},
        )


async def check_provider_key(*, ctx: TenantContext, provider: str, model: str = "") -> ProviderKeyView:
    """Make a real, minimal call with the stored key and record the outcome."""
    require(ctx, Permission.MANAGE_PROVIDER_KEYS)
    config, problem = await asyncio.to_thread(_config, ctx, provider)
    if config is None:  # e.g. the key was removed when the base URL changed
        ok, message = False, problem
    else:
        model = model or next(p.suggested_models[0] for p in PROVIDERS if p.key == provider)
        ok, message = await _probe(config, model)
    with session_scope() as session:
        row = _row(session, ctx, provider)
        if row is None:
            raise NotFoundError("That provider key")
        row.last_test_ok, row.last_test_message, row.last_tested_at = ok, message[:500], utcnow()
        view, url = _view(provider, row), _url(row)
    return _with_reachability(view, cached_reachability([url]).get(url))


def _row(session: Session, ctx: TenantContext, provider: str) -> ProviderKey | None:
    return session.exec(
        select(ProviderKey).where(
            ProviderKey.workspace_id == ctx.workspace_id, ProviderKey.provider == provider
        )
    ).first()


def _config(ctx: TenantContext, provider: str) -> tuple[ProviderConfig | None, str]:
    """The stored credentials, or ``(None, what to fix)``.

    Raises:
        NotFoundError: the workspace has no row for this provider.
    """
    with session_scope() as session:
        if _row(session, ctx, provider) is None:
            raise NotFoundError("That provider key")
        return provider_config(session, ctx.workspace_id, provider)


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


def _url(row: ProviderKey) -> str:
    return effective_base_url(row.provider, row.base_url)


def _with_reachability(view: ProviderKeyView, reachability: Reachability | None) -> ProviderKeyView:
    if reachability is None:
        return view
    return view.model_copy(
        update={
            "reachable": reachability.ok,
            "reachability_error": reachability.error,
            "reachability_checked_at": reachability.checked_at,
        }
    )


def _view(provider: str, row: ProviderKey | None) -> ProviderKeyView:
    return ProviderKeyView(
        provider=provider,
        label=PROVIDER_LABELS[provider],
        configured=row is not None,
        has_key=row is not None and bool(row.api_key_encrypted),
        key_hint=f"••••{row.last4}" if row is not None and row.last4 else "",
        base_url=row.base_url if row is not None else "",
        last_test_ok=row.last_test_ok if row is not None else None,
        last_test_message=row.last_test_message if row is not None else "",
        last_tested_at=row.last_tested_at if row is not None else None,
    )
