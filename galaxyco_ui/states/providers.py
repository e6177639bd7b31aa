"""Settings → Providers: each provider's key (never shown back), base URL and a live test."""

from __future__ import annotations

import asyncio

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import provider_keys
from galaxyco_ui.services.provider_keys import ProviderKeyView
from galaxyco_ui.states.guard import guarded


class ProvidersState(rx.State):
    providers: list[ProviderKeyView] = []
    can_manage: bool = False
    errors: dict[str, str] = {}  # "<provider>.<field>" → message
    testing: str = ""
    form_key: int = 0

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.providers = provider_keys.list_provider_keys(ctx=ctx)
        self.can_manage = can(ctx, Permission.MANAGE_PROVIDER_KEYS)
        self.errors = {}
        return None

    @rx.event
    @guarded
    async def save(self, ctx: TenantContext, form: dict):
        provider = str(form.get("provider", ""))
        try:
            # Vetting the base URL resolves its host (blocking DNS): off the event loop.
            view = await asyncio.to_thread(
                provider_keys.set_provider_key,
                ctx=ctx,
                provider=provider,
                api_key=str(form.get("api_key", "")),
                base_url=str(form.get("base_url", "")),
            )
        except ValidationError as exc:
            self.errors = {f"{provider}.{k}": v for k, v in exc.field_errors.items()}
            return None
        self.form_key += 1
        if view.notice:  # the base URL changed and the stored key was removed
            return [rx.toast.warning(view.notice, close_button=True), ProvidersState.load]
        return [rx.toast.success("Key saved. Use “Test connection” to check it."), ProvidersState.load]

    @rx.event
    @guarded
    def remove(self, ctx: TenantContext, provider: str):
        provider_keys.remove_provider_key(ctx=ctx, provider=provider)
        return [rx.toast.success("Key removed."), ProvidersState.load]

    @rx.event
    @guarded(reset={"testing": ""})
    async def check(self, ctx: TenantContext, provider: str):
        self.testing = provider
        yield
        view = await provider_keys.check_provider_key(ctx=ctx, provider=provider)
        self.testing = ""
        self.providers = [view if p.provider == provider else p for p in self.providers]
        if view.last_test_ok:
            yield rx.toast.success(view.last_test_message)
        else:
            yield rx.toast.error(view.last_test_message, close_button=True)
