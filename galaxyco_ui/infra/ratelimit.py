"""Rate limits: Redis when configured, else in-process.

Login throttling uses failure counting with lockout; run starts and sign-ups use a
sliding window (``hit_signup_limits``: per client address and for the whole install).

``FailureLimiter.check(key)`` returns the seconds left in a lockout (0 when free);
``record_failure(key)`` counts a failure in a sliding window and starts a lockout
when the count reaches the limit; ``reset(key)`` clears both after a success.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol, cast

import redis

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.redis import get_redis


class FailureLimiter(Protocol):
    def check(self, key: str) -> int: ...
    def record_failure(self, key: str) -> int: ...
    def reset(self, key: str) -> None: ...


class MemoryFailureLimiter:
    """In-process limiter for the embedded single-process mode."""

    def __init__(self, max_failures: int, window: int, lockout: int) -> None:
        self.max_failures, self.window, self.lockout = max_failures, window, lockout
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> int:
        with self._lock:
            until = self._locked_until.get(key, 0.0)
            left = until - time.monotonic()
            if left <= 0:
                self._locked_until.pop(key, None)
                return 0
            return max(1, int(left + 0.999))

    def record_failure(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            count = len(times)
            if count >= self.max_failures:
                self._locked_until[key] = now + self.lockout
                times.clear()
            return count

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)


class RedisFailureLimiter:
    """Redis limiter: a sorted set per key as the sliding window, a TTL key as the lock."""

    def __init__(self, client: redis.Redis, max_failures: int, window: int, lockout: int) -> None:
        self.client = client
        self.max_failures, self.window, self.lockout = max_failures, window, lockout

    def check(self, key: str) -> int:
        # redis-py annotates the sync client's replies as "Awaitable | Any" (shared with asyncio).
        ttl = cast("int | None", self.client.pttl(f"throttle:lock:{key}"))
        return 0 if ttl is None or ttl <= 0 else max(1, (ttl + 999) // 1000)

    def record_failure(self, key: str) -> int:
        now = time.time()
        window_key = f"throttle:fail:{key}"
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(window_key, 0, now - self.window)
        pipe.zadd(window_key, {f"{now:.6f}:{time.perf_counter_ns()}": now})
        pipe.zcard(window_key)
        pipe.expire(window_key, self.window)
        count = int(pipe.execute()[2])
        if count >= self.max_failures:
            pipe = self.client.pipeline()
            pipe.set(f"throttle:lock:{key}", "1", ex=self.lockout)
            pipe.delete(window_key)
            pipe.execute()
        return count

    def reset(self, key: str) -> None:
        self.client.delete(f"throttle:fail:{key}", f"throttle:lock:{key}")


_limiters: dict[str, FailureLimiter] = {}


def _limiter(kind: str, max_failures: int) -> FailureLimiter:
    if kind not in _limiters:
        s = get_settings()
        args = (max_failures, s.login_window_seconds, s.login_lockout_seconds)
        client = get_redis()
        _limiters[kind] = (
            RedisFailureLimiter(client, *args) if client is not None else MemoryFailureLimiter(*args)
        )
    return _limiters[kind]


def get_login_limiter() -> FailureLimiter:
    """The process-wide per-email login limiter for the configured mode."""
    return _limiter("email", get_settings().login_max_failures)


def get_ip_limiter() -> FailureLimiter:
    """The process-wide per-client-address login limiter (a higher limit)."""
    return _limiter("ip", get_settings().login_max_failures_per_ip)


def reset_login_limiter() -> None:
    _limiters.clear()


# ---------------------------------------------------------------- sliding windows (run starts)

_REDIS_WINDOW_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1] - ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])
"""


class SlidingWindow(Protocol):
    def hit(self, key: str, *, limit: int, window_seconds: int) -> float: ...


class MemorySlidingWindow:
    """At most ``limit`` hits per ``window_seconds``; ``hit`` returns 0 or seconds to wait."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window_seconds: int) -> float:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window_seconds:
                hits.popleft()
            if len(hits) >= limit:
                return max(0.001, hits[0] + window_seconds - now)
            hits.append(now)
            return 0.0


class RedisSlidingWindow:
    """The same window as a sorted set, checked and updated atomically by a Lua script."""

    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(_REDIS_WINDOW_SCRIPT)

    def hit(self, key: str, *, limit: int, window_seconds: int) -> float:
        now_ms = int(time.time() * 1000)
        member = f"{now_ms}:{time.perf_counter_ns()}"
        wait_ms = self._script(keys=[f"window:{key}"], args=[now_ms, window_seconds * 1000, limit, member])
        return max(0.0, int(wait_ms) / 1000)


_window: SlidingWindow | None = None


def get_sliding_window() -> SlidingWindow:
    global _window
    if _window is None:
        client = get_redis()
        _window = RedisSlidingWindow(client) if client is not None else MemorySlidingWindow()
    return _window


def reset_sliding_window() -> None:
    global _window
    _window = None


SIGNUP_WINDOW_SECONDS = 3600


def hit_signup_limits(ip: str) -> tuple[float, str]:
    """Count one sign-up attempt from ``ip`` against both hourly limits.

    ``SIGNUP_MAX_PER_IP_PER_HOUR`` per client address is checked first, then
    ``SIGNUP_MAX_PER_HOUR`` for everyone; an attempt refused by the first is not
    counted by the second.

    Returns:
        ``(0.0, "")`` when the attempt may go ahead; otherwise the seconds to wait and
        which limit refused it, ``"ip"`` or ``"global"``.
    """
    settings, window = get_settings(), get_sliding_window()
    if wait := window.hit(
        f"signup:ip:{ip or 'unknown'}",
        limit=settings.signup_max_per_ip_per_hour,
        window_seconds=SIGNUP_WINDOW_SECONDS,
    ):
        return wait, "ip"
    if wait := window.hit(
        "signup:all", limit=settings.signup_max_per_hour, window_seconds=SIGNUP_WINDOW_SECONDS
    ):
        return wait, "global"
    return 0.0, ""
