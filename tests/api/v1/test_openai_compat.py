"""/api/v1/openai through the real ``openai`` SDK: agents listed as models, chat completions
that are normal runs (against the provider emulator), streaming, errors the SDK raises
with our messages, and a dropped client cancelling its run."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from sqlmodel import col, select

from galaxyco_ui.api import create_api
from galaxyco_ui.api.v1 import openai_compat
from galaxyco_ui.api.v1.openai_wire import ChatMessage, run_input
from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run
from galaxyco_ui.services import api_keys, provider_keys, runs
from galaxyco_ui.services.runs import MAX_INPUT_CHARS
from tests.api.v1.conftest import BASE, make_key
from tests.api.v1.run_fixtures import served
from tests.factories import Team, make_agent

PROBLEM = "application/problem+json"
ANSWER = "Hello from the emulator."


def wire(team: Team, emulator: Emulator, **agent: Any):  # type: ignore[no-untyped-def]
    """An OpenAI-compatible provider key on the emulator, and an agent using it."""
    provider_keys.set_provider_key(
        ctx=team.admin,
        provider="openai_compatible",
        api_key="emulator-key",
        base_url=emulator.openai_base_url,
    )
    values: dict[str, Any] = {
        "name": "Support Bot",
        "provider": "openai_compatible",
        "model": "test-model",
        "instructions": "Be brief.",
        "max_steps": 4,
    }
    values.update(agent)
    return make_agent(team.member, **values)


@pytest.fixture
def agent(team, emulator):  # type: ignore[no-untyped-def]
    return wire(team, emulator)


@pytest.fixture
async def sdk() -> AsyncIterator[Any]:
    """``await sdk(secret)`` → an ``openai.AsyncOpenAI`` talking to the app over ASGI."""
    clients: list[httpx.AsyncClient] = []

    def make(secret: str) -> openai.AsyncOpenAI:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api()), base_url=BASE, timeout=30)
        clients.append(http)
        return openai.AsyncOpenAI(base_url=f"{BASE}/openai", api_key=secret, http_client=http, max_retries=2)

    yield make
    for http in clients:
        await http.aclose()


def runs_of(workspace_id: str) -> list[Run]:
    with session_scope() as session:
        return list(
            session.exec(
                select(Run).where(Run.workspace_id == workspace_id).order_by(col(Run.created_at))
            ).all()
        )


CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Answer in English."},
    {"role": "user", "content": "Hi, who are you?"},
    {"role": "assistant", "content": "The support bot."},
    {"role": "user", "content": [{"type": "text", "text": "Say hello"}, {"type": "text", "text": "to me."}]},
]
TRANSCRIPT = (
    "Conversation so far:\n"
    "System: Answer in English.\n"
    "User: Hi, who are you?\n"
    "Assistant: The support bot.\n"
    "\n"
    "User's message:\n"
    "Say hello\nto me."
)


# ---------------------------------------------------------------- models


async def test_models_lists_the_workspaces_agents_by_name(sdk, team, other_team, agent):
    second = make_agent(team.admin, name="Researcher")
    make_agent(other_team.owner, name="Foreign agent")
    client = sdk(make_key(team, "viewer"))

    listed = await client.models.list()
    assert sorted(m.id for m in listed.data) == ["Researcher", "Support Bot"]
    assert {m.owned_by for m in listed.data} == {"galaxyco"} and all(m.created > 0 for m in listed.data)

    assert (await client.models.retrieve("support bot")).id == "Support Bot"  # any case
    assert (await client.models.retrieve(second.id)).id == "Researcher"  # or the id
    with pytest.raises(openai.NotFoundError, match="That model .* was not found"):
        await client.models.retrieve("Foreign agent")


# ---------------------------------------------------------------- completions


async def test_a_completion_returns_the_agents_answer_and_usage_as_an_api_run(
    sdk, team, agent, emulator, engine
):
    emulator.enqueue(Script([text(ANSWER), usage(12, 5)]))
    client = sdk(make_key(team, "member"))

    raw = await client.chat.completions.with_raw_response.create(model="support bot", messages=CONVERSATION)
    completion = raw.parse()

    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "Support Bot"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 5)
    assert completion.usage.total_tokens == 17
    (run,) = runs_of(team.workspace_id)
    assert completion.id == f"chatcmpl-{run.id}" and raw.headers["x-galaxyco-run-id"] == run.id
    assert (run.trigger, run.status, run.agent_id, run.output) == ("api", "succeeded", agent.id, ANSWER)
    assert run.input == TRANSCRIPT
    # The transcript reached the model as the user's message, after the agent's own instructions.
    sent = emulator.requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1]["content"] == TRANSCRIPT
    assert runs.get_run(ctx=team.viewer, run_id=run.id).started_by  # listed on /runs like any run


async def test_a_single_user_message_is_the_run_input_as_it_stands(sdk, team, agent, emulator, engine):
    emulator.enqueue(Script([text("ok")]))
    await sdk(make_key(team, "admin")).chat.completions.create(
        model=agent.id, messages=[{"role": "user", "content": "  What is 6 times 7?  "}]
    )
    assert runs_of(team.workspace_id)[0].input == "What is 6 times 7?"


async def test_streaming_assembles_the_same_text_and_ends_with_a_usage_chunk(
    sdk, team, agent, emulator, engine
):
    emulator.enqueue(Script([text(ANSWER), usage(12, 5)]))
    client = sdk(make_key(team, "member"))

    stream = await client.chat.completions.create(
        model="Support Bot", messages=CONVERSATION, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    (run,) = runs_of(team.workspace_id)
    assert {c.id for c in chunks} == {f"chatcmpl-{run.id}"} and {c.model for c in chunks} == {"Support Bot"}
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == ANSWER == run.output
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 5)
    assert all(c.usage is None for c in chunks[:-1])
    assert (run.trigger, run.input) == ("api", TRANSCRIPT)


async def test_the_raw_stream_is_server_sent_chunks_ending_with_done(api, team, agent, emulator, engine):
    emulator.enqueue(Script([text(ANSWER)]))
    response = await api.post(
        "/openai/chat/completions",
        json={"model": "Support Bot", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={"Authorization": f"Bearer {make_key(team, 'member')}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    run_id = response.headers["x-galaxyco-run-id"]
    assert response.text.endswith("data: [DONE]\n\n")
    events = [json.loads(line[6:]) for line in response.text.split("\n\n") if line.startswith("data: {")]
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == f"chatcmpl-{run_id}" for e in events)
    assert "usage" not in events[-1]  # only with stream_options.include_usage
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


async def test_text_before_a_tool_call_streams_as_its_own_paragraph(sdk, team, emulator, engine):
    wire(team, emulator, name="Calc", tools=["calculator"])
    emulator.enqueue(Script([text("Let me work it out."), tool_call("calculator", {"expression": "6*7"})]))
    emulator.enqueue(Script([text("It is 42.")]))
    client = sdk(make_key(team, "member"))

    stream = await client.chat.completions.create(
        model="calc", messages=[{"role": "user", "content": "6 times 7?"}], stream=True
    )
    content = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert content == "Let me work it out.\n\nIt is 42."
    assert runs_of(team.workspace_id)[0].output == "It is 42."  # non-streaming answers this part


# ---------------------------------------------------------------- errors the SDK raises


async def test_an_unknown_model_raises_not_found_with_our_message(sdk, api, team, agent):
    secret = make_key(team, "member")
    client = sdk(secret)
    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.message.endswith(
        "That model (an agent's name or id; GET /api/v1/openai/models lists them) was not found."
    )
    assert raised.value.code == "not-found"
    assert runs_of(team.workspace_id) == []

    raw = await api.post(
        "/openai/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    problem = raw.json()
    assert raw.status_code == 404 and raw.headers["content-type"] == PROBLEM
    assert problem["status"] == 404 and problem["error"]["message"] == problem["detail"]


async def test_a_viewer_key_is_refused_and_starts_nothing(sdk, team, agent):
    client = sdk(make_key(team, "viewer"))
    with pytest.raises(openai.PermissionDeniedError) as raised:
        await client.chat.completions.create(
            model="Support Bot", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 403 and raised.value.message.endswith("does not allow that.")
    assert runs_of(team.workspace_id) == []


async def test_another_workspaces_agent_is_not_found_by_name_or_id(sdk, team, other_team, emulator):
    foreign = wire(other_team, emulator, name="Their Bot")
    client = sdk(make_key(team, "admin"))
    for model in ("Their Bot", "their bot", foreign.id):
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve(model)
    assert runs_of(other_team.workspace_id) == [] and runs_of(team.workspace_id) == []


@pytest.mark.parametrize("key", ["wrong", "revoked"])
async def test_without_a_valid_key_the_sdk_raises_authentication_error(sdk, api, team, agent, key):
    secret = "gx_not-a-real-key"
    if key == "revoked":
        secret = make_key(team, "admin")
        api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)
    client = sdk(secret)
    with pytest.raises(openai.AuthenticationError) as raised:
        await client.chat.completions.create(
            model="Support Bot", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.message.startswith("Error code: 401 - ") and len(raised.value.message) > 20
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()
    for path in ("/openai/models", "/openai/models/Support%20Bot"):  # no key at all
        assert (await api.get(path)).status_code == 401
    unsigned = await api.post("/openai/chat/completions", json={"model": "x", "messages": []})
    assert unsigned.status_code == 401 and unsigned.json()["error"]["type"] == "authentication_error"
    assert runs_of(team.workspace_id) == []


async def test_a_failed_run_raises_its_error_once_without_sdk_retries(sdk, team, agent, emulator, engine):
    emulator.enqueue(Script.error(401))  # the provider refuses the workspace's key
    client = sdk(make_key(team, "member"))
    with pytest.raises(openai.InternalServerError) as raised:
        await client.chat.completions.create(
            model="Support Bot", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 502
    (run,) = runs_of(team.workspace_id)  # the SDK did not start it again
    assert run.status == "failed" and run.error and run.error in raised.value.message


async def test_a_run_failing_mid_stream_ends_the_stream_with_its_error(sdk, team, agent, emulator, engine):
    emulator.enqueue(Script.error(401))
    client = sdk(make_key(team, "member"))
    stream = await client.chat.completions.create(
        model="Support Bot", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as raised:
        async for _chunk in stream:
            pass
    (run,) = runs_of(team.workspace_id)
    assert run.status == "failed" and raised.value.message == run.error


async def test_a_run_not_done_in_time_is_cancelled_and_answered_504(
    sdk, team, agent, emulator, engine, monkeypatch
):
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    monkeypatch.setenv("RUN_TIMEOUT_SECONDS", "30")
    reset_settings()
    monkeypatch.setattr(openai_compat, "WAIT_SLACK_SECONDS", -29)  # the endpoint waits 1 s
    client = sdk(make_key(team, "member"))
    try:
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(
                model="Support Bot", messages=[{"role": "user", "content": "Talk"}]
            )
    finally:
        monkeypatch.undo()
        reset_settings()
    assert raised.value.status_code == 504 and "did not finish in time" in raised.value.message
    (run,) = runs_of(team.workspace_id)
    ended = await engine(run.id, timeout=10)
    assert ended.status == "cancelled", ended.error


async def test_a_key_revoked_mid_stream_ends_the_stream_and_cancels_the_run(
    sdk, team, agent, emulator, engine
):
    emulator.enqueue(Script.slow("word " * 600, tokens_per_second=20))
    client = sdk(make_key(team, "member"))

    async def revoke_once_streaming() -> None:
        for _ in range(200):  # until the run is streaming
            if [r.status for r in runs_of(team.workspace_id)] == ["running"]:
                break
            await asyncio.sleep(0.05)
        api_keys.revoke_api_key(ctx=team.owner, key_id=api_keys.list_api_keys(ctx=team.owner)[0].id)

    revoker = asyncio.create_task(revoke_once_streaming())
    stream = await client.chat.completions.create(
        model="Support Bot", messages=[{"role": "user", "content": "Talk"}], stream=True
    )
    with pytest.raises(openai.APIError, match="revoked"):
        async for _chunk in stream:
            pass
    await revoker
    (run,) = runs_of(team.workspace_id)
    ended = await engine(run.id, timeout=10)
    assert ended.status == "cancelled", ended.error


async def test_bad_messages_are_a_422_naming_the_message(sdk, team, agent):
    client = sdk(make_key(team, "member"))
    cases = [
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "messages"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages.0.content",
        ),
        ([{"role": "user", "content": "x" * (MAX_INPUT_CHARS + 1)}], "messages.0.content"),
        ([{"role": "user", "content": "nul \x00 byte"}], "messages.0.content"),
        ([{"role": "wizard", "content": "hi"}], "messages.0.role"),
        ([], "messages"),
    ]
    for messages, field in cases:
        with pytest.raises(openai.UnprocessableEntityError) as raised:
            await client.chat.completions.create(model="Support Bot", messages=messages)
        assert raised.value.param == field, (messages, raised.value.body)
        assert raised.value.message != "Error code: 422"
    with pytest.raises(openai.UnprocessableEntityError):
        await client.chat.completions.create(
            model="Support Bot", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert runs_of(team.workspace_id) == []


# ---------------------------------------------------------------- the transcript


def messages(*pairs: tuple[str, str]) -> list[ChatMessage]:
    return [ChatMessage(role=role, content=content) for role, content in pairs]  # type: ignore[arg-type]


def test_a_long_conversation_drops_its_oldest_turns_first_and_keeps_system_messages():
    turn = "t" * 3000
    history = [("system", "Rules.")] + [("user" if i % 2 else "assistant", f"{i}:{turn}") for i in range(12)]
    built = run_input(messages(*history, ("user", "Now answer.")))

    assert len(built) <= MAX_INPUT_CHARS
    assert built.startswith("Conversation so far:\n(")
    assert "System: Rules." in built and built.endswith("User's message:\nNow answer.")
    kept = [i for i in range(12) if f": {i}:t" in built]
    assert kept == list(range(12 - len(kept), 12)) and 0 < len(kept) < 12  # the newest turns
    assert f"({12 - len(kept)} earlier messages left out)" in built


def test_assistant_tool_calls_and_tool_results_are_summarised():
    conversation = [
        ChatMessage(role="user", content="6*7?"),
        ChatMessage(
            role="assistant",
            content=None,
            tool_calls=[
                {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"e":"6*7"}'}}
            ],
        ),
        ChatMessage(role="tool", content="42"),
        ChatMessage(role="user", content="Thanks, and 6*8?"),
    ]
    assert run_input(conversation) == (
        'Conversation so far:\nUser: 6*7?\nAssistant: [called calc({"e":"6*7"})]\nTool result: 42'
        "\n\nUser's message:\nThanks, and 6*8?"
    )
    with pytest.raises(ValidationError):
        run_input(messages(("user", "   ")))


# ---------------------------------------------------------------- a client that goes away


async def _post_then_drop(
    path: str, body: dict[str, Any], secret: str, *, spec: str, drop_after: bytes
) -> tuple[int, str]:
    """POST through the raw ASGI interface and go away once ``drop_after`` was received.

    With ``spec`` "2.3" the client's disconnect arrives through ``receive`` (Starlette
    cancels the stream); with "2.4" the next ``send`` fails, as a server does on a closed socket.
    """
    app = create_api()
    payload = json.dumps(body).encode()
    gone = asyncio.Event()
    sent_body = False
    received = b""
    status = 0
    headers: dict[str, str] = {}

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal received, status
        if gone.is_set() and spec == "2.4":
            raise OSError("the client closed the connection")
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.update({k.decode(): v.decode() for k, v in message["headers"]})
        elif message["type"] == "http.response.body":
            received += message.get("body", b"")
            if drop_after in received:
                gone.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": f"/api/v1{path}",
        "raw_path": f"/api/v1{path}".encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"authorization", f"Bearer {secret}".encode()),
        ],
    }
    task = asyncio.ensure_future(app(scope, receive, send))
    if not drop_after:
        await asyncio.sleep(0.5)
        gone.set()
    with contextlib.suppress(Exception):  # a 2.4 server sees ClientDisconnect come out of the app
        await asyncio.wait_for(task, 10)
    return status, headers.get("x-galaxyco-run-id", "")


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
async def test_a_client_dropping_the_stream_cancels_the_run(team, agent, emulator, engine, spec):
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    body = {"model": "Support Bot", "messages": [{"role": "user", "content": "Talk"}], "stream": True}
    status, run_id = await _post_then_drop(
        "/openai/chat/completions", body, make_key(team, "member"), spec=spec, drop_after=b'"content":"word'
    )
    assert status == 200 and run_id
    run = await engine(run_id, timeout=10)
    assert run.status == "cancelled" and run.error == "Cancelled by a user."


async def test_a_client_leaving_a_non_streaming_call_cancels_the_run(team, agent, emulator, engine):
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    body = {"model": "Support Bot", "messages": [{"role": "user", "content": "Talk"}]}
    await _post_then_drop(
        "/openai/chat/completions", body, make_key(team, "member"), spec="2.3", drop_after=b""
    )
    (run,) = runs_of(team.workspace_id)
    ended = await engine(run.id, timeout=10)
    assert ended.status == "cancelled", ended.error


async def test_over_a_real_connection_chunks_arrive_while_the_run_streams_and_closing_cancels_it(
    team, agent, emulator, engine
):
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    async with served() as base:
        client = openai.AsyncOpenAI(
            base_url=f"{base}/openai", api_key=make_key(team, "member"), max_retries=0
        )
        stream = await client.chat.completions.create(
            model="Support Bot", messages=[{"role": "user", "content": "Talk"}], stream=True
        )
        first_words = []
        async for chunk in stream:
            first_words.append(chunk.choices[0].delta.content or "")
            if "word" in "".join(first_words):
                break
        (run,) = runs_of(team.workspace_id)
        assert run.status == "running"  # the first words came before the run ended
        await stream.close()
        await client.close()
        ended = await engine(run.id, timeout=10)
        assert ended.status == "cancelled", ended.error


async def test_over_a_real_connection_a_client_timing_out_a_completion_cancels_the_run(
    team, agent, emulator, engine
):
    emulator.enqueue(Script.slow("word " * 200, tokens_per_second=20))
    async with served() as base:
        client = openai.AsyncOpenAI(
            base_url=f"{base}/openai", api_key=make_key(team, "member"), max_retries=0, timeout=1.5
        )
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="Support Bot", messages=[{"role": "user", "content": "Talk"}]
            )
        await client.close()
        for _ in range(200):  # on a busy machine the client may give up before the run exists
            if started := runs_of(team.workspace_id):
                break
            await asyncio.sleep(0.05)
        (run,) = started
        ended = await engine(run.id, timeout=10)
        assert ended.status == "cancelled", ended.error


async def test_the_openapi_document_shows_the_openai_compatible_operations(api):
    spec = (await api.get("/openapi.json")).json()
    post = spec["paths"]["/openai/chat/completions"]["post"]
    assert (
        post["tags"] == ["openai-compatible"] and "text/event-stream" in post["responses"]["200"]["content"]
    )
    assert "/openai/models" in spec["paths"] and "/openai/models/{model}" in spec["paths"]
