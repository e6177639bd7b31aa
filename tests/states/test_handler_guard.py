"""Every Reflex event handler is a public RPC: no client gets another workspace's data.

Any connected client can send any handler's name with any arguments, background
handlers included. These tests enumerate every handler of every State class in
``galaxyco_ui.states`` by introspection (a new handler is covered without touching this
file, or fails loudly until it has a rule for its arguments) and send each one as a
signed-out client and as the owner of another workspace, with the victim's ids as
arguments and in the state vars an earlier "load" would have set. Nothing a victim
wrote may appear in what those clients receive, the victim's rows stay as they were,
and no background loop survives its client.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import typing
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from reflex.istate.manager.token import BaseStateToken
from reflex_base.event import EventHandler

import galaxyco_ui.states
from galaxyco_ui.services import accounts
from galaxyco_ui.states.guard import GUARD_MARKER
from tests.factories import SignedIn, workspace_rows
from tests.states.conftest import BAIT, Victim
from tests.states.harness import Browser, Hub

# ------------------------------------------------------------------ enumeration


def state_classes() -> list[type[rx.State]]:
    """Every State class defined in a module of ``galaxyco_ui.states``."""
    classes = []
    for info in pkgutil.iter_modules(galaxyco_ui.states.__path__):
        module = importlib.import_module(f"galaxyco_ui.states.{info.name}")
        classes += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, rx.State) and obj.__module__ == module.__name__
        ]
    return sorted(classes, key=lambda c: c.__name__)


def handlers() -> list[tuple[type[rx.State], str, EventHandler]]:
    return [
        (cls, name, handler)
        for cls in state_classes()
        for name, handler in sorted(cls.event_handlers.items())
        if name not in NOT_SENT
    ]


# Handlers this test does not send, each with the reason. Keep it short.
NOT_SENT = {
    # Reflex's built-in: it only calls the state's own ``set_<var>`` handlers, and
    # those are enumerated (and sent) themselves.
    "setvar",
}

# Handlers that reach no service and touch no stored object: they only move what this
# browser sent (or what is already on its screen) around in its own state. Every other
# handler of a workspace screen must go through ``states.guard.guarded``.
UI_ONLY = {
    "ApiKeysState.dismiss_secret": "hides the secret this browser was just shown",
    "ApprovalsState.set_note": "stores the note this browser typed; decide is guarded",
    "AgentsState.set_search": "stores the search box; the load it chains is guarded",
    "AgentsState.set_sort": "stores the sort order; the load it chains is guarded",
    "AgentHistoryState.set_tab": "switches the agent page's tab",
    "CollectionFormState.open_create": "opens the empty dialog",
    "CollectionFormState.open_edit": "shows the values the browser sent; save is guarded",
    "CollectionFormState.set_open": "opens or closes the dialog",
    "CollectionState.begin_upload": "lists the files the browser is sending; the watcher is guarded",
    "CollectionState.cancel_upload": "stops the browser's upload",
    "CollectionState.clear_search": "empties the results on screen",
    "CollectionState.dismiss_uploads": "hides the upload panel",
    "CollectionState.rejected_files": "lists the files the browser refused",
    "CollectionState.upload_progress": "turns the browser's byte count into bars",
    "KnowledgeState.clear_search": "empties the results on screen",
    "TeamState.copy_link": "copies the link the browser sent",
    "TeamState.dismiss_invite_link": "hides the last link",
}

# Modules whose states act on the signed-in user, not on a workspace: they resolve
# ``current_auth`` on every call and call user-scoped services (session.py holds the
# guard's own building blocks and cannot import it).
USER_STATES = {
    "galaxyco_ui.states.account_links",  # verify email, reset password (before sign-in)
    "galaxyco_ui.states.auth",
    "galaxyco_ui.states.invite",
    "galaxyco_ui.states.profile",
    "galaxyco_ui.states.session",
}


# ------------------------------------------------------------------ arguments


ID_ARGUMENTS = {  # parameter name -> the victim object it names
    "run_id": "run",
    "agent_id": "agent",
    "item_id": "item",
    "collection_id": "collection",
    "schedule_id": "schedule",
    "invitation_id": "invitation",
    "member_id": "member",
    "workspace_id": "workspace",
    "session_id": "session",
    "user_id": "member_user",
    "key_id": "api_key",
    "endpoint_id": "webhook_endpoint",
    "server_id": "mcp_server",
    "notification_id": "notification",
    "approval_id": "approval",
}
PLAIN_ARGUMENTS: dict[str, Any] = {
    "provider": "openai",
    "ordinal": 0,
    "number": 1,  # an agent version: the victim's agent has 1 and 2
    "direction": 1,
    "role": "admin",
    "is_open": True,
    "enabled": True,
    "value": BAIT,
    "name": BAIT,
    "description": BAIT,
    "query": BAIT,
    "text": BAIT,
    "link": "https://example.com/invite/not-a-token",
    "token": "not-a-token",
    "email": "someone@example.com",
    "code": "000000",
    "decision": "approve",
    "kind": "budget_80",  # a notification preference: the caller's own
    "channel": "email",
}
# State vars that an earlier load would have pointed at the object of the page.
ID_VARS = {
    "run_id": "live_run",
    "agent_id": "agent",
    "collection_id": "collection",
    "item_id": "item",
    # Settings → Webhooks: the endpoint being edited, whose secret or log is open.
    "edit_id": "webhook_endpoint",
    "secret_for": "webhook_endpoint",
    "log_for": "webhook_endpoint",
}


def form(v: Victim) -> dict[str, Any]:
    """A form carrying every field our forms have, ids pointing at the victim."""
    return {
        **{name: v.ids[kind] for name, kind in ID_ARGUMENTS.items()},
        **PLAIN_ARGUMENTS,
        "input": BAIT,
        "cron": "0 9 * * 1",
        "timezone": "UTC",
        "api_key": "",
        "base_url": "",
        "status": "",
        "trigger": "",
        "member": v.ids["member_user"],
        "actor": f"user:{v.ids['member_user']}",  # the audit log's filters
        "action": "agent.*",
        "period": "7d",
        "since": "",
        "until": "",
        "embedding_model": "",
        "password": "wrong password",
        "current_password": "wrong password",
        "new_password": "another wrong password",
        "confirm_password": "another wrong password",
        "loaded": 10,
        "total": 100,
        f"kc_{v.ids['collection']}": "on",
        "tool_calculator": "on",
        "monthly_usd": "1",  # Settings → Limits: a budget the victim's agent or member would get
        **{k: "" for k in ("temperature", "max_steps", "max_output_tokens")},
    }


def arguments(cls: type[rx.State], name: str, handler: EventHandler, v: Victim, generation: int) -> dict:
    hints = handler._get_type_hints()
    values: dict[str, Any] = {}
    for param in list(inspect.signature(handler.fn).parameters)[1:]:
        hint = hints.get(param)
        origin, inner = typing.get_origin(hint), typing.get_args(hint)
        if param == "generation":
            values[param] = generation  # the live loop's counter, as the client can read it
        elif param in ID_ARGUMENTS:
            values[param] = v.ids[ID_ARGUMENTS[param]]
        elif param in PLAIN_ARGUMENTS:
            values[param] = PLAIN_ARGUMENTS[param]
        elif hint is dict or origin is dict:
            values[param] = form(v)
        elif origin is list and inner and inner[0] is rx.UploadFile:
            data = f"{BAIT} notes".encode()
            values[param] = [rx.UploadFile(file=io.BytesIO(data), path=Path(f"{BAIT}.txt"), size=len(data))]
        elif origin is list:
            values[param] = [{"name": f"{BAIT}.txt", "size": 10, "codes": ["file-too-large"]}]
        else:
            raise AssertionError(
                f"{cls.__name__}.{name}: no rule for its parameter {param!r} ({hint}). "
                "Add one to tests/states/test_handler_guard.py: every handler must be sent."
            )
    return values


def pages(cls: type[rx.State], v: Victim) -> list[str]:
    """Where the attacker stands when sending the handler: the victim's object's page."""
    return {
        "RunState": [f"/runs/{v.ids['live_run']}", f"/runs/{v.ids['run']}"],
        "AgentRunState": [f"/agents/{v.ids['agent']}"],
        "AgentEditorState": [f"/agents/{v.ids['agent']}"],
        "AgentHookState": [f"/agents/{v.ids['agent']}"],
        "AgentHistoryState": [f"/agents/{v.ids['agent']}", f"/agents/{v.ids['agent']}?tab=history&version=1"],
        "CollectionState": [f"/knowledge/{v.ids['collection']}"],
        "ItemState": [f"/knowledge/items/{v.ids['item']}"],
        "RunsState": ["/runs"],
        "TeamState": ["/team"],
        "SettingsState": ["/settings"],
        "AuditLogState": ["/settings/audit"],
        "WebhooksState": ["/settings"],
        # The token in an invitation link is a bearer secret: whoever holds it may see
        # the invitation, so the attacker holds none.
        "InviteState": ["/invite/not-a-token"],
    }.get(cls.__name__, ["/agents"])


# ------------------------------------------------------------------ the attack


async def attack(hub: Hub, v: Victim, session_token: str) -> list[str]:
    """Send every handler as this client; return what went wrong, one line each."""
    problems: list[str] = []
    for cls, name, handler in handlers():
        for path in pages(cls, v):
            label = f"{cls.__name__}.{name} at {path}"
            browser = hub.browser(session_token=session_token).at(path)
            errors_before = len(hub.errors)
            try:
                if "load" in cls.event_handlers:
                    await browser.send(cls.event_handlers["load"])
                generation = await point_at_victim(browser, cls, v)
                await browser.send(handler, **arguments(cls, name, handler, v, generation))
            except AssertionError as exc:
                problems.append(f"{label}: {exc}")
            if still := await browser.disconnect():
                problems.append(f"{label}: {still} kept running after its client left")
            # Everything it received, background updates sent while ending included.
            if leaked := v.leaks(list(browser.received())):
                problems.append(f"{label}: leaked {leaked}")
            problems += [f"{label}: raised {exc!r}" for exc in hub.errors[errors_before:]]
    return problems


async def point_at_victim(browser: Browser, cls: type[rx.State], v: Victim) -> int:
    """Set the id vars as a load of the victim's page used to; return the live counter."""
    manager = browser.hub.processor._root_context.state_manager  # type: ignore[union-attr]
    async with manager.modify_state(BaseStateToken(ident=browser.token, cls=cls)) as root:
        state = await root.get_state(cls)
        for var, kind in ID_VARS.items():
            if var in cls.base_vars:
                setattr(state, var, v.ids[kind])
        return int(getattr(state, "_generation", 0))


def victim_snapshot(v: Victim) -> dict[str, Any]:
    return workspace_rows(v.team.workspace_id)


@pytest.mark.parametrize("who", ["signed out", "owner of another workspace"])
async def test_no_handler_gives_another_client_any_victim_data(
    who: str, hub: Hub, victim: Victim, outsider: SignedIn
) -> None:
    before = victim_snapshot(victim)
    problems = await attack(hub, victim, "" if who == "signed out" else outsider.token)
    assert not problems, "\n".join(problems)
    assert victim_snapshot(victim) == before
    assert accounts.resolve_session(token=victim.owner.token) is not None


def test_the_enumeration_finds_every_kind_of_handler() -> None:
    names = {f"{cls.__name__}.{name}" for cls, name, _ in handlers()}
    # Background loops, an upload handler, and the states the guard does not cover.
    assert {
        "RunState.follow",
        "RunsState.watch",
        "CollectionState.watch",
        "ItemState.watch",
        "CollectionState.handle_upload",
        "SessionState.switch_workspace",
        "AuthFormState.sign_in",
        "InviteState.accept",
        "ProfileState.revoke",
    } <= names
    assert len(names) > 60


def test_every_workspace_handler_goes_through_the_guard() -> None:
    unguarded = [
        f"{cls.__name__}.{name}"
        for cls, name, handler in handlers()
        if cls.__module__ not in USER_STATES
        and not getattr(handler.fn, GUARD_MARKER, False)
        and f"{cls.__name__}.{name}" not in UI_ONLY
    ]
    assert not unguarded, f"use @guarded (states/guard.py) or list them in UI_ONLY: {unguarded}"
    stale = set(UI_ONLY) - {f"{cls.__name__}.{name}" for cls, name, _ in handlers()}
    assert not stale, f"UI_ONLY names handlers that no longer exist: {stale}"
