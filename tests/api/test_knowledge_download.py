"""GET /api/knowledge/items/{id}/original: members of the item's workspace only."""

from __future__ import annotations

import io

import httpx
import pytest

from galaxyco_ui.api import create_api
from galaxyco_ui.auth.tokens import SESSION_COOKIE
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User
from galaxyco_ui.services import accounts, knowledge
from tests.factories import Team, sign_in_as

URL = "/api/knowledge/items/{}/original"
CONTENT = b"# Plan\n\n<script>alert(1)</script> Ship in June.\n"


def _client(token: str = "") -> httpx.AsyncClient:
    cookies = {SESSION_COOKIE: token} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_api()), base_url="http://testserver", cookies=cookies
    )


def _user(ctx) -> User:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        user = session.get(User, ctx.user_id)
        assert user is not None
        return user


@pytest.fixture
async def item_id(team: Team, ingested) -> str:  # type: ignore[no-untyped-def]
    collection = knowledge.create_collection(ctx=team.member, data={"name": "Plans"}).id
    outcome = await knowledge.upload_item(
        ctx=team.member, collection_id=collection, filename="plan “v2”.md", source=io.BytesIO(CONTENT)
    )
    await ingested(outcome.item.id)  # (and closes the queue's connections afterwards)
    return outcome.item.id


async def test_a_member_downloads_the_original_as_an_attachment(team: Team, item_id: str):
    signed_in = sign_in_as(_user(team.viewer))
    async with _client(signed_in.token) as client:
        response = await client.get(URL.format(item_id))
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''plan%20%E2%80%9Cv2%E2%80%9D.md" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


async def test_foreign_users_and_unknown_ids_get_404(team: Team, other_team: Team, item_id: str):
    outsider = sign_in_as(_user(other_team.owner))
    async with _client(outsider.token) as client:
        assert (await client.get(URL.format(item_id))).status_code == 404
        assert (await client.get(URL.format("0" * 32))).status_code == 404
        assert (await client.get(URL.format("../../etc/passwd"))).status_code == 404


async def test_signed_out_or_revoked_sessions_get_401(team: Team, item_id: str):
    async with _client() as client:
        assert (await client.get(URL.format(item_id))).status_code == 401
    signed_in = sign_in_as(_user(team.member))
    accounts.sign_out(token=signed_in.token)
    async with _client(signed_in.token) as client:
        assert (await client.get(URL.format(item_id))).status_code == 401
