"""Trigger URLs (webhooks in): a POST to ``/api/v1/hooks/{token}`` starts a run of one agent.

Each agent has at most one trigger URL. Its token (``gxh_`` + 43 random characters) is
the only credential the caller needs, so:

- only its SHA-256 is looked up, and it is kept encrypted (purpose ``agent-hook``) only
  so that the people who may edit the agent can see the URL again; everyone else in the
  workspace sees that a trigger URL is on, never the token;
- regenerating it or turning the URL off stops the old token at once (a fresh token is
  issued each time the URL is turned on again);
- a run started through it acts as the person who issued the current token, with their
  role *now*: once they left the workspace or may no longer run agents, the URL is
  refused (``PermissionDeniedError``). The per-user run limit and the workspace's
  concurrent-run cap apply through ``services.runs.start_run``; on top of them each
  trigger URL takes ``HOOK_REQUESTS_PER_MINUTE`` requests a minute.

The request body becomes the run's input through the hook's template, a deliberately
small language (no Jinja, no evaluation): ``{{ body }}`` is the whole body and
``{{ body.a.b }}`` / ``{{ body.items.0 }}`` a path into it (see ``render_template``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, Role, TenantContext, can, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, PermissionDeniedError, RateLimitedError, ValidationError
from galaxyco_ui.infra.crypto import decrypt, encrypt
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.ratelimit import get_sliding_window
from galaxyco_ui.models import Agent, AgentHook, Workspace, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.agents import live_agent
from galaxyco_ui.services.runs import MAX_INPUT_CHARS, RunView, start_run
from galaxyco_ui.services.validation import check_text
from galaxyco_ui.services.workspaces import find_membership

TOKEN_PREFIX = "gxh_"  # noqa: S105 - the public prefix of every token, not a secret
TOKEN_PURPOSE = "agent-hook"  # noqa: S105 - the key-derivation label, not a secret
DEFAULT_TEMPLATE = "{{ body }}"
MAX_TEMPLATE_CHARS = 5_000
HOOK_REQUESTS_PER_MINUTE = 60
HOOK_PATH = "/api/v1/hooks/"

# A token as issued: the prefix and token_urlsafe(32)'s 43 characters. Anything else is
# "not found" without a database query.
_TOKEN_SHAPE = re.compile(r"gxh_[A-Za-z0-9_-]{20,100}")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# body, then dot-separated keys or list indexes (no spaces, dots or braces inside one).
_PATH = re.compile(r"body(?:\.[^\s.{}]+)*")
_MISSING = object()


class HookView(BaseModel):
    """An agent's trigger URL as the caller may see it.

    ``token`` and ``url`` are "" for those who may not edit the agent, and while the URL
    is off (its last token is dead; turning it on issues a new one).
    """

    agent_id: str
    enabled: bool
    can_edit: bool
    token: str
    url: str
    input_template: str
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- the template language


def validate_template(template: object) -> str:
    """``template`` if it is a template ``render_template`` can render, else ``ValidationError``.

    Every ``{{ … }}`` must hold ``body`` or a dotted path below it, braces must pair, and
    the text must be 1 to ``MAX_TEMPLATE_CHARS`` characters of storable text.
    """
    text = check_text(template, field="input_template")
    if not text.strip():
        raise ValidationError({"input_template": "Write a template, e.g. {{ body }}."})
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValidationError(
            {"input_template": f"Keep the template under {MAX_TEMPLATE_CHARS:,} characters."}
        )
    for match in _PLACEHOLDER.finditer(text):
        expression = match.group(1).strip()
        if not _PATH.fullmatch(expression):
            shown = expression if len(expression) <= 40 else expression[:40] + "…"
            raise ValidationError(
                {
                    "input_template": f"“{{{{ {shown} }}}}” is not a placeholder: use {{{{ body }}}} "
                    "or a path into it such as {{ body.message }} or {{ body.items.0 }}."
                }
            )
    rest = _PLACEHOLDER.sub("", text)
    if "{{" in rest or "}}" in rest:
        raise ValidationError(
            {
                "input_template": "A placeholder is not closed: write {{ body.field }} with both pairs of braces."
            }
        )
    return text


def render_template(template: str, body: object, *, limit: int | None = None) -> str:
    """The run input that ``template`` makes of a request ``body`` (parsed JSON or text).

    ``{{ body }}`` is the whole body; ``{{ body.a.b }}`` walks into objects by key and
    ``{{ body.items.0 }}`` into lists by index. Strings go in as they are, other values
    as JSON; a path that leads nowhere renders as "". Text outside placeholders is kept.

    With ``limit``, rendering stops once the text is longer than ``limit`` (the result is
    then longer than ``limit`` but not complete): a template that repeats ``{{ body }}``
    must not build hundreds of megabytes out of a 1 MB body.

    Raises:
        ValidationError: a value too deeply nested to write as JSON (field ``body``).
    """
    parts: list[str] = []
    size, start = 0, 0
    rendered: dict[str, str] = {}
    for match in _PLACEHOLDER.finditer(template):
        path = match.group(1).strip()
        if path not in rendered:
            rendered[path] = _as_text(_walk(body, path.split(".")[1:]))
        for piece in (template[start : match.start()], rendered[path]):
            parts.append(piece)
            size += len(piece)
        start = match.end()
        if limit is not None and size > limit:
            return "".join(parts)
    parts.append(template[start:])
    return "".join(parts)


def _as_text(value: object) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError) as exc:
        raise ValidationError({"body": "The request body is nested too deeply to use."}) from exc


def _walk(value: object, keys: list[str]) -> object:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list) and key.isdigit() and key.isascii() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


# ---------------------------------------------------------------- managing an agent's URL


def get_hook(*, ctx: TenantContext, agent_id: str) -> HookView | None:
    """The agent's trigger URL, or None when it never had one.

    Raises:
        NotFoundError: no such agent in this workspace.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = live_agent(session, ctx, agent_id)
        hook = _hook_of(session, agent)
        return _view(hook, agent, ctx) if hook else None


def enable_hook(*, ctx: TenantContext, agent_id: str, input_template: str | None = None) -> HookView:
    """Turn the agent's trigger URL on, with a fresh token unless it is already on.

    ``input_template`` (default ``{{ body }}`` for a new URL; an existing one keeps its
    template when None) is validated first. The runs it starts act as ``ctx``'s user.

    Raises:
        NotFoundError: no such agent in this workspace.
        PermissionDeniedError: the caller may not edit this agent.
        ValidationError: a bad template (field ``input_template``).
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    template = validate_template(input_template) if input_template is not None else None
    with session_scope() as session:
        agent = _editable_agent(session, ctx, agent_id)
        hook = _hook_of(session, agent)
        if hook is None:
            hook = AgentHook(
                workspace_id=ctx.workspace_id,
                agent_id=agent.id,
                input_template=template or DEFAULT_TEMPLATE,
                token_hash="",
                token_encrypted="",
            )
            _issue_token(hook, ctx)
            session.add(hook)
        elif not hook.enabled:
            _issue_token(hook, ctx)
            hook.enabled, hook.updated_at = True, utcnow()
            hook.input_template = template or hook.input_template
        else:  # already on: at most a new template
            if template is not None and template != hook.input_template:
                _change_template(session, ctx, agent, hook, template)
            return _view(hook, agent, ctx)
        session.flush()
        audit.record(
            session,
            ctx,
            "agent_hook.enabled",
            summary=f"Turned on the trigger URL of “{agent.name}”",
            target_type="agent",
            target_id=agent.id,
        )
        return _view(hook, agent, ctx)


def regenerate_hook_token(*, ctx: TenantContext, agent_id: str) -> HookView:
    """Give the agent's trigger URL a new token; the old one stops working at once.

    Raises:
        NotFoundError: no such agent here, or its trigger URL is off.
        PermissionDeniedError: the caller may not edit this agent.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = _editable_agent(session, ctx, agent_id)
        hook = _enabled_hook(session, agent)
        _issue_token(hook, ctx)
        hook.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "agent_hook.regenerated",
            summary=f"Replaced the trigger URL of “{agent.name}” (the old URL stopped working)",
            target_type="agent",
            target_id=agent.id,
        )
        return _view(hook, agent, ctx)


def set_hook_template(*, ctx: TenantContext, agent_id: str, input_template: str) -> HookView:
    """Change how a request body becomes the run input.

    Raises:
        NotFoundError: no such agent here, or it has no trigger URL.
        PermissionDeniedError: the caller may not edit this agent.
        ValidationError: a bad template (field ``input_template``).
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    template = validate_template(input_template)
    with session_scope() as session:
        agent = _editable_agent(session, ctx, agent_id)
        hook = _hook_of(session, agent)
        if hook is None:
            raise NotFoundError("That agent's trigger URL")
        if template != hook.input_template:
            _change_template(session, ctx, agent, hook, template)
        return _view(hook, agent, ctx)


def disable_hook(*, ctx: TenantContext, agent_id: str) -> HookView | None:
    """Turn the agent's trigger URL off: its token stops working at once (the template is kept).

    Returns the hook (now off), or None when the agent never had one.

    Raises:
        NotFoundError: no such agent in this workspace.
        PermissionDeniedError: the caller may not edit this agent.
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    with session_scope() as session:
        agent = _editable_agent(session, ctx, agent_id)
        hook = _hook_of(session, agent)
        if hook is None:
            return None
        if hook.enabled:
            hook.enabled, hook.updated_at = False, utcnow()
            # The token dies with the switch: a random hash that no token has keeps the
            # unique column filled, and turning the URL on again issues a new token.
            hook.token_hash = _hash(secrets.token_urlsafe(32))
            hook.token_encrypted = ""
            audit.record(
                session,
                ctx,
                "agent_hook.disabled",
                summary=f"Turned off the trigger URL of “{agent.name}”",
                target_type="agent",
                target_id=agent.id,
            )
        return _view(hook, agent, ctx)


# ---------------------------------------------------------------- a POST to the URL


async def start_from_hook(token: str, body: object, *, ip: str = "") -> RunView:
    """Start a run of the token's agent with ``body`` rendered through its template.

    ``body`` is the parsed JSON of the request, or its text. No session or API key is
    involved: the token is the credential, and the run acts as the person who issued it.

    Raises:
        NotFoundError: an unknown, malformed or turned-off token, or a deleted agent or workspace.
        PermissionDeniedError: the token's issuer left the workspace or may no longer run agents.
        RateLimitedError: more than ``HOOK_REQUESTS_PER_MINUTE`` requests to this URL in a
            minute, or the issuer's / workspace's run limits (see ``start_run``).
        ValidationError: the rendered input is empty, too long or holds unstorable text
            (field ``body``).
    """
    ctx, agent_id, template = await asyncio.to_thread(_resolve, token, ip)
    rendered = render_template(template, body, limit=MAX_INPUT_CHARS)
    text = check_text(rendered, field="body").strip()
    if not text:
        raise ValidationError(
            {"body": "The request body gave an empty input through this trigger URL's template."}
        )
    if len(text) > MAX_INPUT_CHARS:
        raise ValidationError(
            {"body": f"The input made from the request body is over {MAX_INPUT_CHARS:,} characters."}
        )
    return await start_run(ctx=ctx, agent_id=agent_id, input=text, trigger="webhook")


def hook_context(token: str, *, ip: str = "") -> TenantContext:
    """The context a live token's runs act in: its issuer, with their role now.

    For reading the runs a trigger URL started (``response_mode`` blocking or streaming)
    and for checking, while a stream lasts, that the URL still works. Not counted against
    the URL's requests per minute.

    Raises:
        NotFoundError: an unknown, malformed or turned-off token, or a deleted agent.
        PermissionDeniedError: the issuer left the workspace or may no longer run agents.
    """
    return _resolve(token, ip, count=False)[0]


def _resolve(token: object, ip: str, *, count: bool = True) -> tuple[TenantContext, str, str]:
    """(the issuer's context now, the agent's id, the template) for a live token; with
    ``count``, the request is counted against the URL's requests per minute."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise NotFoundError("That trigger URL")
    with session_scope() as session:
        row = session.exec(
            select(AgentHook, Agent)
            .join(Agent, col(Agent.id) == col(AgentHook.agent_id))
            .join(Workspace, col(Workspace.id) == col(AgentHook.workspace_id))
            .where(
                AgentHook.token_hash == _hash(token),
                col(AgentHook.enabled).is_(True),
                col(Workspace.deleted_at).is_(None),
            )
        ).first()
        if row is None or row[1].deleted_at is not None or row[1].workspace_id != row[0].workspace_id:
            raise NotFoundError("That trigger URL")
        hook = row[0]
        member = (
            find_membership(session, workspace_id=hook.workspace_id, user_id=hook.created_by)
            if hook.created_by
            else None
        )
        if member is None:
            raise PermissionDeniedError(
                "The person who set up this trigger URL is no longer a member of the workspace. "
                "Someone who may edit the agent can regenerate the URL."
            )
        ctx = TenantContext(
            user_id=member.user_id, workspace_id=hook.workspace_id, role=Role(member.role), ip=ip
        )
        if not can(ctx, Permission.RUN_AGENT):
            raise PermissionDeniedError(
                "The person who set up this trigger URL may no longer run agents in this workspace."
            )
        if count and (
            wait := get_sliding_window().hit(
                f"hooks:{hook.id}", limit=HOOK_REQUESTS_PER_MINUTE, window_seconds=60
            )
        ):
            raise RateLimitedError(
                f"This trigger URL took {HOOK_REQUESTS_PER_MINUTE} requests in the last minute. "
                f"Try again in {int(wait) + 1} seconds.",
                retry_after=int(wait) + 1,
            )
        return ctx, hook.agent_id, hook.input_template


# ---------------------------------------------------------------- internals


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue_token(hook: AgentHook, ctx: TenantContext) -> None:
    """Give ``hook`` a new token (the old one stops working); the URL acts as ``ctx``'s user."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hook.token_hash = _hash(token)
    hook.token_encrypted = encrypt(token, purpose=TOKEN_PURPOSE)
    hook.created_by = ctx.user_id


def _change_template(
    session: Session, ctx: TenantContext, agent: Agent, hook: AgentHook, template: str
) -> None:
    hook.input_template, hook.updated_at = template, utcnow()
    audit.record(
        session,
        ctx,
        "agent_hook.template_changed",
        summary=f"Changed the input template of the trigger URL of “{agent.name}”",
        target_type="agent",
        target_id=agent.id,
    )


def _editable_agent(session: Session, ctx: TenantContext, agent_id: str) -> Agent:
    agent = live_agent(session, ctx, agent_id)
    # "" rather than None: an agent without a known creator is nobody's own.
    require(ctx, Permission.EDIT_AGENT, owner_id=agent.created_by or "")
    return agent


def _hook_of(session: Session, agent: Agent) -> AgentHook | None:
    return session.exec(
        select(AgentHook).where(AgentHook.workspace_id == agent.workspace_id, AgentHook.agent_id == agent.id)
    ).first()


def _enabled_hook(session: Session, agent: Agent) -> AgentHook:
    hook = _hook_of(session, agent)
    if hook is None or not hook.enabled:
        raise NotFoundError("That agent's trigger URL")
    return hook


def _view(hook: AgentHook, agent: Agent, ctx: TenantContext) -> HookView:
    may_edit = can(ctx, Permission.EDIT_AGENT, owner_id=agent.created_by or "")
    token = ""
    if may_edit and hook.enabled and hook.token_encrypted:
        try:
            token = decrypt(hook.token_encrypted, purpose=TOKEN_PURPOSE)
        except ValueError:  # SECRET_KEY changed: the URL still works, but cannot be shown
            token = ""
    base = get_settings().public_url.rstrip("/")
    return HookView(
        agent_id=agent.id,
        enabled=hook.enabled,
        can_edit=may_edit,
        token=token,
        url=f"{base}{HOOK_PATH}{token}" if token else "",
        input_template=hook.input_template,
        created_at=hook.created_at,
        updated_at=hook.updated_at,
    )
