"""The registry: one guarded way to call any tool, and a tool for every catalog entry."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from galaxyco_ui.providers.base import ToolSpec
from galaxyco_ui.tools import registry
from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.catalog import TOOL_NAMES, TOOLS
from galaxyco_ui.tools.registry import ToolRegistry, truncate


class EchoTool(Tool):
    name = "echo"
    description = "Echo text back."
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "maxLength": 50},
            "mode": {"type": "string", "enum": ["plain", "shout"]},
            "times": {"type": "integer", "minimum": 1, "maximum": 3},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["text"],
        "additionalProperties": False,
    }
    max_result_chars = 100

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        text = arguments["text"] * int(arguments.get("times", 1))
        if arguments.get("mode") == "shout":
            text = text.upper()
        return ToolResult(content=text, data={"length": len(text)})


class SlowTool(EchoTool):
    name = "slow"
    timeout_seconds = 0.05

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        await asyncio.sleep(10)
        raise AssertionError("not reached")


class RefusingTool(EchoTool):
    name = "refusing"

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raise ToolError("No, and here is why.")


class BrokenTool(EchoTool):
    name = "broken"

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raise RuntimeError("db password is hunter2")


class OwnTimeoutTool(EchoTool):
    name = "own_timeout"

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raise TimeoutError


class WrongReturnTool(EchoTool):
    name = "wrong_return"

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return "just a string"  # type: ignore[return-value]


class LongTool(EchoTool):
    name = "long"

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(content="x" * 1000, data={"kept": True})


@pytest.fixture
def tools() -> ToolRegistry:
    return ToolRegistry(
        [
            EchoTool(),
            SlowTool(),
            RefusingTool(),
            BrokenTool(),
            OwnTimeoutTool(),
            WrongReturnTool(),
            LongTool(),
        ]
    )


async def test_a_valid_call_returns_the_tools_result(tools, ctx) -> None:
    result = await tools.run_tool("echo", {"text": "hi", "mode": "shout", "times": 2}, ctx)
    assert result == ToolResult(content="HIHI", data={"length": 4})


async def test_unknown_tool_is_an_error_result(tools, ctx) -> None:
    result = await tools.run_tool("rm_rf", {}, ctx)
    assert result.is_error
    assert result.content.startswith("Unknown tool 'rm_rf'. Available tools: broken, echo,")
    assert result.data == {"error": "unknown_tool"}


def test_get_tool_raises_tool_error_not_key_error(tools) -> None:
    assert tools.get_tool("echo").name == "echo"
    with pytest.raises(ToolError, match="Unknown tool 'nope'"):
        tools.get_tool("nope")
    with pytest.raises(ToolError):
        registry.get_tool("nope")


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({}, "text: is required"),
        ({"text": 5}, "text: expected string, got integer"),
        ({"text": "a" * 51}, "text: longer than 50 characters"),
        ({"text": "a", "mode": "whisper"}, "mode: must be one of 'plain', 'shout'"),
        ({"text": "a", "times": 9}, "times: must be at most 3"),
        ({"text": "a", "times": True}, "times: expected integer, got boolean"),
        ({"text": "a", "tags": ["x", 1]}, "tags[1]: expected string, got integer"),
        ({"text": "a", "extra": 1}, "extra: unknown argument (expected: text, mode, times, tags)"),
        (["text"], "arguments: expected object, got array"),
        (None, "arguments: expected object, got null"),
    ],
)
async def test_arguments_are_validated_against_the_schema(tools, ctx, arguments: Any, problem: str) -> None:
    result = await tools.run_tool("echo", arguments, ctx)
    assert result.is_error
    assert result.content.startswith("Invalid arguments for echo: ")
    assert problem in result.content
    assert result.data == {"error": "invalid_arguments"}


async def test_every_problem_is_reported_at_once(tools, ctx) -> None:
    result = await tools.run_tool("echo", {"mode": "x", "times": 0}, ctx)
    assert "text: is required" in result.content
    assert "mode: must be one of" in result.content
    assert "times: must be at least 1" in result.content


async def test_a_slow_tool_is_stopped_at_its_timeout(tools, ctx) -> None:
    result = await tools.run_tool("slow", {"text": "a"}, ctx)
    assert result.is_error
    assert result.content == "The slow tool did not finish within 0.05 seconds and was stopped."
    assert result.data == {"error": "timeout"}


async def test_tool_error_becomes_an_error_result(tools, ctx) -> None:
    result = await tools.run_tool("refusing", {"text": "a"}, ctx)
    assert result == ToolResult(content="No, and here is why.", is_error=True, data={"error": "tool_error"})


@pytest.mark.parametrize("name", ["broken", "own_timeout", "wrong_return"])
async def test_unexpected_exceptions_are_logged_with_ids_and_hidden_from_the_model(
    tools, ctx, caplog, name: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="galaxyco_ui.tools.registry"):
        result = await tools.run_tool(name, {"text": "a"}, ctx)
    assert result.is_error
    assert result.content.startswith(f"The {name} tool failed because of an internal error.")
    assert "hunter2" not in result.content
    assert result.data == {"error": "internal"}
    [record] = caplog.records
    message = record.getMessage()
    assert f"tool {name} failed unexpectedly" in message
    assert "workspace=ws1 run=run1 agent=agent1 user=user1" in message
    assert "hunter2" not in message  # the message has ids only (the traceback is separate)


async def test_cancellation_is_not_swallowed(tools, ctx) -> None:
    task = asyncio.create_task(tools.run_tool("echo", {"text": "a"}, ctx))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_long_content_is_truncated_with_a_marker(tools, ctx) -> None:
    result = await tools.run_tool("long", {"text": "a"}, ctx)
    assert len(result.content) <= 100
    assert result.content.startswith("xxxx")
    assert result.content.endswith("more characters not shown]")
    assert result.data == {"kept": True, "content_truncated": True}


def test_truncate_keeps_short_text_and_counts_what_it_cut() -> None:
    assert truncate("short", 100) == ("short", False)
    text, cut = truncate("y" * 10_000, 200)
    assert cut and len(text) <= 200
    kept = text.split("\n[", 1)[0]
    assert f"truncated: {10_000 - len(kept)} more characters" in text


def test_every_catalog_tool_is_implemented() -> None:
    assert registry.default_registry.names == TOOL_NAMES
    for info in TOOLS:
        tool = registry.get_tool(info.name)
        assert tool.name == info.name
        assert info.description in tool.description
        assert tool.timeout_seconds > 0 and tool.max_result_chars > 0


def test_tool_specs_describe_tools_in_the_order_asked() -> None:
    specs = registry.tool_specs(["http_request", "calculator", "http_request"])
    assert [s.name for s in specs] == ["http_request", "calculator"]
    for spec in specs:
        assert isinstance(spec, ToolSpec)
        assert spec.description
        assert spec.parameters["type"] == "object"
        assert set(spec.parameters["required"]) <= set(spec.parameters["properties"])
    assert registry.tool_specs([]) == ()
    with pytest.raises(ToolError):
        registry.tool_specs(["calculator", "nope"])


async def test_production_tools_run_through_the_registry(ctx) -> None:
    assert (await registry.run_tool("calculator", {"expression": "6*7"}, ctx)).content == "42"
    error = await registry.run_tool("calculator", {"expression": "1/0"}, ctx)
    assert error.is_error and error.content == "Division by zero"
    time_result = await registry.run_tool("current_time", {"timezone": "Europe/Paris"}, ctx)
    assert not time_result.is_error and "Europe/Paris" in time_result.content
    refused = await registry.run_tool(
        "http_request", {"url": "http://169.254.169.254/latest/meta-data/"}, ctx
    )
    assert refused.is_error and "cloud metadata" in refused.content


def test_duplicate_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="two tools are named 'echo'"):
        ToolRegistry([EchoTool(), EchoTool()])
