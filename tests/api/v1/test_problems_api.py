"""Transport-level answers the OpenAPI fuzz (test_openapi_fuzz.py) found undocumented: each
request here once got a status or content type no operation documents."""

from __future__ import annotations

from tests.api.v1.conftest import Keys

PROBLEM = "application/problem+json"


async def test_a_body_that_is_not_utf8_is_a_422_problem_like_any_invalid_input(api, keys: Keys):
    # FastAPI answered a bare 400 ("There was an error parsing the body"), which no
    # operation documents.
    response = await api.post(
        "/agents", content=b"W\xe9", headers={**keys.admin, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "UTF-8" in response.json()["errors"]["body"]


async def test_an_api_path_holding_a_newline_is_a_404_problem_not_plain_text(api, keys: Keys):
    # Starlette's Mount never matches a path with a newline, so /api/v1/... fell through to
    # the outer app's text/plain 404.
    for path in ("/agents/a%0Ab", "/knowledge/items/%0A", "/nothing%0Ahere"):
        response = await api.get(path, headers=keys.admin)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == PROBLEM, path
        assert response.json()["status"] == 404


async def test_paths_outside_the_api_keep_the_plain_404(api):
    response = await api.get("http://testserver/nothing%0Ahere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


async def test_a_body_that_is_not_json_names_the_body_not_a_character_offset(api, keys: Keys):
    # The field was the parser's offset ("1": "JSON decode error"), no field of the request.
    response = await api.post(
        "/agents", content=b"{", headers={**keys.admin, "content-type": "application/json"}
    )
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert list(response.json()["errors"]) == ["body"]
    assert "not valid JSON" in response.json()["errors"]["body"]


async def test_an_api_body_above_2_mb_is_a_413_problem_before_it_is_parsed(api, keys):
    huge = b'{"model": "x", "messages": [{"role": "user", "content": "' + b"a" * (2 * 1024 * 1024) + b'"}]}'
    for path in ("/openai/chat/completions", "/agents"):
        response = await api.post(
            path, content=huge, headers={**keys.admin, "content-type": "application/json"}
        )
        assert response.status_code == 413, (path, response.text[:200])
        assert response.headers["content-type"] == "application/problem+json"
        assert "limited to 2 MB" in response.json()["detail"]
