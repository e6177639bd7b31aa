"""Login CSRF and sign-out over HTTP: browser-bound tickets, POST-only logout, CORS.

Each ``TestClient`` is one browser with its own cookie jar. The sign-in handler reads
the pre-auth cookie from the websocket handshake; here the test reads it from the
browser's jar and hands it to the accounts service, exactly as the handler does.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from galaxyco_ui.api import create_api
from galaxyco_ui.api.auth_routes import _origin
from galaxyco_ui.api.cookies import BROWSER_COOKIE, BROWSER_COOKIE_TTL_SECONDS
from galaxyco_ui.auth.tokens import SESSION_COOKIE, hash_token
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent, UserSession
from galaxyco_ui.services import accounts
from tests.factories import PASSWORD, make_user

APP = "http://testserver"


@pytest.fixture
def app():  # type: ignore[no-untyped-def]
    return create_api()


def new_browser(app, client: tuple[str, int] = ("203.0.113.10", 50000)) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, base_url=APP, follow_redirects=False, client=client)


@pytest.fixture
def victim(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with new_browser(app) as browser:
        yield browser


@pytest.fixture
def attacker(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with new_browser(app, client=("198.51.100.66", 40000)) as browser:
        yield browser


def browser_cookie(browser: TestClient) -> str:
    """Give ``browser`` its pre-auth cookie the way the sign-in page does, and return it."""
    response = browser.get("/api/auth/browser", params={"next": "/login"})
    assert response.status_code == 303
    value = browser.cookies.get(BROWSER_COOKIE)
    assert value
    return value


def sign_in_ticket(browser: TestClient, email: str) -> str:
    """What the sign-in handler does for the page open in ``browser``."""
    return accounts.sign_in(email=email, password=PASSWORD, binding=browser_cookie(browser))


def exchange(browser: TestClient, ticket: str):  # type: ignore[no-untyped-def]
    return browser.get("/api/auth/session", params={"ticket": ticket, "next": "/agents"})


def error_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    return parse_qs(location.query)["error"][0]


def session_row(*, user_id: str) -> UserSession:
    with session_scope() as session:
        return session.exec(select(UserSession).where(UserSession.user_id == user_id)).one()


# ---------------------------------------------------------------- the pre-auth cookie


def test_the_browser_route_sets_an_httponly_lax_short_lived_cookie_and_goes_back(victim):
    response = victim.get("/api/auth/browser", params={"next": "/login?next=/team"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/team"
    set_cookie = response.headers["set-cookie"].lower()
    assert set_cookie.startswith(f"{BROWSER_COOKIE}=")
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "path=/" in set_cookie
    assert f"max-age={BROWSER_COOKIE_TTL_SECONDS}" in set_cookie and BROWSER_COOKIE_TTL_SECONDS <= 3600
    assert response.headers["cache-control"] == "no-store"


def test_the_browser_route_keeps_the_cookie_a_browser_already_has(victim):
    first = browser_cookie(victim)
    response = victim.get("/api/auth/browser", params={"next": "/signup"})
    assert "set-cookie" not in response.headers
    assert victim.cookies.get(BROWSER_COOKIE) == first


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/login", "/\\evil.example"])
def test_the_browser_route_never_sends_anyone_off_site(victim, target):
    response = victim.get("/api/auth/browser", params={"next": target})
    assert response.headers["location"] == "/login"


# ---------------------------------------------------------------- binding the ticket


def test_a_ticket_exchanged_in_the_browser_that_signed_in_starts_the_session(victim):
    user = make_user()
    ticket = sign_in_ticket(victim, user.email)

    response = exchange(victim, ticket)

    assert response.status_code == 303 and response.headers["location"] == "/agents"
    token = victim.cookies.get(SESSION_COOKIE)
    auth = accounts.resolve_session(token=token)
    assert auth is not None and auth.user_id == user.id
    assert session_row(user_id=user.id).binding_hash == hash_token(victim.cookies.get(BROWSER_COOKIE))


def test_an_attackers_ticket_cannot_sign_the_victims_browser_in(attacker, victim):
    mallory = make_user(email="mallory@example.com")
    ticket = sign_in_ticket(attacker, mallory.email)  # bound to the attacker's browser
    browser_cookie(victim)  # the victim has a pre-auth cookie of their own

    response = exchange(victim, ticket)  # e.g. an <img> or link on the attacker's page

    assert "another browser" in error_of(response)
    assert SESSION_COOKIE not in victim.cookies
    assert session_row(user_id=mallory.id).token_hash is None


def test_a_ticket_presented_without_any_browser_cookie_is_refused(app, attacker):
    ticket = sign_in_ticket(attacker, make_user().email)
    with new_browser(app) as fresh:
        response = exchange(fresh, ticket)
        assert "another browser" in error_of(response)
        assert SESSION_COOKIE not in fresh.cookies


def test_a_refused_ticket_is_burned_for_its_own_browser_too(attacker, victim):
    user = make_user()
    ticket = sign_in_ticket(attacker, user.email)
    browser_cookie(victim)
    error_of(exchange(victim, ticket))

    response = exchange(attacker, ticket)

    assert "expired" in error_of(response)
    assert SESSION_COOKIE not in attacker.cookies
    row = session_row(user_id=user.id)
    assert row.revoked_at is not None and row.ticket_hash is None


def test_an_unbound_ticket_is_refused_even_with_a_browser_cookie(victim):
    ticket = accounts.sign_in(email=make_user().email, password=PASSWORD)  # no binding at all
    browser_cookie(victim)
    assert "another browser" in error_of(exchange(victim, ticket))


# ---------------------------------------------------------------- sign-out


def signed_in(browser: TestClient) -> str:
    ticket = sign_in_ticket(browser, make_user().email)
    assert exchange(browser, ticket).status_code == 303
    token = browser.cookies.get(SESSION_COOKIE)
    assert accounts.resolve_session(token=token) is not None
    return token


def test_sign_out_by_get_is_refused_and_the_session_lives_on(victim):
    token = signed_in(victim)
    response = victim.get("/api/auth/logout")
    assert response.status_code == 405
    assert accounts.resolve_session(token=token) is not None


def test_sign_out_by_post_from_our_own_page_ends_the_session_and_clears_the_cookie(victim):
    token = signed_in(victim)
    response = victim.post("/api/auth/logout", headers={"Origin": _origin(get_settings().public_url)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert accounts.resolve_session(token=token) is None


def test_sign_out_accepts_the_address_the_app_is_reached_at(victim):
    token = signed_in(victim)
    assert victim.post("/api/auth/logout", headers={"Origin": APP}).status_code == 303
    assert accounts.resolve_session(token=token) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
)
def test_sign_out_from_another_site_is_refused(victim, headers):
    token = signed_in(victim)
    response = victim.post("/api/auth/logout", headers=headers)
    assert response.status_code == 403
    assert accounts.resolve_session(token=token) is not None


def test_sign_out_is_audited_with_the_client_address(victim):
    token = signed_in(victim)
    auth = accounts.resolve_session(token=token)
    victim.post("/api/auth/logout", headers={"Origin": APP})
    with session_scope() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "user.signed_out")).all()
    assert (event.workspace_id, event.created_by) == (auth.workspace_id, auth.user_id)
    assert event.meta == {"ip": "203.0.113.10"}


# ---------------------------------------------------------------- CORS


def test_cross_origin_requests_are_allowed_only_from_public_url(monkeypatch):
    import reflex.app

    import rxconfig

    config = importlib.reload(rxconfig).config
    public = _origin(get_settings().public_url)
    assert list(config.cors_allowed_origins) == [public]
    monkeypatch.setattr(reflex.app, "get_config", lambda: config)
    api = create_api()
    reflex.app.App._add_cors(api)  # what Reflex does to the api_transformer app
    preflight = {"Access-Control-Request-Method": "POST"}
    with TestClient(api, base_url=APP) as client:
        ours = client.options("/api/auth/logout", headers={"Origin": public, **preflight})
        theirs = client.options("/api/auth/logout", headers={"Origin": "https://evil.example", **preflight})
        plain = client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert ours.headers["access-control-allow-origin"] == public
    assert "access-control-allow-origin" not in theirs.headers
    assert "access-control-allow-origin" not in plain.headers
