"""Upload requests above the cap are refused with 413 before the app reads them."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from galaxyco_ui.api.upload_limit import UploadSizeLimitMiddleware, request_cap
from galaxyco_ui.config import get_settings

# A TestClient of an earlier module (session routes) leaves an asyncio stream whose loop
# is closed; the garbage collector reports it during these tests on PostgreSQL + Redis.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(get_settings(), "knowledge_max_upload_mb", 1)
    return request_cap()


def _app() -> tuple[UploadSizeLimitMiddleware, list[int]]:
    """The middleware around an endpoint that records how many bytes it read."""
    read: list[int] = []

    async def upload(request: Request) -> JSONResponse:
        read.append(len(await request.body()))
        return JSONResponse({"ok": True})

    inner = Starlette(
        routes=[Route("/_upload", upload, methods=["POST"]), Route("/other", upload, methods=["POST"])]
    )
    return UploadSizeLimitMiddleware(inner), read


async def _post(app: UploadSizeLimitMiddleware, path: str, content: object) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        return await client.post(path, content=content)  # type: ignore[arg-type]


async def test_a_declared_oversized_upload_is_refused_unread(small_cap: int):
    app, read = _app()
    response = await _post(app, "/_upload", b"x" * (small_cap + 1))
    assert response.status_code == 413
    assert "20 files of 1 MB" in response.json()["message"]
    assert read == []


async def test_a_streamed_upload_is_cut_off_at_the_cap(small_cap: int):
    app, read = _app()

    async def chunks():  # no Content-Length: chunked transfer
        for _ in range(small_cap // 65536 + 2):
            yield b"y" * 65536

    response = await _post(app, "/_upload", chunks())
    assert response.status_code == 413
    assert read == []


async def test_uploads_under_the_cap_and_other_paths_pass(small_cap: int):
    app, read = _app()
    assert (await _post(app, "/_upload", b"z" * 1000)).status_code == 200
    assert (await _post(app, "/other", b"z" * (small_cap + 10))).status_code == 200
    assert read == [1000, small_cap + 10]
