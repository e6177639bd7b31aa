"""Settings → Webhooks (admins and owners): endpoints, their secrets and delivery logs."""

from __future__ import annotations

import asyncio

import reflex as rx

from galaxyco_ui.auth.permissions import Permission, TenantContext, can
from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import webhooks
from galaxyco_ui.services.webhooks import EVENT_TYPES, WebhookDeliveryView, WebhookEndpointView
from galaxyco_ui.states.guard import guarded

LOG_PAGE = 20
# How long "Send test event" waits for the attempt before showing the log (it goes on
# in the background after that; "Refresh" shows the outcome).
TEST_WAIT_SECONDS = 3.0


def event_field(event_type: str) -> str:
    """The form field of an event's checkbox (``event_run_succeeded``)."""
    return "event_" + event_type.replace(".", "_")


def _events(form: dict) -> list[str]:
    return [t for t in EVENT_TYPES if form.get(event_field(t))]


def _text(form: dict, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


class WebhooksState(rx.State):
    can_manage: bool = False
    endpoints: rx.Field[list[WebhookEndpointView]] = rx.field(default_factory=list)
    errors: dict[str, str] = {}  # the add form: "url" | "description" | "events" → message
    form_key: int = 0
    # The endpoint whose settings are open for editing, and that form's errors.
    edit_id: str = ""
    edit_errors: dict[str, str] = {}
    # The endpoint whose secret is on screen (after "Reveal" or "Rotate"), and the secret.
    secret_for: str = ""
    secret: str = ""
    # The endpoint whose delivery log is open, and its newest deliveries.
    log_for: str = ""
    deliveries: rx.Field[list[WebhookDeliveryView]] = rx.field(default_factory=list)
    more_deliveries: bool = False
    _log_cursor: str = ""  # backend-only: where the next page of the log starts
    sending: str = ""  # the endpoint a test event is being sent to

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.can_manage = can(ctx, Permission.MANAGE_SETTINGS)
        self.errors, self.edit_id, self.edit_errors = {}, "", {}
        self.secret_for, self.secret, self.sending = "", "", ""
        self._close_log()
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx) if self.can_manage else []
        return None

    @rx.event
    @guarded(field_errors="errors")
    async def create(self, ctx: TenantContext, form: dict):
        # Vetting the URL resolves its host (blocking DNS): off the event loop.
        view = await asyncio.to_thread(
            webhooks.create_webhook_endpoint,
            ctx=ctx,
            url=_text(form, "url"),
            description=_text(form, "description"),
            events=_events(form),
        )
        self.errors = {}
        self.form_key += 1
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx)
        self.secret_for, self.secret = view.id, webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=view.id)
        return rx.toast.success("Endpoint added. Configure its signing secret in your receiver.")

    @rx.event
    @guarded
    def start_edit(self, ctx: TenantContext, endpoint_id: str):
        self._endpoint(endpoint_id)  # only an endpoint this client was shown
        self.edit_id, self.edit_errors = endpoint_id, {}
        return None

    @rx.event
    @guarded
    def cancel_edit(self, ctx: TenantContext):
        self.edit_id, self.edit_errors = "", {}
        return None

    @rx.event
    @guarded(field_errors="edit_errors")
    async def save(self, ctx: TenantContext, form: dict):
        if not self.edit_id:
            return None
        await asyncio.to_thread(
            webhooks.update_webhook_endpoint,
            ctx=ctx,
            endpoint_id=self.edit_id,
            url=_text(form, "url"),
            description=_text(form, "description"),
            events=_events(form),
        )
        self.edit_id, self.edit_errors = "", {}
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx)
        return rx.toast.success("Endpoint saved.")

    @rx.event
    @guarded
    def set_enabled(self, ctx: TenantContext, endpoint_id: str, enabled: bool):
        view = webhooks.set_webhook_endpoint_enabled(
            ctx=ctx, endpoint_id=endpoint_id, enabled=enabled is True
        )
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx)
        return rx.toast.success("Endpoint enabled." if view.enabled else "Endpoint disabled.")

    @rx.event
    @guarded
    def reveal(self, ctx: TenantContext, endpoint_id: str):
        self.secret = webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=endpoint_id)
        self.secret_for = endpoint_id
        return None

    @rx.event
    @guarded
    def hide_secret(self, ctx: TenantContext):
        self.secret_for, self.secret = "", ""
        return None

    @rx.event
    @guarded
    def rotate(self, ctx: TenantContext, endpoint_id: str):
        self.secret = webhooks.rotate_webhook_secret(ctx=ctx, endpoint_id=endpoint_id)
        self.secret_for = endpoint_id
        return rx.toast.success("New secret in use: update your receiver.")

    @rx.event
    @guarded
    def delete(self, ctx: TenantContext, endpoint_id: str):
        webhooks.delete_webhook_endpoint(ctx=ctx, endpoint_id=endpoint_id)
        if endpoint_id in (self.log_for, self.edit_id, self.secret_for):
            self._close_log()
            self.edit_id, self.secret_for, self.secret = "", "", ""
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx)
        return rx.toast.success("Endpoint deleted.")

    @rx.event
    @guarded(reset={"sending": ""})
    async def send_test(self, ctx: TenantContext, endpoint_id: str):
        self.sending = endpoint_id
        yield
        sent = await webhooks.send_test_event(ctx=ctx, endpoint_id=endpoint_id)
        deadline = asyncio.get_running_loop().time() + TEST_WAIT_SECONDS
        page = webhooks.list_webhook_deliveries(ctx=ctx, endpoint_id=endpoint_id, limit=LOG_PAGE)
        while (
            any(d.id == sent.id and not d.attempt_log for d in page.deliveries)
            and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.2)
            page = webhooks.list_webhook_deliveries(ctx=ctx, endpoint_id=endpoint_id, limit=LOG_PAGE)
        self.sending = ""
        self.log_for = endpoint_id
        self.deliveries, self._log_cursor = page.deliveries, page.next_cursor
        self.more_deliveries = bool(page.next_cursor)
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx)
        yield rx.toast.success("Test event sent: its delivery is in the log below.")

    @rx.event
    @guarded
    def show_log(self, ctx: TenantContext, endpoint_id: str):
        page = webhooks.list_webhook_deliveries(ctx=ctx, endpoint_id=endpoint_id, limit=LOG_PAGE)
        self.log_for = endpoint_id
        self.deliveries, self._log_cursor = page.deliveries, page.next_cursor
        self.more_deliveries = bool(page.next_cursor)
        return None

    @rx.event
    @guarded
    def refresh_log(self, ctx: TenantContext):
        if not self.log_for:
            return None
        page = webhooks.list_webhook_deliveries(ctx=ctx, endpoint_id=self.log_for, limit=LOG_PAGE)
        self.deliveries, self._log_cursor = page.deliveries, page.next_cursor
        self.more_deliveries = bool(page.next_cursor)
        self.endpoints = webhooks.list_webhook_endpoints(ctx=ctx)
        return None

    @rx.event
    @guarded
    def load_older(self, ctx: TenantContext):
        if not self.log_for or not self._log_cursor:
            return None
        older = webhooks.list_webhook_deliveries(
            ctx=ctx, endpoint_id=self.log_for, cursor=self._log_cursor, limit=LOG_PAGE
        )
        self._log_cursor = older.next_cursor
        self.more_deliveries = bool(older.next_cursor)
        self.deliveries = self.deliveries + older.deliveries
        return None

    @rx.event
    @guarded
    def hide_log(self, ctx: TenantContext):
        self._close_log()
        return None

    def _close_log(self) -> None:
        self.log_for, self.deliveries, self._log_cursor, self.more_deliveries = "", [], "", False

    def _endpoint(self, endpoint_id: str) -> WebhookEndpointView:
        for endpoint in self.endpoints:
            if endpoint.id == endpoint_id:
                return endpoint
        raise NotFoundError("That webhook endpoint")
