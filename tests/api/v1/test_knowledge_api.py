"""/api/v1/knowledge as each role, from another workspace, signed out and with dead keys;
real uploads (PDF, TXT, DOCX) through background ingestion to search, the upload limits,
and content sniffing."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.api.upload_limit import request_cap
from galaxyco_ui.config import get_settings
from galaxyco_ui.devtools.docgen import make_docx, make_pdf
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge import storage
from galaxyco_ui.models import ApiKey, ItemStatus, KnowledgeItem, utcnow
from galaxyco_ui.services import api_keys, knowledge, knowledge_settings, provider_keys
from tests.api.v1.conftest import Keys, bearer, make_key
from tests.factories import Team, set_columns

PROBLEM = "application/problem+json"
HANDBOOK = [
    "Welcome to Acme. This handbook explains how we work together.",
    "Leave policy. Every employee receives twenty-seven days of paid leave per year.",
    "Expenses. Submit receipts within thirty days through the finance portal.",
]


@pytest.fixture(autouse=True)
def _background(engine: object) -> None:
    """Every upload queues ingestion: run it (embedded or SAQ) and close the queue after."""


def _collection(ctx, name: str = "Handbook") -> str:  # type: ignore[no-untyped-def]
    return knowledge.create_collection(ctx=ctx, data={"name": name}).id


async def _item(
    ctx, collection_id: str, name: str = "notes.md", data: bytes = b"# Notes\n\nPlain words."
) -> str:  # type: ignore[no-untyped-def]
    outcome = await knowledge.upload_item(
        ctx=ctx, collection_id=collection_id, filename=name, source=io.BytesIO(data)
    )
    return outcome.item.id


def _files(*files: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (name, data, "application/octet-stream")) for name, data in files]


def _spreadsheet() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return data.getvalue()


def _items_in_db() -> list[KnowledgeItem]:
    with session_scope() as session:
        return list(session.exec(select(KnowledgeItem)).all())


# ---------------------------------------------------------------- collections


async def test_admin_creates_reads_renames_and_deletes_a_collection(api, keys: Keys):
    created = await api.post(
        "/knowledge/collections", json={"name": "Handbook", "description": "Rules"}, headers=keys.admin
    )
    assert created.status_code == 201, created.text
    collection = created.json()
    assert collection["name"] == "Handbook" and collection["item_count"] == 0 and collection["can_edit"]

    got = await api.get(f"/knowledge/collections/{collection['id']}", headers=keys.admin)
    assert got.status_code == 200 and got.json()["description"] == "Rules"
    patched = await api.patch(
        f"/knowledge/collections/{collection['id']}", json={"name": "Company handbook"}, headers=keys.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Company handbook" and patched.json()["description"] == "Rules"

    duplicate = await api.post(
        "/knowledge/collections", json={"name": "company HANDBOOK"}, headers=keys.admin
    )
    assert duplicate.status_code == 409 and duplicate.json()["errors"]["name"]
    blank = await api.post("/knowledge/collections", json={"name": "  "}, headers=keys.admin)
    assert blank.status_code == 422 and "name" in blank.json()["errors"]

    deleted = await api.delete(f"/knowledge/collections/{collection['id']}", headers=keys.admin)
    assert deleted.status_code == 204
    gone = await api.get(f"/knowledge/collections/{collection['id']}", headers=keys.admin)
    assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM


async def test_creating_a_collection_twice_with_one_idempotency_key_creates_it_once(api, keys: Keys):
    headers = {**keys.admin, "Idempotency-Key": "collection-1"}
    first = await api.post("/knowledge/collections", json={"name": "Once"}, headers=headers)
    again = await api.post("/knowledge/collections", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    listed = (await api.get("/knowledge/collections", headers=keys.admin)).json()["items"]
    assert [c["name"] for c in listed] == ["Once"]


async def test_collections_and_items_page_without_gaps_or_repeats(api, team: Team, keys: Keys):
    made = {_collection(team.owner, f"C{i}") for i in range(5)}
    seen: list[str] = []
    cursor = ""
    while True:
        page = (
            await api.get(
                "/knowledge/collections", params={"limit": 2, "cursor": cursor}, headers=keys.viewer
            )
        ).json()
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(made)

    collection = next(iter(made))
    items = {
        await _item(team.owner, collection, f"n{i}.md", f"# N{i}\n\nbody {i}".encode()) for i in range(3)
    }
    first = (
        await api.get(f"/knowledge/collections/{collection}/items", params={"limit": 2}, headers=keys.viewer)
    ).json()
    rest = (
        await api.get(
            f"/knowledge/collections/{collection}/items",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=keys.viewer,
        )
    ).json()
    assert len(first["items"]) == 2 and rest["next_cursor"] is None
    assert {i["id"] for i in first["items"] + rest["items"]} == items
    bad = await api.get(
        f"/knowledge/collections/{collection}/items", params={"cursor": "x"}, headers=keys.viewer
    )
    assert bad.status_code == 422 and "cursor" in bad.json()["errors"]


# ---------------------------------------------------------------- roles


async def test_a_viewer_key_reads_and_searches_but_changes_nothing(api, team: Team, keys: Keys, ingested):
    collection = _collection(team.owner)
    item = await _item(team.owner, collection, "notes.md", b"# Notes\n\nThe launch is on Tuesday.")
    assert (await ingested(item)).status == ItemStatus.READY
    for path in (
        "/knowledge/collections",
        f"/knowledge/collections/{collection}",
        f"/knowledge/items/{item}",
    ):
        assert (await api.get(path, headers=keys.viewer)).status_code == 200, path
    found = await api.post("/knowledge/search", json={"query": "launch Tuesday"}, headers=keys.viewer)
    assert found.status_code == 200 and found.json()["results"][0]["item_id"] == item

    for response in (
        await api.post("/knowledge/collections", json={"name": "Mine"}, headers=keys.viewer),
        await api.patch(f"/knowledge/collections/{collection}", json={"name": "x"}, headers=keys.viewer),
        await api.delete(f"/knowledge/collections/{collection}", headers=keys.viewer),
        await api.post(
            f"/knowledge/collections/{collection}/items",
            files=_files(("a.txt", b"some text")),
            headers=keys.viewer,
        ),
        await api.post(f"/knowledge/items/{item}/reindex", headers=keys.viewer),
        await api.delete(f"/knowledge/items/{item}", headers=keys.viewer),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM
    assert [i.id for i in _items_in_db()] == [item]
    assert (await api.get(f"/knowledge/collections/{collection}", headers=keys.viewer)).json()[
        "name"
    ] == "Handbook"


async def test_a_member_key_uploads_anywhere_but_edits_only_what_its_creator_made(
    api, team: Team, keys: Keys, ingested
):
    # Member keys are made by the admin (conftest): the admin's collections are the key's own.
    owners = _collection(team.owner, "Owner's")
    owners_item = await _item(team.owner, owners)
    own = (await api.post("/knowledge/collections", json={"name": "Mine"}, headers=keys.member)).json()
    assert own["can_edit"]
    assert (await api.get(f"/knowledge/collections/{owners}", headers=keys.member)).json()[
        "can_edit"
    ] is False

    uploaded = await api.post(
        f"/knowledge/collections/{owners}/items",
        files=_files(("mine.txt", b"member words")),
        headers=keys.member,
    )
    assert uploaded.status_code == 201, uploaded.text
    mine = uploaded.json()["files"][0]["item"]["id"]
    await ingested(mine)
    await ingested(owners_item)
    assert (await api.post(f"/knowledge/items/{mine}/reindex", headers=keys.member)).status_code == 202
    assert (await ingested(mine)).status == ItemStatus.READY
    assert (await api.delete(f"/knowledge/items/{mine}", headers=keys.member)).status_code == 204

    for response in (
        await api.patch(f"/knowledge/collections/{owners}", json={"name": "Taken over"}, headers=keys.member),
        await api.delete(f"/knowledge/collections/{owners}", headers=keys.member),
        await api.post(f"/knowledge/items/{owners_item}/reindex", headers=keys.member),
        await api.delete(f"/knowledge/items/{owners_item}", headers=keys.member),
    ):
        assert response.status_code == 403, response.text
    renamed = await api.patch(
        f"/knowledge/collections/{own['id']}", json={"name": "Mine 2"}, headers=keys.member
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Mine 2"
    assert (await api.delete(f"/knowledge/collections/{own['id']}", headers=keys.member)).status_code == 204
    assert [i.id for i in _items_in_db()] == [owners_item]


async def test_another_workspaces_collections_and_items_are_not_found(
    api, team: Team, other_team: Team, keys: Keys, ingested
):
    foreign = _collection(other_team.owner, "Secrets")
    foreign_item = await _item(other_team.owner, foreign, "secret.md", b"# Secret\n\nThe vault code is 4242.")
    await ingested(foreign_item)
    mine = _collection(team.owner, "Mine")
    for response in (
        await api.get(f"/knowledge/collections/{foreign}", headers=keys.admin),
        await api.patch(f"/knowledge/collections/{foreign}", json={"name": "Mine now"}, headers=keys.admin),
        await api.delete(f"/knowledge/collections/{foreign}", headers=keys.admin),
        await api.get(f"/knowledge/collections/{foreign}/items", headers=keys.admin),
        await api.post(
            f"/knowledge/collections/{foreign}/items", files=_files(("x.txt", b"planted")), headers=keys.admin
        ),
        await api.get(f"/knowledge/items/{foreign_item}", headers=keys.admin),
        await api.post(f"/knowledge/items/{foreign_item}/reindex", headers=keys.admin),
        await api.delete(f"/knowledge/items/{foreign_item}", headers=keys.admin),
        await api.post(
            "/knowledge/search",
            json={"query": "vault code", "collection_ids": [mine, foreign]},
            headers=keys.admin,
        ),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM and "4242" not in response.text
    listed = (await api.get("/knowledge/collections", headers=keys.admin)).json()["items"]
    assert [c["id"] for c in listed] == [mine]
    everywhere = await api.post("/knowledge/search", json={"query": "vault code 4242"}, headers=keys.admin)
    assert everywhere.status_code == 200 and everywhere.json()["results"] == []
    assert {i.id for i in _items_in_db()} == {foreign_item}  # nothing planted, nothing deleted


async def test_without_a_key_every_knowledge_endpoint_is_401(api, team: Team):
    collection = _collection(team.owner)
    item = await _item(team.owner, collection)
    for method, path in [
        ("GET", "/knowledge/collections"),
        ("POST", "/knowledge/collections"),
        ("GET", f"/knowledge/collections/{collection}"),
        ("PATCH", f"/knowledge/collections/{collection}"),
        ("DELETE", f"/knowledge/collections/{collection}"),
        ("GET", f"/knowledge/collections/{collection}/items"),
        ("POST", f"/knowledge/collections/{collection}/items"),
        ("GET", f"/knowledge/items/{item}"),
        ("POST", f"/knowledge/items/{item}/reindex"),
        ("DELETE", f"/knowledge/items/{item}"),
        ("POST", "/knowledge/search"),
    ]:
        files = _files(("a.txt", b"text")) if path.endswith("/items") and method == "POST" else None
        body = {"name": "x", "query": "x"} if method in ("POST", "PATCH") and files is None else None
        response = await api.request(method, path, json=body, files=files)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert [i.id for i in _items_in_db()] == [item]


async def test_a_revoked_or_expired_key_cannot_upload(api, team: Team):
    collection = _collection(team.owner)
    secret = make_key(team, "admin")
    api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)
    revoked = await api.post(
        f"/knowledge/collections/{collection}/items", files=_files(("a.txt", b"text")), headers=bearer(secret)
    )
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]

    expiring = make_key(team, "admin", name="expiring")
    set_columns(
        ApiKey, api_keys.list_api_keys(ctx=team.owner)[0].id, expires_at=utcnow() - timedelta(seconds=1)
    )
    expired = await api.get(f"/knowledge/collections/{collection}", headers=bearer(expiring))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert _items_in_db() == []


# ---------------------------------------------------------------- uploads, ingestion, search


async def test_uploaded_pdf_text_and_word_files_are_indexed_and_found_with_the_collection_filter(
    api, team: Team, keys: Keys, ingested
):
    handbook = _collection(team.owner, "Handbook")
    other = _collection(team.owner, "Other")
    docx = make_docx([("heading1", "Travel"), ("para", "Book trains for trips under four hours.")])
    response = await api.post(
        f"/knowledge/collections/{handbook}/items",
        files=_files(
            ("handbook.pdf", make_pdf(HANDBOOK)),
            ("parking.txt", b"Parking permits are renewed every March at reception."),
            ("travel.docx", docx),
        ),
        headers=keys.member,
    )
    assert response.status_code == 201, response.text
    files = response.json()["files"]
    assert [(f["name"], f["outcome"], f["item"]["kind"]) for f in files] == [
        ("handbook.pdf", "added", "pdf"),
        ("parking.txt", "added", "text"),
        ("travel.docx", "added", "docx"),
    ]
    assert all(f["item"]["status"] == "queued" and f["error"] is None for f in files)
    elsewhere = await api.post(
        f"/knowledge/collections/{other}/items",
        files=_files(("leave.md", b"# Leave\n\nParental leave is sixteen weeks of paid leave.")),
        headers=keys.member,
    )
    assert elsewhere.status_code == 201

    for f in [*files, *elsewhere.json()["files"]]:
        await ingested(f["item"]["id"])
        status = (await api.get(f"/knowledge/items/{f['item']['id']}", headers=keys.viewer)).json()
        assert (status["status"], status["progress"], status["error"]) == ("ready", 100, ""), status
        assert status["chunk_count"] >= 1
    pdf = (await api.get(f"/knowledge/items/{files[0]['item']['id']}", headers=keys.viewer)).json()
    assert pdf["page_count"] == 3

    filtered = await api.post(
        "/knowledge/search",
        json={"query": "paid leave", "collection_ids": [handbook], "top_k": 5},
        headers=keys.viewer,
    )
    assert filtered.status_code == 200, filtered.text
    results = filtered.json()["results"]
    assert {r["item_name"] for r in results} == {"handbook.pdf"}
    top = results[0]
    assert top["page"] == 2 and "twenty-seven days" in top["text"]
    assert top["citation"] == "“handbook.pdf”, page 2" and top["score"] > 0 and top["matched_by"] == ["fts"]
    assert top["collection_id"] == handbook and top["collection_name"] == "Handbook"

    everywhere = await api.post("/knowledge/search", json={"query": "paid leave"}, headers=keys.viewer)
    assert {r["item_name"] for r in everywhere.json()["results"]} == {"handbook.pdf", "leave.md"}
    one = await api.post("/knowledge/search", json={"query": "paid leave", "top_k": 1}, headers=keys.viewer)
    assert len(one.json()["results"]) == 1
    for query, name in (("parking permits March", "parking.txt"), ("trains four hours", "travel.docx")):
        keyword = await api.post(
            "/knowledge/search",
            json={"query": query, "mode": "keyword", "collection_ids": [handbook]},
            headers=keys.viewer,
        )
        assert keyword.json()["results"][0]["item_name"] == name, keyword.text
    travel = keyword.json()["results"][0]
    assert travel["heading"] == "Travel" and "section “Travel”" in travel["citation"]

    again = await api.post(
        f"/knowledge/collections/{handbook}/items",
        files=_files(("copy.txt", b"Parking permits are renewed every March at reception.")),
        headers=keys.admin,
    )
    assert again.status_code == 200  # nothing new: the same content is the existing item
    assert again.json()["files"][0]["outcome"] == "duplicate"
    assert again.json()["files"][0]["item"]["id"] == files[1]["item"]["id"]


async def test_files_whose_bytes_lie_about_their_type_are_refused_each_on_its_own(
    api, team: Team, keys: Keys
):
    collection = _collection(team.owner)
    elf = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8
    mixed = await api.post(
        f"/knowledge/collections/{collection}/items",
        files=_files(
            ("invoice.pdf", elf),
            ("notes.txt", b"Real notes about the quarterly plan."),
            ("report.docx", _spreadsheet()),
        ),
        headers=keys.admin,
    )
    assert mixed.status_code == 201, mixed.text
    files = mixed.json()["files"]
    assert [f["outcome"] for f in files] == ["refused", "added", "refused"]
    assert "invoice.pdf" in files[0]["error"] and "not supported" in files[0]["error"]
    assert "report.docx" in files[2]["error"] and "not supported" in files[2]["error"]
    assert files[0]["item"] is None and files[1]["item"]["kind"] == "text"

    alone = await api.post(
        f"/knowledge/collections/{collection}/items", files=_files(("photo.pdf", elf)), headers=keys.admin
    )
    assert alone.status_code == 422 and alone.headers["content-type"] == PROBLEM
    assert "not supported" in alone.json()["errors"]["file"]
    empty = await api.post(
        f"/knowledge/collections/{collection}/items",
        files=_files(("a.pdf", elf), ("empty.txt", b"")),
        headers=keys.admin,
    )
    assert empty.status_code == 422 and "empty" in empty.json()["errors"]["file[1]"]
    assert [i.name for i in _items_in_db()] == ["notes.txt"]
    assert not list(storage.workspace_dir(team.workspace_id).glob(".upload-*"))


async def test_uploads_that_are_not_files_or_too_many_are_a_422_problem(api, team: Team, keys: Keys):
    collection = _collection(team.owner)
    path = f"/knowledge/collections/{collection}/items"
    as_json = await api.post(path, json={"file": "notes"}, headers=keys.admin)
    as_field = await api.post(
        path, data={"file": "just a string"}, files=_files(("a.txt", b"x")), headers=keys.admin
    )
    too_many = await api.post(
        path, files=_files(*[(f"{i}.txt", f"n{i}".encode()) for i in range(21)]), headers=keys.admin
    )
    for response in (as_json, as_field, too_many):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM and "file" in response.json()["errors"]
    assert _items_in_db() == []


async def test_an_oversized_upload_request_is_a_413_problem_and_stores_nothing(
    api, team: Team, keys: Keys, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(get_settings(), "knowledge_max_upload_mb", 1)
    collection = _collection(team.owner)
    path = f"/knowledge/collections/{collection}/items"
    declared = await api.post(path, files=_files(("huge.txt", b"w" * request_cap())), headers=keys.admin)
    assert declared.status_code == 413 and declared.headers["content-type"] == PROBLEM
    assert declared.json()["status"] == 413 and "20 files of 1 MB" in declared.json()["detail"]

    async def chunks():  # no Content-Length: the bytes received are counted
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n\r\n'
        for _ in range(request_cap() // 65536 + 2):
            yield b"y" * 65536

    streamed = await api.post(
        path, content=chunks(), headers={**keys.admin, "content-type": "multipart/form-data; boundary=x"}
    )
    assert streamed.status_code == 413 and streamed.headers["content-type"] == PROBLEM
    assert "api.unhandled_error" not in caplog.text  # a refusal, not a crash in the logs

    one_big_file = await api.post(path, files=_files(("big.txt", b"word " * 300_000)), headers=keys.admin)
    assert one_big_file.status_code == 422  # under the request cap: the per-file limit says why
    assert "larger than the 1 MB limit" in one_big_file.json()["errors"]["file"]
    assert _items_in_db() == []
    assert not list(storage.workspace_dir(team.workspace_id).glob(".upload-*"))


async def test_item_status_reindex_and_delete(api, team: Team, keys: Keys, ingested):
    collection = _collection(team.owner)
    uploaded = await api.post(
        f"/knowledge/collections/{collection}/items",
        files=_files(
            ("broken.pdf", make_pdf(HANDBOOK)[:200]), ("fine.md", b"# Fine\n\nThe gate opens at nine.")
        ),
        headers=keys.admin,
    )
    broken, fine = (f["item"]["id"] for f in uploaded.json()["files"])
    await ingested(broken)
    await ingested(fine)
    failed = (await api.get(f"/knowledge/items/{broken}", headers=keys.viewer)).json()
    assert failed["status"] == "failed" and "damaged" in failed["error"]

    reindexed = await api.post(f"/knowledge/items/{fine}/reindex", headers=keys.admin)
    assert reindexed.status_code == 202 and reindexed.json()["status"] == "queued"
    assert (await ingested(fine)).status == ItemStatus.READY
    search = {"query": "gate opens nine", "mode": "keyword"}
    assert (await api.post("/knowledge/search", json=search, headers=keys.admin)).json()["results"]

    assert (await api.delete(f"/knowledge/items/{fine}", headers=keys.admin)).status_code == 204
    assert (await api.get(f"/knowledge/items/{fine}", headers=keys.admin)).status_code == 404
    assert (await api.post("/knowledge/search", json=search, headers=keys.admin)).json()["results"] == []
    collection_view = (await api.get(f"/knowledge/collections/{collection}", headers=keys.admin)).json()
    assert collection_view["item_count"] == 1 and collection_view["failed_count"] == 1


async def test_search_refuses_bad_modes_sizes_and_semantic_without_an_embedding_model(api, keys: Keys):
    cases = [
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "top_k": 51}, "top_k"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 501}, "query"),
        ({"query": "x", "collection_ids": ["a"] * 51}, "collection_ids"),
        ({"query": "x", "mode": "semantic"}, "mode"),
    ]
    for body, field in cases:
        response = await api.post("/knowledge/search", json=body, headers=keys.viewer)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["errors"], (body, response.json())
    semantic = await api.post(
        "/knowledge/search", json={"query": "x", "mode": "semantic"}, headers=keys.viewer
    )
    assert "embedding model" in semantic.json()["errors"]["mode"]


async def test_the_openapi_document_describes_the_multipart_upload(api):
    spec = (await api.get("/openapi.json")).json()
    upload = spec["paths"]["/knowledge/collections/{collection_id}/items"]["post"]
    assert "file" in upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"201", "200", "413", "422"} <= set(upload["responses"])
    assert spec["paths"]["/knowledge/search"]["post"]["requestBody"]


async def test_with_an_embedding_model_the_three_modes_search_as_named(
    api, team: Team, keys: Keys, emulator, ingested
):
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="emulator-key", base_url=emulator.openai_base_url
    )
    await knowledge_settings.set_embedding_model(ctx=team.admin, model_id="openai:text-embedding-3-small")
    collection = _collection(team.owner)
    uploaded = await api.post(
        f"/knowledge/collections/{collection}/items",
        files=_files(("tea.md", b"# Tea\n\nGreen tea needs cooler water than black tea.")),
        headers=keys.admin,
    )
    assert (await ingested(uploaded.json()["files"][0]["item"]["id"])).status == ItemStatus.READY

    def matched(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
        assert response.status_code == 200, response.text
        return [r["matched_by"] for r in response.json()["results"]]

    query = {"query": "green tea water", "collection_ids": [collection]}
    assert matched(
        await api.post("/knowledge/search", json={**query, "mode": "keyword"}, headers=keys.viewer)
    ) == [["fts"]]
    assert matched(
        await api.post("/knowledge/search", json={**query, "mode": "semantic"}, headers=keys.viewer)
    ) == [["vector"]]
    hybrid = matched(await api.post("/knowledge/search", json=query, headers=keys.viewer))
    assert len(hybrid) == 1 and set(hybrid[0]) == {"fts", "vector"}

    # The provider refuses the key: semantic says so, the other modes answer from full text.
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="bad-key", base_url=emulator.openai_base_url
    )
    refused = await api.post("/knowledge/search", json={**query, "mode": "semantic"}, headers=keys.viewer)
    assert refused.status_code == 422 and "Try keyword or hybrid" in refused.json()["errors"]["mode"]
    assert matched(await api.post("/knowledge/search", json=query, headers=keys.viewer)) == [["fts"]]
