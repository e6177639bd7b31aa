"""The platform API, ``/api/v1``: one more transport over the services.

FastAPI builds the OpenAPI 3.1 document from this code (``/api/v1/openapi.json``) and
the interactive docs (``/api/v1/docs``) load their assets from this app, never a CDN.
Authentication, errors, pagination and idempotency live in the modules beside this one;
each resource module defines a ``router`` included below.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse
from starlette.routing import Route

from galaxyco_ui.api.v1 import (
    agents,
    approvals,
    hooks,
    knowledge,
    mcp,
    openai_compat,
    problems,
    runs,
    schedules,
)

PREFIX = "/api/v1"
_DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

DESCRIPTION = """\
Start runs of GalaxyCo agents, follow them live, and manage agents, knowledge and
schedules from your own systems.

* **Auth**: `Authorization: Bearer gx_…` with a key from *Settings → API keys*; a key acts
  in its workspace with its role.
* **Errors**: `application/problem+json` (RFC 9457); 422 carries `errors` per field.
* **Lists**: `?limit=` (≤ 200) and `?cursor=` from the previous page's `next_cursor`.
* **Retries**: send `Idempotency-Key` on a create to make it safe to repeat.
* **MCP**: `/api/v1/mcp` serves the agents and knowledge search as MCP tools (Streamable
  HTTP, the same keys); it speaks JSON-RPC, so it is not listed below.
"""


def create_v1() -> FastAPI:
    app = FastAPI(
        title="GalaxyCo API",
        version="1",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=problems.PROBLEMS,
    )
    problems.install(app)
    app.mount("/docs/assets", StaticFiles(directory=_DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{PREFIX}/openapi.json",
            title="GalaxyCo API",
            swagger_js_url=f"{PREFIX}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/docs/assets/swagger-ui.css",
            swagger_favicon_url="/favicon.svg",
        )

    for module in (agents, approvals, hooks, knowledge, openai_compat, runs, schedules):
        app.include_router(module.router)
    # MCP is JSON-RPC with its own schema: served here, not described in the OpenAPI document.
    app.router.routes.append(Route(mcp.PATH, mcp.McpEndpoint(), methods=["GET", "POST", "DELETE"]))
    return app
