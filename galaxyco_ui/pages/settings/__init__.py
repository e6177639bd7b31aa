"""The settings pages, one module per route.

The settings sections (General, Providers, Knowledge, API keys) are cards on the one
route ``/settings`` (``index.py``); the cards live in ``components/``. A section that
grows a route of its own gets a module here, registered in ``galaxyco_ui.py`` under
``/settings/...``: the audit log (``audit.py``, ``/settings/audit``), linked from a card
on ``/settings``.
"""

from galaxyco_ui.pages.settings.audit import audit_page
from galaxyco_ui.pages.settings.index import settings_page

__all__ = ["audit_page", "settings_page"]
