"""State tests: the app's event processor in-process (``harness``), and a victim workspace
full of distinctive data that other clients must never receive."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui import notifications
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import (
    KnowledgeItem,
    McpServer,
    Notification,
    Run,
    RunStep,
    ToolApproval,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from galaxyco_ui.runs.events import get_event_bus, run_stream, workspace_stream
from galaxyco_ui.services import (
    agent_hooks,
    agents,
    api_keys,
    invitations,
    knowledge,
    provider_keys,
    schedules,
)
from galaxyco_ui.tools.mcp_client import HEADERS_PURPOSE as MCP_HEADERS_PURPOSE
from galaxyco_ui.webhooks.delivery import SECRET_PURPOSE
from tests.factories import (
    SignedIn,
    Team,
    agent_data,
    make_agent,
    make_team,
    make_user,
    membership_id,
    set_columns,
    sign_in_as,
)
from tests.states.harness import Hub

# Every victim text carries this word, so a search or filter for it would find the
# victim's rows if scoping failed; the secrets themselves are never sent as arguments.
BAIT = "Nightjar"


@dataclass
class Victim:
    """A workspace with one of everything; ``secrets`` must never reach another client."""

    team: Team
    owner: SignedIn
    ids: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def secret(self, label: str) -> str:
        value = f"VICTIM{label.upper()}{uuid.uuid4().hex[:12]}"
        self.secrets.append(value)
        return value

    def leaks(self, received: list[str]) -> list[str]:
        """The secrets found in what a client received."""
        text = "\n".join(received).lower()
        return [s for s in self.secrets if s.lower() in text]


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    from galaxyco_ui.galaxyco_ui import app

    hub = Hub(app)
    # ``states.live.client_connected`` asks the app's event namespace who is connected.
    monkeypatch.setattr(app, "_event_namespace", hub.wire)
    await hub.start()
    yield hub
    await hub.stop()


@pytest.fixture
async def victim(ingested: Callable[[str], Awaitable[KnowledgeItem]]) -> Victim:
    """Agent, finished run (tool arguments and results), live run with events on the bus,
    collection, indexed item, schedule, provider key, API key, pending invitation, named members."""
    team = make_team("placeholder")
    owner_user = _user(team.owner.user_id)
    v = Victim(team=team, owner=sign_in_as(owner_user))
    from galaxyco_ui.models import Workspace

    set_columns(Workspace, team.workspace_id, name=f"{BAIT} {v.secret('workspace')}")
    for ctx in (team.owner, team.admin, team.member, team.viewer):
        set_columns(
            User,
            ctx.user_id,
            name=f"{BAIT} {v.secret('name')}",
            email=f"{v.secret('email').lower()}@example.com",
        )
    owner = team.owner
    agent = make_agent(
        owner,
        name=f"{BAIT} {v.secret('agentname')}",
        description=f"{BAIT} {v.secret('agentdesc')}",
        instructions=f"{BAIT} {v.secret('instructions')}",
    )
    # A second version, so that the History tab has two to compare and one to restore.
    agents.update_agent(
        ctx=owner,
        agent_id=agent.id,
        data=agent_data(
            name=agent.name, description=agent.description, instructions=f"{BAIT} {v.secret('instructions2')}"
        ),
    )
    v.ids |= {"agent": agent.id, "workspace": team.workspace_id, "member": membership_id(team.member)}
    v.ids["member_user"] = team.member.user_id
    v.ids["session"] = v.owner.auth.session_id

    snapshot = {"name": agent.name, "model": agent.model, "provider": agent.provider}
    with session_scope() as session:
        done = Run(
            workspace_id=team.workspace_id,
            created_by=owner.user_id,
            agent_id=agent.id,
            status="succeeded",
            input=f"{BAIT} {v.secret('runinput')}",
            output=f"{BAIT} {v.secret('runoutput')}",
            agent_snapshot=snapshot,
            started_at=utcnow(),
            finished_at=utcnow(),
        )
        live = Run(
            workspace_id=team.workspace_id,
            created_by=owner.user_id,
            agent_id=agent.id,
            status="running",
            input=f"{BAIT} {v.secret('liveinput')}",
            agent_snapshot=snapshot,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
        )
        session.add_all([done, live])
        session.flush()
        call = {"id": "call-1", "name": "http_request", "arguments": {"url": v.secret("toolarg")}}
        session.add_all(
            [
                RunStep(workspace_id=team.workspace_id, run_id=done.id, position=0, kind="model",
                        content=v.secret("steptext")),
                RunStep(workspace_id=team.workspace_id, run_id=done.id, position=1, kind="tool_call", data=call),
                RunStep(workspace_id=team.workspace_id, run_id=done.id, position=2, kind="tool_result",
                        content=v.secret("toolresult"), data={"id": "call-1"}),
            ]
        )  # fmt: skip
        v.ids |= {"run": done.id, "live_run": live.id}
        waiting = Run(
            workspace_id=team.workspace_id,
            created_by=owner.user_id,
            agent_id=agent.id,
            status="waiting_approval",
            input=f"{BAIT} {v.secret('waitinput')}",
            agent_snapshot=snapshot,
            started_at=utcnow(),
        )
        session.add(waiting)
        session.flush()
        approval = ToolApproval(
            workspace_id=team.workspace_id,
            run_id=waiting.id,
            agent_id=agent.id,
            tool_call_id="0:call-9",
            tool_name="http_request",
            arguments={"url": v.secret("approvalarg")},
            expires_at=utcnow() + timedelta(hours=1),
        )
        session.add(approval)
        session.flush()
        v.ids |= {"approval": approval.id, "waiting_run": waiting.id}
    bus = get_event_bus()
    stream = run_stream(v.ids["live_run"])
    await bus.publish(stream, "status", {"status": "running"})
    await bus.publish(stream, "text", {"step": 0, "delta": f"{BAIT} {v.secret('livetext')}"})
    await bus.publish(
        stream,
        "tool_call",
        {"step": 1, "id": "call-2", "name": "http_request", "arguments": {"url": v.secret("livearg")}},
    )
    await bus.publish(
        stream,
        "tool_result",
        {"step": 1, "id": "call-2", "name": "http_request", "content": v.secret("liveresult")},
    )
    await bus.publish(
        workspace_stream(team.workspace_id), "run", {"run_id": v.ids["live_run"], "status": "running"}
    )

    collection = knowledge.create_collection(
        ctx=owner, data={"name": f"{BAIT} {v.secret('collection')}", "description": v.secret("colldesc")}
    )
    body = f"{BAIT} briefing. The launch code is {v.secret('chunk')} and nothing else.\n".encode()
    outcome = await knowledge.upload_item(
        ctx=owner,
        collection_id=collection.id,
        filename=f"{BAIT}-{v.secret('itemname')}.txt",
        source=io.BytesIO(body),
    )
    item = await ingested(outcome.item.id)
    assert item.chunk_count >= 1, item.error
    v.ids |= {"collection": collection.id, "item": item.id}

    schedule = schedules.create_schedule(
        ctx=owner,
        agent_id=agent.id,
        cron="0 9 * * 1",
        timezone="UTC",
        input=f"{BAIT} {v.secret('scheduleinput')}",
        enabled=True,
    )
    v.ids["schedule"] = schedule.id
    provider_keys.set_provider_key(ctx=owner, provider="openai", api_key=f"sk-{v.secret('apikey')}")
    api_key, api_secret = api_keys.create_api_key(
        ctx=owner, name=f"{BAIT} {v.secret('apikeyname')}", role="admin"
    )
    v.ids["api_key"] = api_key.id
    v.secrets += [api_secret, api_key.prefix]
    hook = agent_hooks.enable_hook(
        ctx=owner, agent_id=agent.id, input_template=f"{v.secret('hooktemplate')} {{{{ body }}}}"
    )
    v.secrets.append(hook.token)  # the trigger URL's credential
    webhook_secret = f"whsec_{v.secret('webhooksecret')}"
    with session_scope() as session:
        endpoint = WebhookEndpoint(
            workspace_id=team.workspace_id,
            created_by=owner.user_id,
            url=f"https://{v.secret('webhookhost').lower()}.example.com/hook",
            description=f"{BAIT} {v.secret('webhookdesc')}",
            events=["run.succeeded"],
            secret_encrypted=crypto.encrypt(webhook_secret, purpose=SECRET_PURPOSE),
        )
        session.add(endpoint)
        session.flush()
        session.add(
            WebhookDelivery(
                workspace_id=team.workspace_id,
                endpoint_id=endpoint.id,
                event_type="run.succeeded",
                payload={"type": "run.succeeded", "data": {"note": v.secret("webhookpayload")}},
                status="failed",
                attempts=1,
                last_response_snippet=v.secret("webhooksnippet"),
            )
        )
    v.ids["webhook_endpoint"] = endpoint.id
    mcp_token = v.secret("mcptoken")
    with session_scope() as session:
        server = McpServer(
            workspace_id=team.workspace_id,
            created_by=owner.user_id,
            name=f"{BAIT} {v.secret('mcpname')}",
            url=f"https://{v.secret('mcphost').lower()}.example.com/mcp",
            headers_encrypted=crypto.encrypt(
                json.dumps({"Authorization": f"Bearer {mcp_token}"}), purpose=MCP_HEADERS_PURPOSE
            ),
            tools=[{"name": v.secret("mcptool"), "description": v.secret("mcpdesc"), "input_schema": {}}],
            last_error=v.secret("mcperror"),
        )
        session.add(server)
    v.ids["mcp_server"] = server.id
    v.secrets.append(webhook_secret)
    invite = invitations.invite_member(
        ctx=owner, email=f"{v.secret('invitee').lower()}@example.com", role="member"
    )
    v.ids["invitation"] = invite.invitation.id
    v.secrets.append(invite.invitation.link.rsplit("/", 1)[-1])  # the invitation's token
    with session_scope() as session:
        note = notifications.record(
            session,
            workspace_id=team.workspace_id,
            kind="schedule_failed",
            title=f"{BAIT} {v.secret('notificationtitle')}",
            body=f"{BAIT} {v.secret('notificationbody')}",
            link=f"/runs/{v.ids['run']}",
            roles=["owner", "admin", "member", "viewer"],
        )
    assert note.in_app
    with session_scope() as session:
        v.ids["notification"] = session.exec(
            select(Notification.id).where(Notification.user_id == team.owner.user_id)
        ).one()
    return v


@pytest.fixture
def outsider() -> SignedIn:
    """Signed in as the owner of another workspace (their own, created at sign-up)."""
    return sign_in_as(make_user(name=f"{BAIT} Outsider"))


def _user(user_id: str) -> User:
    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user
