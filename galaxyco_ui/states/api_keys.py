"""Settings → API keys (admins and owners): create, reveal once, list, revoke; the rate limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import reflex as rx

from galaxyco_ui.auth.permissions import ROLE_LABELS, Permission, TenantContext, can
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services import api_keys, mcp_endpoint
from galaxyco_ui.services.api_keys import ApiKeyView
from galaxyco_ui.states.guard import guarded

DEFAULT_ROLE = "member"


class ApiKeysState(rx.State):
    keys: rx.Field[list[ApiKeyView]] = rx.field(default_factory=list)
    can_manage: bool = False
    # [value, label] of the roles a new key may have: those not above the viewer's own.
    role_options: list[list[str]] = []
    default_role: str = DEFAULT_ROLE
    errors: dict[str, str] = {}  # "name" | "role" | "expires_at" → message
    # The secret of the key just created: on screen until dismissed or the page is left.
    revealed_secret: str = ""
    revealed_name: str = ""
    per_minute: rx.Field[int] = rx.field(0)
    operator_max: rx.Field[int] = rx.field(0)
    rate_error: str = ""
    form_key: int = 0
    # "Use with MCP clients": the endpoint and a configuration to paste (no secret in it).
    mcp_url: str = ""
    mcp_config: str = ""

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.revealed_secret, self.revealed_name = "", ""
        self.errors, self.rate_error = {}, ""
        self.form_key += 1
        self.can_manage = can(ctx, Permission.MANAGE_SETTINGS)
        if not self.can_manage:
            self.keys, self.role_options = [], []
            return None
        self.keys = api_keys.list_api_keys(ctx=ctx)
        self.per_minute, self.operator_max = api_keys.get_api_rate_limit(ctx=ctx)
        self.mcp_url, self.mcp_config = mcp_endpoint.endpoint_url(), mcp_endpoint.client_config()
        self.role_options = [[role.value, ROLE_LABELS[role]] for role in api_keys.key_roles_for(ctx.role)]
        values = [value for value, _ in self.role_options]
        self.default_role = DEFAULT_ROLE if DEFAULT_ROLE in values else (values[0] if values else "")
        return None

    @rx.event
    @guarded(field_errors="errors")
    def create(self, ctx: TenantContext, form: dict):
        name = form.get("name", "")
        view, secret = api_keys.create_api_key(
            ctx=ctx,
            name=name if isinstance(name, str) else "",
            role=str(form.get("role", "")),
            expires_at=_end_of_day(form.get("expires_on", "")),
        )
        self.errors = {}
        self.form_key += 1
        self.keys = [view, *self.keys]
        self.revealed_secret, self.revealed_name = secret, view.name
        return rx.toast.success(f"API key “{view.name}” created. Copy it now.")

    @rx.event
    def dismiss_secret(self):
        self.revealed_secret, self.revealed_name = "", ""

    @rx.event
    @guarded
    def revoke(self, ctx: TenantContext, key_id: str):
        api_keys.revoke_api_key(ctx=ctx, key_id=key_id)
        self.keys = api_keys.list_api_keys(ctx=ctx)
        return rx.toast.success("API key revoked. Requests with it are refused from now on.")

    @rx.event
    @guarded(field_errors="rate_error")
    def save_rate_limit(self, ctx: TenantContext, form: dict):
        raw = form.get("per_minute", "")
        try:
            per_minute = int(str(raw).strip())
        except ValueError:
            raise ValidationError({"per_minute": "Enter a whole number."}) from None
        api_keys.set_api_rate_limit(ctx=ctx, per_minute=per_minute)
        self.per_minute, self.rate_error = per_minute, ""
        return rx.toast.success(f"Each API key may now make {per_minute} requests per minute.")


def _end_of_day(value: object) -> datetime | None:
    """A date field ("YYYY-MM-DD", or empty for no expiry) as the end of that day in UTC.

    Raises:
        ValidationError: ``expires_at``: not a date.
    """
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError({"expires_at": "Enter a date, like 2027-01-31."}) from None
    if day >= date.max:
        raise ValidationError({"expires_at": "Choose an earlier date."})
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
