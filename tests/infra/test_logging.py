from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.logging import (
    JsonFormatter,
    RequestContextMiddleware,
    bind_log_context,
    configure_logging,
    get_log_context,
    log_context,
)


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """configure_logging() for one test, restoring the root logger afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging()
    capsys.readouterr()
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]


def test_lines_are_json_with_the_context_ids(json_logs: pytest.CaptureFixture[str]) -> None:
    with log_context(request_id="req-1", workspace_id=7):
        logging.getLogger("galaxyco.test").info("hello %s", "world", extra={"agent_id": 3})
    (line,) = _lines(json_logs)
    assert line["msg"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "galaxyco.test"
    assert line["ts"].endswith("+00:00")
    assert line["request_id"] == "req-1"
    assert line["workspace_id"] == "7"
    assert line["user_id"] is None
    assert line["agent_id"] == 3


def test_secret_extras_are_redacted(json_logs: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("galaxyco.test").warning(
        "login",
        extra={
            "password": "hunter2-secret",
            "api_key": "sk-live-123",
            "Authorization": "Bearer abc.def",
            "payload": {"session_token": "tok-999", "input_tokens": 12},
            "cookie": "sid=xyz",
        },
    )
    raw = json_logs.readouterr().err
    for secret in ("hunter2-secret", "sk-live-123", "Bearer abc.def", "tok-999", "sid=xyz"):
        assert secret not in raw
    line = json.loads(raw.splitlines()[-1])
    assert line["password"] == "[redacted]"
    assert line["payload"] == {"session_token": "[redacted]", "input_tokens": 12}


def test_exceptions_are_included(json_logs: pytest.CaptureFixture[str]) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("galaxyco.test").exception("failed")
    (line,) = _lines(json_logs)
    assert "RuntimeError: boom" in line["exc"]


def test_configure_logging_is_idempotent_and_reads_the_level(
    json_logs: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")
    reset_settings()
    configure_logging()
    root = logging.getLogger()
    assert root.level == logging.WARNING
    assert sum(isinstance(h.formatter, JsonFormatter) for h in root.handlers) == 1
    logging.getLogger("galaxyco.test").info("hidden")
    assert _lines(json_logs) == []


def test_log_context_restores_and_bind_sets() -> None:
    bind_log_context(user_id=1)
    with log_context(user_id=2, workspace_id="w"):
        assert get_log_context()["user_id"] == "2"
    assert get_log_context() == {"request_id": None, "workspace_id": None, "user_id": "1", "trace_id": None}
    bind_log_context(user_id=None)
    with pytest.raises(TypeError):
        bind_log_context(email="a@b.c")


def _app() -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(get_log_context()["request_id"] or "")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(get_log_context()["request_id"]))
        await websocket.close()

    app = Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", echo)])
    app.add_middleware(RequestContextMiddleware)
    return app


def test_middleware_assigns_a_request_id_and_logs_the_request(json_logs: pytest.CaptureFixture[str]) -> None:
    with TestClient(_app()) as client:
        response = client.get("/hello?token=abc")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert response.text == request_id
    request_line = next(line for line in _lines(json_logs) if line["logger"] == "galaxyco.request")
    assert request_line["request_id"] == request_id
    assert request_line["method"] == "GET"
    assert request_line["path"] == "/hello"
    assert request_line["status"] == 200
    assert isinstance(request_line["duration_ms"], float)
    assert "abc" not in json.dumps(request_line)


def test_middleware_honours_a_safe_incoming_request_id() -> None:
    with TestClient(_app()) as client:
        assert client.get("/hello", headers={"X-Request-ID": "edge-123.a_b"}).headers["X-Request-ID"] == (
            "edge-123.a_b"
        )
        unsafe = client.get("/hello", headers={"X-Request-ID": "bad id<script>"}).headers["X-Request-ID"]
        assert unsafe != "bad id<script>" and len(unsafe) == 32
        too_long = client.get("/hello", headers={"X-Request-ID": "a" * 65}).headers["X-Request-ID"]
        assert too_long != "a" * 65


def test_middleware_passes_websockets_through() -> None:
    with TestClient(_app()) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "None"


# ---------------------------------------------------------------- what counts as a secret

SECRET_FIELD_NAMES = [
    "session_token",
    "access_token",
    "refresh_token",
    "id_token",
    "reset_token",
    "accessToken",
    "ticket",
    "login_ticket",
    "code",
    "otp",
    "totp",
    "totp_code",
    "totpCode",
    "recovery_code",
    "x-api-key",
    "X-Api-Key",
    "set-cookie",
    "Set-Cookie",
    "password_error_code",
]


@pytest.mark.parametrize("name", SECRET_FIELD_NAMES)
def test_ticket_code_and_token_like_fields_are_redacted(
    json_logs: pytest.CaptureFixture[str], name: str
) -> None:
    value = f"s3cr3t-{uuid.uuid4().hex}"
    logging.getLogger("galaxyco.test").info("sign-in step", extra={name: value, "nested": {name: value}})
    raw = json_logs.readouterr().err
    assert value not in raw
    line = json.loads(raw.splitlines()[-1])
    assert line[name] == "[redacted]"
    assert line["nested"] == {name: "[redacted]"}


def test_status_codes_and_token_counts_are_still_logged(json_logs: pytest.CaptureFixture[str]) -> None:
    fields = {"status_code": 502, "error_code": "E42", "exit_code": 1, "input_tokens": 12, "max_tokens": 800}
    logging.getLogger("galaxyco.test").info("provider call", extra={"call": fields})
    (line,) = _lines(json_logs)
    assert line["call"] == fields


def test_secret_query_values_in_urls_are_redacted_everywhere_in_a_line(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    ticket, token, code = (f"{kind}-{uuid.uuid4().hex}" for kind in ("ticket", "token", "code"))
    log = logging.getLogger("galaxyco.test")
    log.info(
        "redirecting to %s",
        f"/api/auth/session?ticket={ticket}&next=/agents",
        extra={
            "link": f"https://app.example/reset-password?token={token}",
            "callbacks": [f"https://app.example/api/auth/oauth/google/callback?state=s1&code={code}"],
        },
    )
    try:
        raise RuntimeError(f"identity provider refused https://idp.example/token?code={code}")
    except RuntimeError:
        log.exception("callback failed")
    raw = json_logs.readouterr().err
    for secret in (ticket, token, code):
        assert secret not in raw
    first, second = (json.loads(line) for line in raw.splitlines() if line.startswith("{"))
    assert first["msg"] == "redirecting to /api/auth/session?ticket=[redacted]&next=/agents"
    assert first["link"] == "https://app.example/reset-password?token=[redacted]"
    assert first["callbacks"] == [
        "https://app.example/api/auth/oauth/google/callback?state=s1&code=[redacted]"
    ]
    assert "https://idp.example/token?code=[redacted]" in second["exc"]
