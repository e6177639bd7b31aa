"""The settings pages, one module per route.

Today every settings section (General, Providers, Knowledge, Audit log) is a card on the
one route ``/settings`` (``index.py``); the cards live in ``components/``. A section that
grows a route of its own (API keys next) gets a module here, registered in
``galaxyco_ui.py`` under ``/settings/...``.
"""

from galaxyco_ui.pages.settings.index import settings_page

__all__ = ["settings_page"]
