"""Failure counting with lockout (login throttling): Redis when configured, else in-process.

``FailureLimiter.check(key)`` returns the seconds left in a lockout (0 when free);
``record_failure(key)`` counts a failure in a sliding window and starts a lockout
when the count reaches the limit; ``reset(key)`` clears both after a success.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

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

    def __init__(self, client, max_failures: int, window: int, lockout: int) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.max_failures, self.window, self.lockout = max_failures, window, lockout

    def check(self, key: str) -> int:
        ttl = self.client.pttl(f"throttle:lock:{key}")
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
