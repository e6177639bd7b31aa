"""Async tests here close the Redis client and job queue their event loop opened."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue


@pytest.fixture(autouse=True)
async def redis_closed() -> AsyncIterator[None]:
    yield
    await close_job_queue()
    await close_async_redis()
