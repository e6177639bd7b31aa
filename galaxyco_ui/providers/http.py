"""One TLS context for every provider client in the process.

Each SDK client otherwise builds its own, and loading the CA bundle costs ~26 ms of
blocking CPU per run (measured by bench/run_throughput.py): most of a run's CPU, and
stalls of the event loop that every other run and live page shares.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx2

# The openai and anthropic SDKs' own default (identical in both).
SDK_CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


def sdk_http_client(timeout_seconds: float) -> httpx2.AsyncClient:
    """An async HTTP client for the OpenAI and Anthropic SDKs, reusing the shared TLS context.

    Both SDKs accept ``http_client``; this one carries their default limits and redirect
    policy, so only the TLS context differs from what they would build themselves.
    """
    return httpx2.AsyncClient(
        verify=shared_ssl_context(),
        timeout=timeout_seconds,
        limits=SDK_CONNECTION_LIMITS,
        follow_redirects=True,
    )


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verification context (certifi CA bundle), built once."""
    return httpx2.create_ssl_context()
