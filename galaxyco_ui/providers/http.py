"""One TLS context for every provider client in the process.

Each SDK client otherwise builds its own, and loading the CA bundle costs ~26 ms of
blocking CPU per run (measured by bench/run_throughput.py): most of a run's CPU, and
stalls of the event loop that every other run and live page shares.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx2


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verification context (certifi CA bundle), built once."""
    return httpx2.create_ssl_context()
