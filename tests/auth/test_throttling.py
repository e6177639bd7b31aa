"""Login throttling: repeated failures lock an email, or an address, out for a while.

The service tests run against whichever limiter the configuration picks: in-process
by default, Redis when ``TEST_REDIS_URL`` is set (``REDIS_URL`` is then configured).
"""

from __future__ import annotations

import pytest
import redis

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import AuthenticationError, RateLimitedError
from galaxyco_ui.infra.ratelimit import (
    MemoryFailureLimiter,
    RedisFailureLimiter,
    get_login_limiter,
)
from galaxyco_ui.services import accounts
from tests.conftest import TEST_REDIS_URL
from tests.factories import PASSWORD, make_user


def _fail(email: str, ip: str) -> None:
    with pytest.raises(AuthenticationError):
        accounts.sign_in(email=email, password="definitely wrong", ip=ip)


def test_the_limiter_uses_redis_exactly_when_it_is_configured():
    expected = RedisFailureLimiter if TEST_REDIS_URL else MemoryFailureLimiter
    assert type(get_login_limiter()) is expected


def test_too_many_wrong_passwords_lock_the_email_even_for_the_right_password():
    user = make_user()
    limit = get_settings().login_max_failures
    for attempt in range(limit):
        _fail(user.email, ip=f"10.0.0.{attempt}")
    with pytest.raises(RateLimitedError) as exc:
        accounts.sign_in(email=user.email, password=PASSWORD, ip="10.9.9.9")
    assert str(exc.value) == "Too many failed sign-in attempts. Try again in 15 minutes."
    assert 0 < exc.value.retry_after <= get_settings().login_lockout_seconds


def test_an_address_gets_more_attempts_than_one_email_before_it_is_locked():
    assert get_settings().login_max_failures_per_ip > get_settings().login_max_failures
    for attempt in range(get_settings().login_max_failures):
        _fail(f"guess{attempt}@example.com", ip="203.0.113.8")
    user = make_user()
    assert accounts.sign_in(email=user.email, password=PASSWORD, ip="203.0.113.8")


def test_the_email_lock_ignores_the_case_of_the_address():
    user = make_user()
    for attempt in range(get_settings().login_max_failures):
        _fail(user.email.upper(), ip=f"10.0.0.{attempt}")
    with pytest.raises(RateLimitedError):
        accounts.sign_in(email=user.email, password=PASSWORD, ip="10.9.9.9")


def test_too_many_failures_from_one_address_lock_it_across_emails():
    victim = make_user()
    for attempt in range(get_settings().login_max_failures_per_ip):
        _fail(f"guess{attempt}@example.com", ip="203.0.113.7")
    with pytest.raises(RateLimitedError) as exc:
        accounts.sign_in(email=victim.email, password=PASSWORD, ip="203.0.113.7")
    assert exc.value.retry_after > 0
    # The same user from another address is not affected.
    assert accounts.sign_in(email=victim.email, password=PASSWORD, ip="198.51.100.1")


def test_failures_below_the_limit_still_allow_signing_in():
    user = make_user()
    for attempt in range(get_settings().login_max_failures - 1):
        _fail(user.email, ip=f"10.0.0.{attempt}")
    assert accounts.sign_in(email=user.email, password=PASSWORD, ip="10.0.1.1")


def test_a_successful_sign_in_resets_the_email_counter():
    user = make_user()
    below = get_settings().login_max_failures - 1
    for attempt in range(below):
        _fail(user.email, ip=f"10.0.0.{attempt}")
    accounts.sign_in(email=user.email, password=PASSWORD, ip="10.0.1.1")
    for attempt in range(below):
        _fail(user.email, ip=f"10.0.2.{attempt}")
    assert accounts.sign_in(email=user.email, password=PASSWORD, ip="10.0.3.1")


def test_a_locked_out_attempt_is_not_checked_at_all():
    user = make_user()
    for attempt in range(get_settings().login_max_failures):
        _fail(user.email, ip=f"10.0.0.{attempt}")
    with pytest.raises(RateLimitedError):
        accounts.sign_in(email=user.email, password="definitely wrong", ip="10.9.9.9")


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_with_redis_the_lockout_is_shared_through_redis():
    user = make_user()
    for attempt in range(get_settings().login_max_failures):
        _fail(user.email, ip=f"10.0.0.{attempt}")
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        assert client.exists(f"throttle:lock:login:email:{user.email}") == 1
        # A second process (a fresh limiter on the same Redis) sees the same lock.
        s = get_settings()
        other = RedisFailureLimiter(
            client, s.login_max_failures, s.login_window_seconds, s.login_lockout_seconds
        )
        assert other.check(f"login:email:{user.email}") > 0
    finally:
        client.close()


# ---------------------------------------------------------------- the limiters themselves


class FakeClock:
    """Stands in for the ``time`` module inside ``galaxyco_ui.infra.ratelimit``."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self._ns = 0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def perf_counter_ns(self) -> int:
        self._ns += 1
        return self._ns


@pytest.fixture
def clock(monkeypatch):
    from galaxyco_ui.infra import ratelimit

    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


@pytest.fixture(params=["memory", "redis"])
def limiter(request, clock):
    """A limiter allowing 3 failures in 60 s, locking for 120 s."""
    if request.param == "memory":
        yield MemoryFailureLimiter(max_failures=3, window=60, lockout=120)
        return
    if not TEST_REDIS_URL:
        pytest.skip("RedisFailureLimiter needs TEST_REDIS_URL")
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    yield RedisFailureLimiter(client, max_failures=3, window=60, lockout=120)
    client.close()


def test_limiter_counts_failures_and_locks_at_the_limit(limiter):
    assert limiter.check("k") == 0
    assert [limiter.record_failure("k") for _ in range(2)] == [1, 2]
    assert limiter.check("k") == 0
    assert limiter.record_failure("k") == 3
    assert 110 < limiter.check("k") <= 120


def test_limiter_keys_are_independent(limiter):
    for _ in range(3):
        limiter.record_failure("locked")
    assert limiter.check("locked") > 0
    assert limiter.check("free") == 0
    assert limiter.record_failure("free") == 1


def test_limiter_forgets_failures_older_than_the_window(limiter, clock):
    limiter.record_failure("k")
    limiter.record_failure("k")
    clock.now += 61
    assert limiter.record_failure("k") == 1
    assert limiter.check("k") == 0


def test_limiter_reset_clears_failures_and_lock(limiter):
    for _ in range(3):
        limiter.record_failure("k")
    limiter.reset("k")
    assert limiter.check("k") == 0
    assert limiter.record_failure("k") == 1


def test_memory_limiter_lock_ends_after_the_lockout(clock):
    limiter = MemoryFailureLimiter(max_failures=2, window=60, lockout=120)
    limiter.record_failure("k")
    limiter.record_failure("k")
    clock.now += 119.5
    assert limiter.check("k") == 1  # rounds up: never says 0 while still locked
    clock.now += 1
    assert limiter.check("k") == 0
    assert limiter.record_failure("k") == 1  # the count started again


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")
def test_redis_limiter_lock_is_a_key_that_expires_with_the_lockout(clock):
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        limiter = RedisFailureLimiter(client, max_failures=2, window=60, lockout=120)
        limiter.record_failure("k")
        limiter.record_failure("k")
        assert 0 < client.ttl("throttle:lock:k") <= 120
        assert client.exists("throttle:fail:k") == 0  # the window restarts after a lock
        client.delete("throttle:lock:k")  # what Redis does when the TTL runs out
        assert limiter.check("k") == 0
    finally:
        client.close()
