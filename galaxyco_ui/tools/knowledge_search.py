"""knowledge_search: the agent's way into its knowledge collections.

Searches only the collections the agent was given (``ToolContext.collection_ids``) in
the run's workspace, through the search core ``knowledge.search.search_chunks`` that the
search console's service uses too. Each passage comes back numbered ``[n]`` (numbers are
stable for the whole run, ``ToolContext.sources``) so the answer can cite it
(``instructions`` tells the agent how); ``data["sources"]`` lets the run page turn those
numbers into links to the item and chunk.
"""

from __future__ import annotations

from typing import Any

from galaxyco_ui.knowledge.search import search_chunks
from galaxyco_ui.tools.base import Tool, ToolContext, ToolError, ToolResult
from galaxyco_ui.tools.catalog import tool_info

_INFO = tool_info("knowledge_search")
_PASSAGE_CHARS = 1_800
CITATION_INSTRUCTIONS = (
    "You can search this workspace's documents with the knowledge_search tool. "
    "Base answers about them on what it returns, and cite each passage you use with its "
    "number in square brackets, e.g. [1] or [2][3], right after the sentence it supports. "
    "If the search finds nothing relevant, say so instead of guessing."
)


class KnowledgeSearchTool(Tool):
    name = _INFO.name
    description = (
        f"{_INFO.description} Returns the most relevant passages, each numbered [n] with its "
        "document, page and section. Cite passages you use as [n]."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "What to look for: keywords or a question.",
                "minLength": 1,
                "maxLength": 500,
            },
            "limit": {
                "type": "integer",
                "description": "How many passages to return (default 5).",
                "minimum": 1,
                "maximum": 10,
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    }
    timeout_seconds = 20.0
    max_result_chars = 20_000
    instructions = CITATION_INSTRUCTIONS

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        query = str(arguments["query"]).strip()
        if not query:
            raise ToolError("The query is empty. Say what to look for.")
        if not ctx.collection_ids:
            raise ToolError("This agent has no knowledge collections to search.")
        hits = await search_chunks(
            workspace_id=ctx.workspace_id,
            query=query,
            collection_ids=list(ctx.collection_ids),
            limit=int(arguments.get("limit", 5)),
        )
        if not hits:
            return ToolResult(
                content=f"No passages matched “{query}”. Try other words, or answer that the documents do not say.",
                data={"query": query, "sources": []},
            )
        blocks: list[str] = []
        sources: list[dict[str, Any]] = []
        for hit, (item_name, collection_name) in hits:
            row = hit.row
            number = ctx.sources.number(row.chunk_id)
            where = [f"“{item_name}”"]
            if row.page is not None:
                where.append(f"page {row.page}")
            if row.heading:
                where.append(f"section “{row.heading}”")
            text = row.text if len(row.text) <= _PASSAGE_CHARS else row.text[:_PASSAGE_CHARS] + " …"
            blocks.append(f"[{number}] {', '.join(where)}\n{text}")
            sources.append(
                {
                    "n": number,
                    "item_id": row.item_id,
                    "item_name": item_name,
                    "collection_name": collection_name,
                    "chunk": row.ordinal,
                    "page": row.page,
                    "heading": row.heading,
                }
            )
        header = f"{len(hits)} passages for “{query}”. Cite them by number, e.g. [{sources[0]['n']}].\n\n"
        return ToolResult(content=header + "\n\n".join(blocks), data={"query": query, "sources": sources})
