"""Where the executor finds tools and the one place a tool call is run.

``run_tool`` never raises (except ``asyncio.CancelledError``, which cancels the run):
unknown tool, invalid arguments, ``ToolError``, a timeout or a bug all come back as
``ToolResult(is_error=True, content=<message for the model>)``. The default registry
holds one implementation for every entry of ``catalog.TOOLS``; tests build their own
``ToolRegistry`` around fakes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from galaxyco_ui.infra.tracing import tool_span
from galaxyco_ui.providers.base import ToolSpec
from galaxyco_ui.tools import schema
from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.calculator import CalculatorTool
from galaxyco_ui.tools.current_time import CurrentTimeTool
from galaxyco_ui.tools.http_request import HttpRequestTool
from galaxyco_ui.tools.knowledge_search import KnowledgeSearchTool

logger = logging.getLogger(__name__)

_MAX_ERRORS_SHOWN = 5


def truncate(content: str, limit: int) -> tuple[str, bool]:
    """Cut ``content`` to at most ``limit`` characters, ending with a visible marker.

    Returns:
        The (possibly) shortened text and whether it was shortened.
    """
    if len(content) <= limit:
        return content, False
    omitted = len(content) - limit
    # The marker's own length moves the cut; two passes settle the digit count.
    for _ in range(2):
        marker = f"\n[... truncated: {omitted} more characters not shown]"
        keep = max(limit - len(marker), 0)
        omitted = len(content) - keep
    return content[:keep] + marker, True


class ToolRegistry:
    """A set of tools by name, and the guarded way to call them."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools are named {tool.name!r}")
            self._tools[tool.name] = tool

    @property
    def names(self) -> frozenset[str]:
        """The names of the tools this registry holds."""
        return frozenset(self._tools)

    def get_tool(self, name: str) -> Tool:
        """Return the tool called ``name``.

        Raises:
            ToolError: no such tool (the message lists the available ones).
        """
        try:
            return self._tools[name]
        except KeyError:
            available = ", ".join(sorted(self._tools))
            raise ToolError(f"Unknown tool {name!r}. Available tools: {available}.") from None

    def tool_specs(self, names: Iterable[str]) -> tuple[ToolSpec, ...]:
        """Describe the named tools to a model, in the order given (duplicates dropped).

        Raises:
            ToolError: a name is not a tool of this registry.
        """
        specs: dict[str, ToolSpec] = {}
        for name in names:
            if name not in specs:
                tool = self.get_tool(name)
                specs[name] = ToolSpec(
                    name=tool.name, description=tool.description, parameters=tool.parameters
                )
        return tuple(specs.values())

    def tool_instructions(self, names: Iterable[str]) -> str:
        """What the named tools add to the agent's system prompt (unknown names add nothing)."""
        found = (self._tools[name].instructions for name in dict.fromkeys(names) if name in self._tools)
        return "\n\n".join(text for text in found if text)

    async def run_tool(self, name: str, arguments: Any, ctx: ToolContext) -> ToolResult:
        """Validate, run, time-limit and truncate one tool call; never raises.

        Args:
            name: the tool the model asked for.
            arguments: the model's arguments (decoded JSON; anything but an object is
                refused).
            ctx: the calling workspace, run, agent and user (logged on unexpected errors).

        Returns:
            The tool's result with ``content`` truncated to the tool's
            ``max_result_chars`` (``data["content_truncated"]`` is then True), or an error result
            whose ``content`` says what went wrong.

        Traced as ``execute_tool {name}`` (``infra.tracing``) with the error kind of a
        failed call, never its arguments or result.
        """
        with tool_span(name, known=name in self._tools) as span:
            result = await self._run_tool(name, arguments, ctx)
            if result.is_error:
                span.set(error=str(result.data.get("error", "error")))
            return result

    async def _run_tool(self, name: str, arguments: Any, ctx: ToolContext) -> ToolResult:
        try:
            tool = self.get_tool(name)
        except ToolError as error:
            return ToolResult(content=error.message, is_error=True, data={"error": "unknown_tool"})

        try:
            problems = schema.validate(arguments, tool.parameters)
        except ValueError:  # the tool's own schema is broken: a bug, not the model's fault
            return self._unexpected(tool, ctx)
        if problems:
            shown = "; ".join(problems[:_MAX_ERRORS_SHOWN])
            more = len(problems) - _MAX_ERRORS_SHOWN
            if more > 0:
                shown += f"; and {more} more"
            return ToolResult(
                content=f"Invalid arguments for {name}: {shown}.",
                is_error=True,
                data={"error": "invalid_arguments"},
            )

        try:
            async with asyncio.timeout(tool.timeout_seconds) as deadline:
                result = await tool.call(dict(arguments), ctx)
            if not isinstance(result, ToolResult):
                raise TypeError(
                    f"{type(tool).__name__}.call returned {type(result).__name__}, not ToolResult"
                )
        except ToolError as error:
            return ToolResult(content=error.message, is_error=True, data={"error": "tool_error"})
        except TimeoutError:
            if not deadline.expired():
                # A TimeoutError raised by the tool itself, not our deadline: a bug.
                return self._unexpected(tool, ctx)
            return ToolResult(
                content=f"The {name} tool did not finish within {tool.timeout_seconds:g} seconds and was stopped.",
                is_error=True,
                data={"error": "timeout"},
            )
        except Exception:
            return self._unexpected(tool, ctx)

        content, cut = truncate(result.content, tool.max_result_chars)
        if cut:
            result = dataclasses.replace(
                result, content=content, data={**result.data, "content_truncated": True}
            )
        return result

    @staticmethod
    def _unexpected(tool: Tool, ctx: ToolContext) -> ToolResult:
        # Arguments and the exception text stay out of the model's view (they may hold
        # secrets or internals); the traceback goes to the log with the ids to find it.
        logger.exception(
            "tool %s failed unexpectedly (workspace=%s run=%s agent=%s user=%s)",
            tool.name,
            ctx.workspace_id,
            ctx.run_id,
            ctx.agent_id,
            ctx.user_id,
        )
        return ToolResult(
            content=f"The {tool.name} tool failed because of an internal error. Try again later or without this tool.",
            is_error=True,
            data={"error": "internal"},
        )


default_registry = ToolRegistry(
    [CalculatorTool(), CurrentTimeTool(), HttpRequestTool(), KnowledgeSearchTool()]
)


def get_tool(name: str) -> Tool:
    """Return the production tool called ``name``; raises ``ToolError`` if there is none."""
    return default_registry.get_tool(name)


def tool_specs(names: Iterable[str]) -> tuple[ToolSpec, ...]:
    """Describe the named production tools to a model; raises ``ToolError`` for an unknown name."""
    return default_registry.tool_specs(names)


def tool_instructions(names: Iterable[str]) -> str:
    """What the named production tools add to the agent's system prompt ("" for none)."""
    return default_registry.tool_instructions(names)


async def run_tool(name: str, arguments: Any, ctx: ToolContext) -> ToolResult:
    """Run one call of a production tool; never raises (see ``ToolRegistry.run_tool``)."""
    return await default_registry.run_tool(name, arguments, ctx)
