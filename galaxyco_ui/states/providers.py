"""Settings → Providers: each provider's key (never shown back), base URL and a live test."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, can
from galaxyco_ui.errors import GalaxyError, ValidationError
from galaxyco_ui.services import provider_keys
from galaxyco_ui.services.provider_keys import ProviderKeyView
from galaxyco_ui.states.session import error_toast, require_page_auth, tenant_context


class ProvidersState(rx.State):
    providers: list[ProviderKeyView] = []
    can_manage: bool = False
    errors: dict[str, str] = {}  # "<provider>.<field>" → message
    testing: str = ""
    form_key: int = 0

    @rx.event
    def load(self):
        ctx = require_page_auth(self)
        if ctx is None:
            return None
        self.providers = provider_keys.list_provider_keys(ctx=ctx)
        self.can_manage = can(ctx, Permission.MANAGE_PROVIDER_KEYS)
        self.errors = {}
        return None

    @rx.event
    def save(self, form: dict):
        provider = form.get("provider", "")
        try:
            provider_keys.set_provider_key(
                ctx=tenant_context(self),
                provider=provider,
                api_key=form.get("api_key", ""),
                base_url=form.get("base_url", ""),
            )
        except ValidationError as exc:
            self.errors = {f"{provider}.{k}": v for k, v in exc.field_errors.items()}
            return None
        except GalaxyError as exc:
            return error_toast(exc)
        self.form_key += 1
        return [rx.toast.success("Key saved. Use “Test connection” to check it."), ProvidersState.load]

    @rx.event
    def remove(self, provider: str):
        try:
            provider_keys.remove_provider_key(ctx=tenant_context(self), provider=provider)
        except GalaxyError as exc:
            return error_toast(exc)
        return [rx.toast.success("Key removed."), ProvidersState.load]

    @rx.event
    async def check(self, provider: str):
        self.testing = provider
        yield
        try:
            view = await provider_keys.check_provider_key(ctx=tenant_context(self), provider=provider)
        except GalaxyError as exc:
            self.testing = ""
            yield error_toast(exc)
            return
        self.testing = ""
        self.providers = [view if p.provider == provider else p for p in self.providers]
        if view.last_test_ok:
            yield rx.toast.success(view.last_test_message)
        else:
            yield rx.toast.error(view.last_test_message, close_button=True)
