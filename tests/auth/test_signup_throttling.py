"""Sign-up throttling and password hashing off the event loop.

Sign-up is the most expensive thing an outsider can ask for (an argon2 hash and a
new workspace), so it is limited per client address (``SIGNUP_MAX_PER_IP_PER_HOUR``)
and for the whole install (``SIGNUP_MAX_PER_HOUR``), in Redis when ``TEST_REDIS_URL``
is set and in-process otherwise. The handler tests drive ``AuthFormState`` the way a
websocket event does, with the handshake's headers and peer address.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from reflex import constants
from reflex.istate.data import RouterData
from reflex.state import State
from sqlmodel import func, select

from galaxyco_ui.auth import passwords
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import RateLimitedError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User, UserSession, Workspace
from galaxyco_ui.services import accounts
from galaxyco_ui.states.auth import NO_BROWSER_COOKIE, AuthFormState
from tests.auth.test_throttling import FakeClock
from tests.conftest import TEST_REDIS_URL
from tests.factories import PASSWORD, make_user

LIMIT_MESSAGE = "Too many sign-ups from this address. Try again in 60 min."


def _sign_up(n: int, ip: str) -> str:
    return accounts.sign_up(email=f"person{n}@example.com", name=f"Person {n}", password=PASSWORD, ip=ip)


def _count(model) -> int:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def clock(monkeypatch):
    from galaxyco_ui.infra import ratelimit

    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


# ---------------------------------------------------------------- the service


def test_the_eleventh_sign_up_from_one_address_within_the_hour_is_refused_and_creates_nothing(clock):
    assert get_settings().signup_max_per_ip_per_hour == 10
    for n in range(10):
        assert _sign_up(n, ip="203.0.113.9")
        clock.now += 60
    users, workspaces, sessions = _count(User), _count(Workspace), _count(UserSession)

    with pytest.raises(RateLimitedError) as exc:
        _sign_up(10, ip="203.0.113.9")

    # The first sign-up was 10 minutes ago: its slot frees in 50 minutes.
    assert str(exc.value) == "Too many sign-ups from this address. Try again in 50 min."
    assert 49 * 60 < exc.value.retry_after <= 50 * 60
    assert (_count(User), _count(Workspace), _count(UserSession)) == (users, workspaces, sessions)


def test_another_address_can_still_sign_up_while_one_is_limited():
    for n in range(10):
        _sign_up(n, ip="203.0.113.9")
    with pytest.raises(RateLimitedError):
        _sign_up(10, ip="203.0.113.9")
    assert _sign_up(11, ip="198.51.100.4")


def test_an_address_may_sign_up_again_an_hour_after_its_first_sign_up(clock):
    for n in range(10):
        _sign_up(n, ip="203.0.113.9")
    clock.now += 3599
    with pytest.raises(RateLimitedError, match="Try again in 1 min"):
        _sign_up(10, ip="203.0.113.9")
    clock.now += 2
    assert _sign_up(11, ip="203.0.113.9")


def test_the_hourly_limit_for_everyone_refuses_sign_ups_from_fresh_addresses(monkeypatch):
    monkeypatch.setattr(get_settings(), "signup_max_per_hour", 3)
    for n in range(3):
        _sign_up(n, ip=f"198.51.100.{n}")
    with pytest.raises(RateLimitedError) as exc:
        _sign_up(3, ip="198.51.100.99")
    assert str(exc.value) == "Too many new accounts in the last hour. Try again in 60 min."
    assert _count(User) == 3


def test_a_refused_sign_up_never_hashes_the_password(monkeypatch):
    for n in range(10):
        _sign_up(n, ip="203.0.113.9")

    def no_hashing(password: str) -> str:
        raise AssertionError("a throttled sign-up must not reach argon2")

    monkeypatch.setattr(passwords, "hash_password", no_hashing)
    with pytest.raises(RateLimitedError):
        _sign_up(10, ip="203.0.113.9")


def test_invalid_sign_ups_do_not_use_up_the_allowance():
    for n in range(15):
        with pytest.raises(Exception, match="Use at least"):
            accounts.sign_up(email=f"p{n}@example.com", name="P", password="short", ip="203.0.113.9")
    assert _sign_up(1, ip="203.0.113.9")


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_with_redis_sign_ups_are_counted_in_redis_for_every_process():
    for n in range(10):
        _sign_up(n, ip="203.0.113.9")
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        assert client.zcard("window:signup:ip:203.0.113.9") == 10
        assert client.zcard("window:signup:all") == 10
    finally:
        client.close()


# ---------------------------------------------------------------- the Reflex handlers


BROWSER_COOKIE_HEADER = "galaxyco_browser=handler-test-browser"


async def _auth_form(
    *, peer: str = "203.0.113.9", cookie: str = BROWSER_COOKIE_HEADER, forwarded_for: str = ""
) -> AuthFormState:
    """An ``AuthFormState`` as a websocket event sees it: handshake headers and peer address."""
    headers = {"cookie": cookie, "user-agent": "pytest"}
    if forwarded_for:
        headers["x-forwarded-for"] = forwarded_for
    router_data = {
        constants.RouteVar.HEADERS: headers,
        constants.RouteVar.CLIENT_IP: peer,
        constants.RouteVar.PATH: "/signup",
    }
    root = State(_reflex_internal_init=True)  # type: ignore[call-arg]
    root.router_data = router_data
    root.router = RouterData.from_router_data(router_data)
    return await root.get_state(AuthFormState)


def _form(n: int) -> dict[str, str]:
    return {"name": f"Person {n}", "email": f"person{n}@example.com", "password": PASSWORD}


async def test_the_sign_up_form_says_so_on_the_eleventh_sign_up_from_one_address():
    state = await _auth_form()
    for n in range(10):
        result = await AuthFormState.sign_up.fn(state, _form(n))
        assert state.error == "" and result is not None  # sent on to the ticket exchange

    result = await AuthFormState.sign_up.fn(state, _form(10))

    assert result is None
    assert state.error == LIMIT_MESSAGE
    assert _count(User) == 10
    with session_scope() as session:
        assert session.exec(select(User).where(User.email == "person10@example.com")).first() is None


async def test_the_sign_up_form_counts_the_address_the_trusted_proxy_reports(monkeypatch):
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 1)
    for n in range(10):  # ten clients behind one proxy, each spoofing the same address
        state = await _auth_form(peer="10.0.0.2", forwarded_for=f"6.6.6.6, 198.51.100.{n}")
        await AuthFormState.sign_up.fn(state, _form(n))
        assert state.error == ""
    state = await _auth_form(peer="10.0.0.2", forwarded_for="6.6.6.6, 198.51.100.77")
    await AuthFormState.sign_up.fn(state, _form(10))
    assert state.error == ""


async def test_sign_up_without_the_browser_cookie_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(passwords, "hash_password", lambda password: pytest.fail("hashed"))
    state = await _auth_form(cookie="")
    assert await AuthFormState.sign_up.fn(state, _form(1)) is None
    assert state.error == NO_BROWSER_COOKIE
    assert _count(User) == 0


async def test_hostile_form_values_are_treated_as_empty_fields():
    state = await _auth_form()
    await AuthFormState.sign_up.fn(state, {"name": ["x"], "email": {"a": 1}, "password": 12345678901})
    assert set(state.field_errors) == {"email"}
    assert _count(User) == 0


def _on_the_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_sign_up_and_sign_in_hash_passwords_off_the_event_loop(monkeypatch):
    real_hash, real_verify = passwords.hash_password, passwords.verify_password
    seen: list[tuple[str, bool]] = []

    def hash_password(password: str) -> str:
        seen.append(("hash", _on_the_loop_thread()))
        return real_hash(password)

    def verify_password(password_hash: str | None, password: str) -> bool:
        seen.append(("verify", _on_the_loop_thread()))
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "hash_password", hash_password)
    monkeypatch.setattr(passwords, "verify_password", verify_password)
    user = make_user()
    state = await _auth_form()

    await AuthFormState.sign_up.fn(state, _form(1))
    await AuthFormState.sign_in.fn(state, {"email": user.email, "password": PASSWORD})
    await AuthFormState.sign_in.fn(state, {"email": "nobody@example.com", "password": PASSWORD})

    assert state.error == accounts.BAD_CREDENTIALS
    assert [kind for kind, _ in seen] == ["hash", "verify", "hash"]
    assert not any(on_loop for _, on_loop in seen), seen
