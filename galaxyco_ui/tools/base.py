"""The one interface every agent tool implements.

The run executor never calls a tool directly: it calls ``registry.run_tool``, which
validates the model's arguments against ``Tool.parameters``, enforces
``Tool.timeout_seconds``, truncates ``ToolResult.content`` to ``Tool.max_result_chars``
and turns every failure into an error result. A tool therefore only has to:

- describe itself (``name``, ``description``, ``parameters`` as JSON Schema);
- implement ``call(arguments, ctx)``, returning a ``ToolResult``;
- raise ``ToolError("message for the model")`` when it refuses or fails in a way the
  model should read and may correct (bad input, unreachable host, refused address).

Any other exception is a bug: it is logged with the run's ids and the model gets a
generic error, never the exception text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class SourceBook:
    """Numbers the knowledge sources one run has shown the model: [1], [2], ...

    Shared by every tool call of a run, so a chunk found twice keeps its number and
    the answer's references stay unambiguous.
    """

    numbers: dict[str, int] = field(default_factory=dict)

    def number(self, chunk_id: str) -> int:
        """The chunk's reference number, assigning the next one on first sight."""
        return self.numbers.setdefault(chunk_id, len(self.numbers) + 1)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is calling: the ids a tool may scope by and the registry logs with.

    ``collection_ids`` are the knowledge collections the agent may search; ``sources``
    numbers what ``knowledge_search`` returned during this run.
    """

    workspace_id: str
    run_id: str
    agent_id: str
    user_id: str
    collection_ids: tuple[str, ...] = ()
    sources: SourceBook = field(default_factory=SourceBook)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call produced.

    Attributes:
        content: the text sent back to the model as the tool's answer.
        is_error: True when ``content`` explains a failure rather than an answer.
        data: structured details for the run page's tool card (never sent to the model),
            e.g. ``{"status": 200, "url": "https://example.com/"}``.
    """

    content: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class ToolError(Exception):
    """A failure the model should read: ``str(error)`` becomes the error result's content.

    Messages must be safe to show (no secrets, no internal addresses beyond the one the
    model asked for) and say what to do differently when that is possible.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Tool(ABC):
    """An agent tool. Subclasses set the class attributes and implement ``call``.

    Attributes:
        name: the catalog name (``catalog.TOOLS``); what the model calls.
        description: what the model reads to decide when and how to call it.
        parameters: JSON Schema (an ``object``) for the arguments.
        timeout_seconds: the registry cancels a call that takes longer.
        max_result_chars: the registry truncates longer content, with a marker.
        instructions: what an agent that has this tool is told in its system prompt
            (how to use the results, e.g. to cite them); empty for most tools.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    timeout_seconds: float = 10.0
    max_result_chars: int = 20_000
    instructions: str = ""

    @abstractmethod
    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the tool.

        Args:
            arguments: the model's arguments, already validated against ``parameters``.
            ctx: the calling workspace, run, agent and user.

        Returns:
            The result; ``content`` may be longer than ``max_result_chars`` (the registry
            truncates it).

        Raises:
            ToolError: the call was refused or failed in a way the model should read.
        """
