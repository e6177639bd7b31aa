"""``/metrics``: off without a token, bearer-protected, the queue gauges, route templates, websockets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from galaxyco_ui.api import create_api
from galaxyco_ui.api.http_metrics import HttpMetricsMiddleware
from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra import metrics
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Agent, Run, utcnow
from galaxyco_ui.runs import store
from tests.factories import Team, insert_agent

TOKEN = "scrape-token-0123456789"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    reset_settings()
    with TestClient(create_api()) as test_client:
        yield test_client
    reset_settings()


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _insert_run(workspace_id: str, created_by: str, *, status: str, age: timedelta) -> str:
    agent_id = insert_agent(workspace_id, created_by=created_by)
    with session_scope() as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        run = Run(
            workspace_id=workspace_id,
            created_by=created_by,
            agent_id=agent_id,
            status=status,
            input="2 + 2?",
            agent_snapshot=store.agent_snapshot(agent),
            created_at=utcnow() - age,
        )
        session.add(run)
        session.flush()
        return run.id


def test_metrics_are_off_when_no_token_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    reset_settings()
    with TestClient(create_api()) as client:
        response = client.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404
    assert "galaxyco_" not in response.text


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
    ],
)
def test_a_missing_or_wrong_bearer_token_is_refused(client: TestClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "galaxyco_" not in response.text


def test_the_right_token_gets_the_text_exposition(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "galaxyco_runs_started",
        "galaxyco_runs_finished",
        "galaxyco_run_duration_seconds",
        "galaxyco_time_to_first_token_seconds",
        "galaxyco_tokens",
        "galaxyco_cost_usd",
        "galaxyco_provider_errors",
        "galaxyco_ingest_items",
        "galaxyco_ingest_pages",
        "galaxyco_websocket_clients",
        "galaxyco_http_request_duration_seconds",
        "galaxyco_queue_depth",
        "galaxyco_queue_oldest_age_seconds",
        "galaxyco_queue_in_progress",
    } <= names


def test_queue_gauges_count_waiting_runs_and_the_age_of_the_oldest(
    client: TestClient, team: Team, other_team: Team
) -> None:
    empty = scrape(client)
    assert empty[("galaxyco_queue_depth", (("queue", "runs"),))] == 0
    assert empty[("galaxyco_queue_oldest_age_seconds", (("queue", "runs"),))] == 0

    _insert_run(team.workspace_id, team.owner.user_id, status="queued", age=timedelta(seconds=90))
    _insert_run(other_team.workspace_id, other_team.owner.user_id, status="queued", age=timedelta(seconds=5))
    _insert_run(team.workspace_id, team.owner.user_id, status="running", age=timedelta(seconds=600))
    _insert_run(team.workspace_id, team.owner.user_id, status="succeeded", age=timedelta(days=3))
    samples = scrape(client)

    assert samples[("galaxyco_queue_depth", (("queue", "runs"),))] == 2  # every workspace
    assert samples[("galaxyco_queue_in_progress", (("queue", "runs"),))] == 1
    assert 90 <= samples[("galaxyco_queue_oldest_age_seconds", (("queue", "runs"),))] < 150
    assert samples[("galaxyco_queue_depth", (("queue", "ingestion"),))] == 0


def test_http_latency_is_labelled_with_the_route_template_not_the_raw_path(
    client: TestClient, team: Team
) -> None:
    run_id = _insert_run(team.workspace_id, team.owner.user_id, status="succeeded", age=timedelta(0))
    before = scrape(client)
    key = (
        "galaxyco_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/runs/{run_id}"), ("status_class", "4xx")),
    )

    assert client.get(f"/api/v1/runs/{run_id}").status_code == 401  # no API key
    client.request("BREW", f"/api/v1/runs/{run_id}")
    client.get(f"/no/such/page/{run_id}")
    samples = scrape(client)

    assert samples[key] == before.get(key, 0) + 1
    routes = {dict(labels).get("route") for name, labels in samples if "http_request" in name}
    assert run_id not in "".join(str(route) for route in routes)
    methods = {dict(labels).get("method") for name, labels in samples if "http_request" in name}
    assert "BREW" not in methods and "other" in methods


def test_no_tenant_id_appears_in_any_label(client: TestClient, team: Team) -> None:
    run_id = _insert_run(team.workspace_id, team.owner.user_id, status="queued", age=timedelta(0))
    client.get(f"/api/v1/runs/{run_id}")
    client.get(f"/api/v1/agents/{team.workspace_id}")
    ids = {team.workspace_id, run_id, team.owner.user_id, team.member.user_id}

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            for value in sample.labels.values():
                assert not any(tenant_id in value for tenant_id in ids), (sample.name, sample.labels)


def test_websocket_clients_are_counted_while_connected() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        assert (await websocket.receive())["type"] == "websocket.disconnect"

    async def refuse(websocket: WebSocket) -> None:
        await websocket.close()

    app = HttpMetricsMiddleware(
        Starlette(routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/no", refuse)])
    )
    gauge = metrics.REGISTRY.get_sample_value
    start = gauge("galaxyco_websocket_clients") or 0

    with TestClient(app) as client:
        with client.websocket_connect("/ws") as first, client.websocket_connect("/ws") as second:
            first.send_text("hi")
            second.send_text("hi")
            assert first.receive_text() == second.receive_text() == "hi"
            assert gauge("galaxyco_websocket_clients") == start + 2
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/no"):  # refused: never counted
            pass
    assert gauge("galaxyco_websocket_clients") == start


def test_the_browsers_reflex_websocket_is_counted_while_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("__REFLEX_SKIP_COMPILE", "true")  # never rewrite the shared .web from a test
    from galaxyco_ui.galaxyco_ui import app

    client = TestClient(app())  # the whole backend: our routes with Reflex's app mounted inside
    gauge = metrics.REGISTRY.get_sample_value
    start = gauge("galaxyco_websocket_clients") or 0
    upgrade = {"upgrade": "websocket", "connection": "Upgrade", "origin": "http://localhost:3000"}

    with client.websocket_connect("/_event/?EIO=4&transport=websocket", headers=upgrade) as socket:
        assert socket.receive_text().startswith("0{")  # Engine.IO's open packet
        assert gauge("galaxyco_websocket_clients") == start + 1
    assert gauge("galaxyco_websocket_clients") == start
