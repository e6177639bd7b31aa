"""Reflex configuration. Values come from galaxyco_ui.config (the only env reader)."""

from urllib.parse import urlsplit

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra import server_signals

_settings = get_settings()
_public = urlsplit(_settings.public_url)

# `reflex run --env prod` serves through gunicorn with GalaxyCo's uvicorn worker, one
# process in the embedded mode (infra/asgi_worker.py), and stops when `reflex` gets SIGTERM.
server_signals.install_launcher(scale_out=bool(_settings.redis_url))

config = rx.Config(
    app_name="galaxyco_ui",
    show_built_with_reflex=False,
    telemetry_enabled=False,
    frontend_port=_settings.port,
    backend_port=_settings.port,
    api_url=_settings.public_url,
    deploy_url=_settings.public_url,
    redis_url=_settings.redis_url or None,
    state_manager_mode="redis" if _settings.redis_url else "memory",
    # Only our own pages may open the websocket or call the API from a browser.
    cors_allowed_origins=[f"{_public.scheme}://{_public.netloc}"],
    # X-Forwarded-For is judged once, by galaxyco_ui/infra/client_address.py
    # (TRUSTED_PROXY_HOPS); Reflex must hand it the socket peer untouched.
    trusted_proxy_hops=0,
    disable_plugins=[SitemapPlugin],
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="indigo", gray_color="slate", radius="medium", scaling="100%")
        )
    ],
)
