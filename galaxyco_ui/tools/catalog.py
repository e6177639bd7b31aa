"""The fixed list of tools an agent can enable, with what the form shows for each.

The runs engine implements each entry behind the tool interface; this catalog is
the single place their names and descriptions are declared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToolInfo:
    name: str
    label: str
    description: str


TOOLS: tuple[ToolInfo, ...] = (
    ToolInfo("calculator", "Calculator", "Exact arithmetic on numbers the agent reads or computes."),
    ToolInfo("current_time", "Current time", "The current date and time in any time zone."),
    ToolInfo("http_request", "HTTP request", "GET or POST a public web address and read the response."),
    ToolInfo(
        "knowledge_search",
        "Knowledge search",
        "Search the agent's knowledge collections and cite the passages it uses.",
    ),
)

# Tools an agent gets from its other settings rather than from the tool checkboxes:
# knowledge_search comes with choosing knowledge collections.
IMPLIED_TOOLS: frozenset[str] = frozenset({"knowledge_search"})
SELECTABLE_TOOLS: tuple[ToolInfo, ...] = tuple(t for t in TOOLS if t.name not in IMPLIED_TOOLS)

TOOL_NAMES: frozenset[str] = frozenset(t.name for t in TOOLS)


def tool_info(name: str) -> ToolInfo:
    """Return the catalog entry called ``name``.

    Tool implementations take their name and summary from here, so a name that is not
    in the catalog fails when the module is imported rather than at run time.

    Raises:
        KeyError: no catalog entry has that name.
    """
    for info in TOOLS:
        if info.name == name:
            return info
    raise KeyError(name)
