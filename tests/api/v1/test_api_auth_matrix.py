"""Every operation of the OpenAPI document refuses callers without a working key.

The list comes from the live document, so an endpoint added later is covered the day it
lands: signed out, a malformed key, a revoked key and an expired key all get a 401
problem before anything runs. Trigger URLs (``/hooks/{token}``) are the one exception:
their token is the credential, and a wrong one is a 404 (tested in test_hooks_api.py).
"""

from __future__ import annotations

import re

from tests.api.v1.conftest import refused_callers

PROBLEM = "application/problem+json"
UNAUTHENTICATED = {"/hooks/{token}"}


async def _operations(api) -> list[tuple[str, str]]:
    spec = (await api.get("/openapi.json")).json()
    operations = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"} and path not in UNAUTHENTICATED
    ]
    assert len(operations) >= 5, operations
    return operations


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", path)


async def test_every_operation_refuses_a_missing_malformed_revoked_or_expired_key(api, team):
    callers = refused_callers(team)
    for method, path in await _operations(api):
        for who, headers in callers.items():
            response = await api.request(method, _concrete(path), headers=headers)
            assert response.status_code == 401, (who, method, path, response.status_code, response.text)
            assert response.headers["content-type"] == PROBLEM, (who, method, path)
            assert response.json()["status"] == 401


async def test_every_operation_documents_its_problems_and_the_key_it_needs(api):
    spec = (await api.get("/openapi.json")).json()
    for method, path in await _operations(api):
        operation = spec["paths"][path][method.lower()]
        assert operation.get("security") == [{"ApiKey": []}], (method, path)
        for status in ("401", "403", "404", "422", "429"):
            assert PROBLEM in operation["responses"][status]["content"], (method, path, status)
