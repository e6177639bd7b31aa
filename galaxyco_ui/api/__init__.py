"""REST routes mounted on the Reflex backend: another transport over the same services."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from galaxyco_ui.api import auth_routes, health, knowledge_routes, oauth_routes
from galaxyco_ui.api.upload_limit import UploadSizeLimitMiddleware
from galaxyco_ui.api.v1 import PREFIX, create_v1
from galaxyco_ui.infra.logging import RequestContextMiddleware


def create_api() -> Starlette:
    """The Starlette app Reflex mounts its own routes into (``api_transformer``)."""
    return Starlette(
        routes=[
            *health.routes,
            *auth_routes.routes,
            *oauth_routes.routes,
            *knowledge_routes.routes,
            Mount(PREFIX, app=create_v1()),
        ],
        middleware=[Middleware(RequestContextMiddleware), Middleware(UploadSizeLimitMiddleware)],
    )
