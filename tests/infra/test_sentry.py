from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from galaxyco_ui.config import reset_settings
from galaxyco_ui.infra.sentry import (
    _before_send,
    init_sentry,
    is_sentry_active,
    reset_sentry,
    set_sentry_user,
)

# Built at run time: Sentry also sends source lines around each frame, and a literal
# there would be found by the assertions below although no variable leaked.
_RUN = uuid.uuid4().hex[:8]
PASSWORD = f"hunter2-{_RUN}"
BEARER = f"Bearer sekret-{_RUN}"
EXTRA_KEY = f"sk-extra-{_RUN}"
CRUMB_TOKEN = f"crumb-token-{_RUN}"
NESTED_PASSWORD = f"nested-pw-{_RUN}"
SECRETS = (PASSWORD, BEARER, EXTRA_KEY, CRUMB_TOKEN, NESTED_PASSWORD)


class _Ingest(ThreadingHTTPServer):
    """A stand-in Sentry ingest endpoint that keeps the envelopes it receives."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EnvelopeHandler)
        self.envelopes: list[tuple[str, bytes]] = []
        self.received = threading.Event()


class _EnvelopeHandler(BaseHTTPRequestHandler):
    server: _Ingest

    def do_POST(self) -> None:  # http.server hook name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.envelopes.append((self.path, body))
        self.server.received.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ingest(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Ingest]:
    server = _Ingest()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SENTRY_DSN", f"http://public@127.0.0.1:{server.server_address[1]}/1")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "infra-test")
    reset_settings()
    try:
        yield server
    finally:
        reset_sentry()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _fail_with_secrets_in_locals() -> None:
    password = PASSWORD  # noqa: F841 (a local variable Sentry would capture)
    headers = {"Authorization": BEARER, "Accept": "text/plain"}  # noqa: F841
    raise RuntimeError("payment provider rejected the call")


def _event_items(body: bytes) -> list[dict]:
    lines = body.split(b"\n")
    items = []
    for header, payload in zip(lines[1::2], lines[2::2], strict=False):
        if json.loads(header).get("type") == "event":
            items.append(json.loads(payload))
    return items


def test_init_does_nothing_without_a_dsn() -> None:
    assert init_sentry() is False
    assert not is_sentry_active()
    set_sentry_user(1, 2)  # a no-op, not an error


def test_captured_exception_carries_user_and_workspace_but_no_secrets(ingest: _Ingest) -> None:
    assert init_sentry() is True
    assert init_sentry() is True  # idempotent
    assert is_sentry_active()
    set_sentry_user(42, 7)
    sentry_sdk.set_extra("db_password", EXTRA_KEY)
    sentry_sdk.set_extra("provider", {"name": "openai", "settings": {"api_key": EXTRA_KEY}})
    sentry_sdk.add_breadcrumb(message="called provider", data={"auth_token": CRUMB_TOKEN})
    sentry_sdk.add_breadcrumb(message="nested", data={"form": {"new_password": NESTED_PASSWORD}})

    try:
        _fail_with_secrets_in_locals()
    except RuntimeError as exc:
        event_id = sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(timeout=5)

    assert event_id is not None
    assert ingest.received.wait(5)
    assert {path for path, _ in ingest.envelopes} == {"/api/1/envelope/"}
    ((event, body),) = [(item, body) for _, body in ingest.envelopes for item in _event_items(body)]
    assert event["user"] == {"id": "42"}
    assert event["tags"]["workspace_id"] == "7"
    assert event["environment"] == "infra-test"
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
    assert frame["function"] == "_fail_with_secrets_in_locals"
    assert "Accept" in json.dumps(frame["vars"])  # locals are sent, only secrets are removed
    raw = body.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in raw


def test_before_send_scrubs_request_cookies_headers_and_data() -> None:
    event = {
        "request": {
            "cookies": {"session": "cookie-secret"},
            "headers": {"Authorization": "Bearer h", "Cookie": "sid=c", "User-Agent": "ua"},
            "data": {"email": "a@b.c", "password": "p", "nested": {"refresh_token": "t"}},
            "query_string": "page=2&access_token=q",
        }
    }
    request = _before_send(event, {})["request"]
    assert "cookies" not in request
    assert request["headers"] == {"Authorization": "[redacted]", "Cookie": "[redacted]", "User-Agent": "ua"}
    assert request["data"] == {
        "email": "a@b.c",
        "password": "[redacted]",
        "nested": {"refresh_token": "[redacted]"},
    }
    assert "access_token=q" not in request["query_string"]
    assert "page=2" in request["query_string"]


TICKET = f"ticket-{_RUN}"
TOTP_CODE = f"{_RUN}-totp"
RECOVERY = f"rc-{_RUN}"
RESET_TOKEN = f"reset-{_RUN}"
OAUTH_CODE = f"oauthcode-{_RUN}"
API_KEY = f"xkey-{_RUN}"
ONE_TIME_SECRETS = (TICKET, TOTP_CODE, RECOVERY, RESET_TOKEN, OAUTH_CODE, API_KEY)


def test_before_send_scrubs_tickets_codes_and_token_urls_everywhere() -> None:
    event = {
        "request": {
            "url": f"http://localhost:8000/api/auth/session?ticket={TICKET}&next=/agents",
            "query_string": f"ticket={TICKET}&next=/agents",
            "headers": {"X-Api-Key": API_KEY, "Set-Cookie": f"galaxyco_session={TICKET}", "Accept": "*/*"},
            "data": {"totp_code": TOTP_CODE, "recovery_code": RECOVERY, "email": "a@b.c"},
        },
        "message": f"callback https://app.example/cb?state=s1&code={OAUTH_CODE}",
        "logentry": {
            "message": "reset link %s",
            "params": [f"https://app.example/reset?token={RESET_TOKEN}"],
        },
        "extra": {"code": TOTP_CODE, "login": {"ticket": TICKET, "otp": TOTP_CODE}},
        "breadcrumbs": {
            "values": [
                {
                    "message": f"GET /api/auth/session?ticket={TICKET}",
                    "data": {"url": f"/reset?token={RESET_TOKEN}"},
                }
            ]
        },
        "exception": {
            "values": [
                {
                    "value": f"refused https://idp.example/token?code={OAUTH_CODE}",
                    "stacktrace": {
                        "frames": [{"vars": {"ticket": TICKET, "totpCode": TOTP_CODE, "step": "2"}}]
                    },
                }
            ]
        },
    }
    scrubbed = _before_send(event, {})
    raw = json.dumps(scrubbed)
    for secret in ONE_TIME_SECRETS:
        assert secret not in raw
    request = scrubbed["request"]
    assert request["url"] == "http://localhost:8000/api/auth/session?ticket=[redacted]&next=/agents"
    assert "next=%2Fagents" in request["query_string"]
    assert request["headers"]["Accept"] == "*/*"
    assert request["data"]["email"] == "a@b.c"
    assert scrubbed["message"] == "callback https://app.example/cb?state=s1&code=[redacted]"
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["step"] == "2"


def _fail_with_one_time_secrets_in_locals() -> None:
    ticket = TICKET  # noqa: F841 (local variables Sentry would capture)
    totp_code = TOTP_CODE  # noqa: F841
    form = {"recovery_code": RECOVERY, "email": "grace@example.com"}  # noqa: F841
    link = f"https://app.example/reset-password?token={RESET_TOKEN}"  # noqa: F841
    raise RuntimeError(f"identity provider refused https://idp.example/token?code={OAUTH_CODE}")


def test_captured_exception_carries_no_ticket_code_or_token_url(ingest: _Ingest) -> None:
    assert init_sentry() is True
    sentry_sdk.add_breadcrumb(message=f"GET /api/auth/session?ticket={TICKET}&next=/agents")
    try:
        _fail_with_one_time_secrets_in_locals()
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(timeout=5)
    assert ingest.received.wait(5)
    ((event, body),) = [(item, body) for _, body in ingest.envelopes for item in _event_items(body)]
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
    assert frame["function"] == "_fail_with_one_time_secrets_in_locals"
    assert "grace@example.com" in json.dumps(frame["vars"])  # the rest of the locals is kept
    raw = body.decode("utf-8", "replace")
    for secret in ONE_TIME_SECRETS[:-1]:
        assert secret not in raw
