"""REST routes mounted on the Reflex backend: another transport over the same services."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount

from galaxyco_ui.api import auth_routes, health, knowledge_routes, metrics_route, oauth_routes
from galaxyco_ui.api.http_metrics import HttpMetricsMiddleware
from galaxyco_ui.api.upload_limit import UploadSizeLimitMiddleware
from galaxyco_ui.api.v1 import PREFIX, create_v1
from galaxyco_ui.api.v1.problems import problem
from galaxyco_ui.infra.logging import RequestContextMiddleware


def create_api() -> Starlette:
    """The Starlette app Reflex mounts its own routes into (``api_transformer``)."""
    return Starlette(
        routes=[
            *health.routes,
            *auth_routes.routes,
            *oauth_routes.routes,
            *knowledge_routes.routes,
            *metrics_route.routes,
            Mount(PREFIX, app=create_v1()),
        ],
        middleware=[
            Middleware(HttpMetricsMiddleware),  # outermost: times everything, counts websockets
            Middleware(RequestContextMiddleware),
            Middleware(UploadSizeLimitMiddleware),
        ],
        exception_handlers={404: _not_found},
    )


async def _not_found(request: Request, _error: Exception) -> Response:
    # No route matched. Starlette's mounts never match a path holding a newline (%0A), so
    # such a request for the platform API ends here: answer it as that API answers.
    if request.scope["path"].startswith(f"{PREFIX}/"):
        return problem(404, "Not Found")
    return PlainTextResponse("Not Found", status_code=404)
