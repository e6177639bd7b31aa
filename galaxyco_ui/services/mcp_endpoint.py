"""GalaxyCo as an MCP server: which tools an API key sees, and the knowledge search tool.

The transport (``api/v1/mcp.py``) asks this module what to list and how to answer
``knowledge_search``; an agent tool's call is an ordinary run (``runs.start_run`` with
trigger ``mcp``), started and followed by the transport.

Tool names must match ``^[a-zA-Z0-9_-]{1,64}$`` (what MCP clients and the model vendors
accept) and be unique: an agent's tool is its name with every other character turned
into ``_``, cut to 55 characters, then ``_`` and the first 8 characters of its id
(``Support Bot`` → ``Support_Bot_1a2b3c4d``). In the unlikely case two agents share
those 8 characters, both get their whole id instead. Renaming an agent renames its tool;
clients list tools again when a call names one that is gone.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from pydantic import BaseModel

from galaxyco_ui.auth.permissions import Permission, TenantContext, can, require
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import agents, knowledge_search
from galaxyco_ui.services.knowledge_collections import collection_choices
from galaxyco_ui.services.validation import name_key

KNOWLEDGE_SEARCH = "knowledge_search"
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_TOP_K = 20
DEFAULT_TOP_K = 5
_SLUG_CHARS = 55  # 55 + "_" + 8 id characters = 64
_NOT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")
_LISTED_COLLECTIONS = 20  # named in the tool's description; more are still searchable

AGENT_INPUT_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The task or question for the agent."}},
    "required": ["input"],
    "additionalProperties": False,
}


def endpoint_url() -> str:
    """Where MCP clients connect: ``{PUBLIC_URL}/api/v1/mcp``."""
    return f"{get_settings().public_url.rstrip('/')}/api/v1/mcp"


def client_config() -> str:
    """A client configuration to paste (the ``mcpServers`` shape most clients read), as JSON text."""
    server = {"type": "http", "url": endpoint_url(), "headers": {"Authorization": "Bearer <your API key>"}}
    return json.dumps({"mcpServers": {"galaxyco": server}}, indent=2)


class McpToolView(BaseModel):
    """One tool as the MCP server lists it."""

    name: str
    title: str
    description: str
    input_schema: dict[str, object]
    agent_id: str | None = None  # None: the knowledge search tool


def list_mcp_tools(*, ctx: TenantContext) -> list[McpToolView]:
    """The tools this caller may use: one per agent it may run (none for viewers), then search.

    Raises:
        PermissionDeniedError: not a member of the workspace (cannot happen for a valid key).
    """
    require(ctx, Permission.VIEW_WORKSPACE)
    tools: list[McpToolView] = []
    if can(ctx, Permission.RUN_AGENT):
        found = agents.list_agents(ctx=ctx, sort="name")
        for agent, name in zip(found, agent_tool_names([(a.id, a.name) for a in found]), strict=True):
            tools.append(
                McpToolView(
                    name=name,
                    title=agent.name,
                    description=agent.description.strip()
                    or f"Run the GalaxyCo agent “{agent.name}” and return its final answer.",
                    input_schema=AGENT_INPUT_SCHEMA,
                    agent_id=agent.id,
                )
            )
    tools.append(_knowledge_tool([name for _id, name in collection_choices(ctx=ctx)]))
    return tools


def find_agent_tool(*, ctx: TenantContext, name: str) -> McpToolView:
    """The agent tool called ``name`` for this caller.

    Raises:
        PermissionDeniedError: viewers (they may run no agent).
        NotFoundError: no such tool.
    """
    require(ctx, Permission.RUN_AGENT)
    for tool in list_mcp_tools(ctx=ctx):
        if tool.name == name and tool.agent_id is not None:
            return tool
    raise NotFoundError(f"The tool “{name[:64]}”")


def agent_tool_names(agents_: list[tuple[str, str]]) -> list[str]:
    """The tool name of each (agent id, agent name), unique among them, in the same order."""
    slugs = [(_NOT_NAME_CHARS.sub("_", name).strip("_") or "agent") for _id, name in agents_]
    short = Counter(agent_id[:8] for agent_id, _name in agents_)
    names = []
    for (agent_id, _name), slug in zip(agents_, slugs, strict=True):
        suffix = _NOT_NAME_CHARS.sub("_", agent_id[:8] if short[agent_id[:8]] == 1 else agent_id)[:32]
        names.append(f"{slug[: 63 - len(suffix)]}_{suffix}")
    return names


async def search_knowledge_text(
    *, ctx: TenantContext, query: object, collection: object = None, top_k: object = None
) -> str:
    """The ``knowledge_search`` tool: numbered passages with their document names, as plain text.

    ``collection`` names one collection (its name in any case, or its id); empty or None
    searches them all. ``top_k`` is 1 to 20 (default 5).

    Raises:
        ValidationError: an empty query or a ``top_k`` out of range.
        NotFoundError: no such collection in this workspace.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValidationError({"query": "Give the words to search for."})
    if top_k is None:
        top_k = DEFAULT_TOP_K
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise ValidationError({"top_k": f"Ask for 1 to {MAX_TOP_K} passages."})
    collection_id = None
    if collection is not None and (not isinstance(collection, str) or collection.strip()):
        collection_id = _collection_id(ctx, collection)
    hits = await knowledge_search.search(ctx=ctx, query=query, collection_id=collection_id, limit=top_k)
    if not hits:
        return "No passages match that query."
    passages = []
    for number, hit in enumerate(hits, start=1):
        where = f"{hit.item_name} (collection {hit.collection_name}"
        where += f", page {hit.page})" if hit.page is not None else ")"
        heading = f"\n{hit.heading}" if hit.heading else ""
        passages.append(f"[{number}] {where}{heading}\n{hit.text.strip()}")
    return "\n\n".join(passages)


def _collection_id(ctx: TenantContext, collection: object) -> str:
    if not isinstance(collection, str) or len(collection) > 200:
        raise ValidationError({"collection": "Name a collection by its name or id."})
    wanted = collection.strip()
    choices = collection_choices(ctx=ctx)
    for collection_id, name in choices:
        if wanted == collection_id or name_key(name) == name_key(wanted):
            return collection_id
    raise NotFoundError(f"The collection “{wanted[:80]}”")


def _knowledge_tool(collections: list[str]) -> McpToolView:
    named = ", ".join(f"“{name}”" for name in collections[:_LISTED_COLLECTIONS])
    more = (
        f" and {len(collections) - _LISTED_COLLECTIONS} more"
        if len(collections) > _LISTED_COLLECTIONS
        else ""
    )
    description = (
        "Search the documents of this GalaxyCo workspace's knowledge collections and return the "
        "best-matching passages, numbered, each with its document's name."
    )
    description += f" Collections: {named}{more}." if named else " The workspace has no collections yet."
    return McpToolView(
        name=KNOWLEDGE_SEARCH,
        title="Knowledge search",
        description=description,
        input_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in words."},
                "collection": {
                    "type": "string",
                    "description": "Search only this collection (its name or id); leave out to search all.",
                },
                "top_k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_TOP_K,
                    "default": DEFAULT_TOP_K,
                    "description": "How many passages to return.",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    )
