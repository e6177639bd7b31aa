"""Sign-in through OpenID Connect, end to end over HTTP.

The "browser" is an httpx client that follows redirects and keeps cookies; the app
(``create_api()``) is reached over ASGI at http://testserver, and the app talks to a
real OIDC provider (``tests/oauth_provider.py``) over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from sqlmodel import col, select

from galaxyco_ui.api.cookies import SESSION_COOKIE
from galaxyco_ui.auth import oauth
from galaxyco_ui.auth.oauth import Identity, normalized_identity
from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import AuthenticationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import OAuthAccount, User, UserSession, Workspace, WorkspaceMember
from galaxyco_ui.services import accounts, profile
from tests.api.conftest import APP_URL, OIDC_NAME, new_browser
from tests.factories import make_user, set_columns
from tests.oauth_provider import OIDCProvider
from tests.smtp_server import Inbox

START = f"{APP_URL}/api/auth/oauth/oidc/start"
CALLBACK_PATH = "/api/auth/oauth/oidc/callback"
UNVERIFIED = "Your identity provider did not confirm a verified email address, so we cannot sign you in."


# ---------------------------------------------------------------- helpers


def query(url: httpx.URL | str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(url)).query).items()}


def login_error(response: httpx.Response) -> str | None:
    """The message the flow ended on, if it ended on ``/login?error=``."""
    if response.url.path != "/login":
        return None
    return query(response.url).get("error")


def hops(response: httpx.Response) -> list[str]:
    return [f"{r.url.host}{r.url.path}" for r in [*response.history, response]]


async def sign_in(browser: httpx.AsyncClient, next_url: str | None = None) -> httpx.Response:
    """Click "Sign in with Acme SSO" and follow every redirect to the end."""
    return await browser.get(START, params={"next": next_url} if next_url else None)


def session_user(browser: httpx.AsyncClient) -> accounts.AuthSession:
    token = browser.cookies.get(SESSION_COOKIE, domain="testserver.local") or browser.cookies.get(
        SESSION_COOKIE
    )
    assert token, "no session cookie"
    auth = accounts.resolve_session(token=token)
    assert auth is not None
    return auth


def users(email: str) -> list[User]:
    with session_scope() as session:
        return list(session.exec(select(User).where(User.email == email)).all())


def links(user_id: str | None = None) -> list[OAuthAccount]:
    with session_scope() as session:
        stmt = select(OAuthAccount)
        if user_id:
            stmt = stmt.where(OAuthAccount.user_id == user_id)
        return list(session.exec(stmt).all())


def workspaces_of(user_id: str) -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.exec(
            select(Workspace.name, WorkspaceMember.role)
            .join(WorkspaceMember, col(WorkspaceMember.workspace_id) == col(Workspace.id))
            .where(WorkspaceMember.user_id == user_id)
        ).all()
        return [(name, role) for name, role in rows]


def wait_for_mail(inbox: Inbox, timeout: float = 5.0) -> None:
    """The app mails from a background thread: give it a moment."""
    deadline = time.monotonic() + timeout
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.02)


def verified_user(**kwargs: Any) -> User:
    user = make_user(**kwargs)
    set_columns(User, user.id, email_verified=True)
    return user


def set_cookie_header(response: httpx.Response, path: str) -> str:
    hop = next(r for r in [*response.history, response] if r.url.path == path)
    return "; ".join(v for k, v in hop.headers.multi_items() if k.lower() == "set-cookie")


# ---------------------------------------------------------------- the happy paths


async def test_new_verified_email_creates_a_user_and_a_personal_workspace(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    response = await sign_in(browser, "/agents/new")

    assert hops(response) == [
        "testserver/api/auth/oauth/oidc/start",
        "127.0.0.1/authorize",
        f"testserver{CALLBACK_PATH}",
        "testserver/api/auth/session",
        "testserver/agents/new",
    ]
    assert [r.status_code for r in response.history] == [302, 302, 303, 303]
    cookie = set_cookie_header(response, "/api/auth/session")
    assert f"{SESSION_COOKIE}=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()

    auth = session_user(browser)
    assert auth.email == "ada@example.com"
    assert auth.name == "Ada Lovelace"
    [user] = users("ada@example.com")
    assert user.email_verified is True
    assert user.password_hash is None
    assert workspaces_of(user.id) == [("Ada's workspace", "owner")]
    [link] = links(user.id)
    assert (link.provider, link.subject, link.email) == ("oidc", "oidc-user-1", "ada@example.com")
    with session_scope() as session:
        [row] = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
        assert row.method == "oidc"


async def test_the_flow_uses_pkce_state_and_nonce_and_drops_the_flow_cookie(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    response = await sign_in(browser)

    [authorize] = oidc.authorize_requests
    assert authorize["response_type"] == "code"
    assert authorize["code_challenge_method"] == "S256"
    assert len(authorize["code_challenge"]) == 43
    assert authorize["state"] and authorize["nonce"]
    assert set(authorize["scope"].split()) == {"openid", "email", "profile"}
    assert authorize["redirect_uri"] == f"{APP_URL}{CALLBACK_PATH}"
    [token] = oidc.token_requests
    assert token["grant_type"] == "authorization_code"
    assert len(token["code_verifier"]) >= 43
    assert "client_secret" not in token  # sent with HTTP Basic

    start_cookie = set_cookie_header(response, "/api/auth/oauth/oidc/start")
    assert start_cookie.startswith("galaxyco_oauth_oidc=")
    assert "httponly" in start_cookie.lower()
    assert "path=/api/auth/oauth/oidc/" in start_cookie.lower()
    assert authorize["code_challenge"] not in start_cookie  # encrypted, not readable
    assert oauth.flow_cookie_name("oidc") not in {c.name for c in browser.cookies.jar}
    assert response.url.path == "/agents"


async def test_an_existing_verified_password_account_is_linked_not_duplicated(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    existing = verified_user(email="ada@example.com", name="Ada")

    await sign_in(browser)

    assert session_user(browser).user_id == existing.id
    assert len(users("ada@example.com")) == 1
    [link] = links()
    assert link.user_id == existing.id
    assert workspaces_of(existing.id) == [("Ada's workspace", "owner")]  # no second workspace

    # Later the person changes their email at the provider: the subject still signs them in.
    oidc.user.email = "ada@newmail.example"
    async with new_browser() as second:
        response = await sign_in(second)
        assert login_error(response) is None
        assert session_user(second).user_id == existing.id
    assert users("ada@newmail.example") == []
    assert len(links()) == 1


async def test_same_subject_signs_into_the_same_user_even_if_unverified_now(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    await sign_in(browser)
    first = session_user(browser).user_id

    oidc.user.email_verified = False
    async with new_browser() as second:
        await sign_in(second)
        assert session_user(second).user_id == first
    with session_scope() as session:
        assert len(session.exec(select(User)).all()) == 1


async def test_email_only_in_userinfo_is_fetched_from_the_userinfo_endpoint(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    oidc.email_in_id_token = False

    response = await sign_in(browser)

    assert login_error(response) is None
    assert session_user(browser).email == "ada@example.com"


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/agents/abc?tab=runs", "/agents/abc"),
        ("//evil.example/x", "/agents"),
        ("https://evil.example", "/agents"),
    ],
)
async def test_next_is_followed_only_when_it_is_a_local_path(
    browser: httpx.AsyncClient, oidc: OIDCProvider, next_url: str, landing: str
) -> None:
    response = await sign_in(browser, next_url)

    assert response.url.host == "testserver"
    assert response.url.path == landing


async def test_linking_a_verified_account_tells_the_user_on_the_page_and_by_email(
    browser: httpx.AsyncClient, oidc: OIDCProvider, inbox: Inbox
) -> None:
    existing = verified_user(email="ada@example.com", name="Ada")

    response = await sign_in(browser, "/agents/new")

    # The sign-in page gets the word (and then opens ``next``); the session is live.
    assert response.url.path == "/login"
    assert query(response.url) == {"next": "/agents/new", "linked": "oidc"}
    assert session_user(browser).user_id == existing.id
    await asyncio.to_thread(wait_for_mail, inbox)
    [(recipients, message)] = inbox.messages
    assert recipients == ["ada@example.com"]
    assert message["Subject"] == f"{OIDC_NAME} can now sign in to your GalaxyCo account"
    assert "If this was not you" in message.get_body(("plain",)).get_content()

    # The next sign-in with the same identity is no news.
    async with new_browser() as second:
        again = await sign_in(second)
    assert again.url.path == "/agents"
    assert len(inbox.messages) == 1


async def test_a_user_with_two_factor_on_must_pass_it_after_oauth(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    user = verified_user(email="ada@example.com", name="Ada")
    secret, _ = profile.start_totp_setup(user_id=user.id)
    profile.confirm_totp_setup(user_id=user.id, code=pyotp.TOTP(secret).at(time.time() - 30))

    response = await sign_in(browser, "/agents/new")

    token = browser.cookies.get(SESSION_COOKIE)
    assert token, "the pending session's cookie is set"
    assert accounts.resolve_session(token=token) is None, "a pending session must open nothing"
    assert response.url.path == "/login"  # the code step, then /agents/new
    assert query(response.url)["next"] == "/agents/new"
    with session_scope() as session:
        [row] = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
        assert row.mfa_pending is True

    with pytest.raises(AuthenticationError):
        accounts.complete_second_factor(token=token, code="12345-abcde")
    assert accounts.resolve_session(token=token) is None
    accounts.complete_second_factor(token=token, code=pyotp.TOTP(secret).now())
    assert session_user(browser).user_id == user.id


# ---------------------------------------------------------------- refusals


async def test_an_unverified_password_account_with_the_same_email_is_refused_and_nothing_is_created(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    """Pre-hijack: someone signed up with Ada's address first; Ada's SSO must not join it."""
    squatter = make_user(email="ada@example.com", name="Not Ada")
    with session_scope() as session:
        sessions_before = len(session.exec(select(UserSession)).all())

    response = await sign_in(browser)

    message = login_error(response)
    assert message is not None
    assert "ada@example.com already exists, but its email address has not been verified" in message
    assert "reset its password with “Forgot password?”" in message
    assert SESSION_COOKIE not in browser.cookies
    assert links() == []
    assert [u.id for u in users("ada@example.com")] == [squatter.id]
    with session_scope() as session:
        assert len(session.exec(select(UserSession)).all()) == sessions_before
        assert len(session.exec(select(User)).all()) == 1


async def test_unverified_email_for_an_unknown_subject_is_refused(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    make_user(email="ada@example.com")
    oidc.user.email_verified = False

    response = await sign_in(browser)

    assert login_error(response) == UNVERIFIED
    assert SESSION_COOKIE not in browser.cookies
    assert links() == []
    assert len(users("ada@example.com")) == 1


async def test_a_tampered_state_is_refused(browser: httpx.AsyncClient, oidc: OIDCProvider) -> None:
    browser.follow_redirects = False
    start = await browser.get(START)
    assert start.status_code == 302
    at_provider = await browser.get(start.headers["location"])
    assert at_provider.status_code == 302
    callback = httpx.URL(at_provider.headers["location"])
    params = query(callback)
    assert callback.path == CALLBACK_PATH and params["code"]

    tampered = callback.copy_merge_params({"state": params["state"][:-2] + "xx"})
    response = await browser.get(tampered)

    assert response.status_code == 303
    assert login_error_from_location(response) == oauth.EXPIRED
    assert oidc.token_requests == []  # the code was never redeemed
    assert links() == []


async def test_a_callback_from_another_browser_is_refused(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    """Login CSRF: a victim opening the attacker's callback URL has no matching flow cookie."""
    browser.follow_redirects = False
    start = await browser.get(START)
    at_provider = await browser.get(start.headers["location"])

    async with new_browser() as victim:
        victim.follow_redirects = False
        response = await victim.get(at_provider.headers["location"])

    assert login_error_from_location(response) == oauth.EXPIRED
    assert SESSION_COOKIE not in victim.cookies
    assert links() == []


def login_error_from_location(response: httpx.Response) -> str | None:
    location = httpx.URL(response.headers["location"])
    assert location.path == "/login"
    return query(location).get("error")


async def test_the_user_cancelling_at_the_provider_shows_a_clear_message(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    oidc.deny = True

    response = await sign_in(browser)

    assert [r.status_code for r in response.history] == [302, 302, 303]
    assert query(response.history[1].headers["location"])["error"] == "access_denied"
    assert login_error(response) == f"You cancelled signing in with {OIDC_NAME}."
    assert SESSION_COOKIE not in browser.cookies


async def test_other_provider_errors_show_a_generic_message(
    browser: httpx.AsyncClient, oidc: OIDCProvider
) -> None:
    response = await browser.get(
        f"{APP_URL}{CALLBACK_PATH}", params={"error": "server_error", "error_description": "Call +1 555 now"}
    )

    assert login_error(response) == f"{OIDC_NAME} could not sign you in. Please try again."


@pytest.mark.parametrize(
    ("tamper", "cause"),
    [
        ({"id_token_overrides": {"aud": "another-client"}}, "'aud'"),
        ({"id_token_overrides": {"aud": "another-client", "azp": "galaxyco-test-client"}}, "'aud'"),
        ({"id_token_overrides": {"iss": "http://127.0.0.1:1"}}, "'iss'"),
        ({"id_token_overrides": {"nonce": "replayed-nonce"}}, "'nonce'"),
        ({"id_token_overrides": {"exp": 1_000_000_000}}, "ExpiredTokenError"),
        ({"sign_with_foreign_key": True}, "BadSignatureError"),
    ],
    ids=["audience", "audience-with-azp", "issuer", "nonce", "expired", "signature"],
)
async def test_an_invalid_id_token_is_refused(
    browser: httpx.AsyncClient,
    oidc: OIDCProvider,
    tamper: dict[str, object],
    cause: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in tamper.items():
        setattr(oidc, name, value)

    with caplog.at_level(logging.WARNING, logger="galaxyco_ui.auth.oauth"):
        response = await sign_in(browser)

    [record] = [r for r in caplog.records if r.getMessage() == "oauth sign-in failed"]
    assert record.reason == "id_token"
    assert cause in record.error
    assert login_error(response) == f"We could not verify your identity with {OIDC_NAME}. Please try again."
    assert links() == []
    assert SESSION_COOKIE not in browser.cookies


async def test_an_unreachable_provider_shows_a_clear_message(
    browser: httpx.AsyncClient, oidc: OIDCProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OIDC_ISSUER", f"http://127.0.0.1:{port}")
    reset_settings()

    response = await sign_in(browser)

    assert login_error(response) == f"We could not reach {OIDC_NAME}. Please try again in a moment."


@pytest.mark.parametrize(
    "path", ["/api/auth/oauth/google/start", "/api/auth/oauth/github/callback?code=x&state=y"]
)
async def test_an_unconfigured_provider_is_not_found(browser: httpx.AsyncClient, path: str) -> None:
    response = await browser.get(f"{APP_URL}{path}")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.history == []


# ---------------------------------------------------------------- identity mapping


def test_github_identity_uses_the_primary_verified_email() -> None:
    user = {"id": 42, "login": "octo", "name": None, "email": "public@example.com"}
    emails = [
        {"email": "old@example.com", "primary": False, "verified": True},
        {"email": "Octo@Example.com", "primary": True, "verified": True},
    ]

    assert normalized_identity("github", user, emails) == Identity("42", "octo@example.com", True, "octo")


def test_github_identity_with_an_unverified_primary_email_is_unverified() -> None:
    emails = [{"email": "octo@example.com", "primary": True, "verified": False}]

    identity = normalized_identity("github", {"id": 7, "login": "octo", "name": "Octo Cat"}, emails)

    assert identity == Identity("7", "octo@example.com", False, "Octo Cat")
    assert (
        normalized_identity("github", {"id": 7, "login": "o", "email": "x@example.com"}).email_verified
        is False
    )


def test_oidc_identity_normalises_claims() -> None:
    claims = {
        "sub": "abc",
        "email": " Ada@Example.COM ",
        "email_verified": "true",
        "given_name": "Ada",
        "family_name": "L",
    }

    assert normalized_identity("oidc", claims) == Identity("abc", "ada@example.com", True, "Ada L")
    assert normalized_identity("google", {"sub": "1", "email": "a@b.c"}).email_verified is False
    with pytest.raises(ValueError):
        normalized_identity("oidc", {"email": "a@b.c", "email_verified": True})
