"""Assembles the app: rx.App, its pages and the API routes. Nothing else."""

import asyncio

import reflex as rx

from galaxyco_ui import job_catalog  # noqa: F401  (registers every background job: the embedded queue runs them)
from galaxyco_ui.api import create_api
from galaxyco_ui.config import check_startup_settings, get_settings
from galaxyco_ui.infra import server_signals
from galaxyco_ui.infra.logging import configure_logging
from galaxyco_ui.infra.sentry import init_sentry
from galaxyco_ui.infra.tracing import configure_tracing
from galaxyco_ui.knowledge.ingest import maintenance_loop
from galaxyco_ui.pages.account_links import forgot_password_page, reset_password_page, verify_email_page
from galaxyco_ui.pages.agents import agent_editor_page, agents_page
from galaxyco_ui.pages.approvals import approvals_page
from galaxyco_ui.pages.auth import login_page, signup_page
from galaxyco_ui.pages.invite import invite_page
from galaxyco_ui.pages.knowledge import knowledge_page
from galaxyco_ui.pages.knowledge_collection import collection_page
from galaxyco_ui.pages.knowledge_item import item_page
from galaxyco_ui.pages.not_found import not_found_page
from galaxyco_ui.pages.profile import profile_page, security_page, sessions_page
from galaxyco_ui.pages.run_detail import run_page
from galaxyco_ui.pages.runs_list import runs_page
from galaxyco_ui.pages.settings.audit import audit_page
from galaxyco_ui.pages.settings.index import settings_page
from galaxyco_ui.pages.team import team_page
from galaxyco_ui.pages.usage import usage_page
from galaxyco_ui.providers.reachability import reachability_loop
from galaxyco_ui.runs.worker import scheduler_loop
from galaxyco_ui.services.workers import recovery_loop
from galaxyco_ui.states.account_links import ForgotPasswordState, ResetPasswordState, VerifyEmailState
from galaxyco_ui.states.agent_history import AgentHistoryState
from galaxyco_ui.states.agent_hook import AgentHookState
from galaxyco_ui.states.agent_run import AgentRunState
from galaxyco_ui.states.agents import AgentEditorState, AgentsState
from galaxyco_ui.states.api_keys import ApiKeysState
from galaxyco_ui.states.approvals import ApprovalsState
from galaxyco_ui.states.audit_log import AuditLogState
from galaxyco_ui.states.auth import AuthFormState
from galaxyco_ui.states.invite import InviteState
from galaxyco_ui.states.knowledge import KnowledgeState
from galaxyco_ui.states.knowledge_collection import CollectionState
from galaxyco_ui.states.knowledge_item import ItemState
from galaxyco_ui.states.knowledge_settings import KnowledgeSettingsState
from galaxyco_ui.states.limits import LimitsState
from galaxyco_ui.states.mcp_servers import McpServersState
from galaxyco_ui.states.profile import ProfileState
from galaxyco_ui.states.providers import ProvidersState
from galaxyco_ui.states.run_detail import RunState
from galaxyco_ui.states.runs_list import RunsState
from galaxyco_ui.states.session import SessionState
from galaxyco_ui.states.settings import SettingsState
from galaxyco_ui.states.team import TeamState
from galaxyco_ui.states.usage import AgentUsageState, UsageState
from galaxyco_ui.states.webhooks import WebhooksState
from galaxyco_ui.states.worker_banner import WorkerBannerState

check_startup_settings(get_settings())  # production refuses a missing or weak SECRET_KEY
configure_logging()
init_sentry()
configure_tracing()  # OpenTelemetry over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
server_signals.install()  # granian (REFLEX_USE_GRANIAN=true) could deadlock on SIGTERM (see there)


async def embedded_scheduler() -> None:
    """In the embedded mode this process fires schedules, maintains the knowledge index
    and checks the providers' reachability; with Redis the workers do, and this process
    only recovers runs (fails those of a lost worker, even when no worker is left)."""
    if not get_settings().redis_url:
        await asyncio.gather(scheduler_loop(), maintenance_loop(), reachability_loop())
    else:
        await recovery_loop()


app = rx.App(
    stylesheets=["/styles.css"],
    api_transformer=create_api(),
    html_lang="en",
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
)

app.register_lifespan_task(embedded_scheduler)

# Page guards are UX only: every handler and service re-checks the session.
shell = SessionState.load_shell


def title(name: str) -> str:
    return f"{name} · GalaxyCo"


app.add_page(rx.fragment(), route="/", on_load=AuthFormState.go_home, title="GalaxyCo")
app.add_page(login_page, route="/login", on_load=AuthFormState.load, title=title("Sign in"))
app.add_page(signup_page, route="/signup", on_load=AuthFormState.load, title=title("Create account"))
app.add_page(
    forgot_password_page,
    route="/forgot-password",
    on_load=ForgotPasswordState.load,
    title=title("Reset your password"),
)
app.add_page(
    reset_password_page,
    route="/reset-password",
    on_load=ResetPasswordState.load,
    title=title("Choose a new password"),
)
app.add_page(
    verify_email_page, route="/verify-email", on_load=VerifyEmailState.load, title=title("Email verification")
)
app.add_page(invite_page, route="/invite/[token]", on_load=InviteState.load, title=title("Invitation"))
app.add_page(agents_page, route="/agents", on_load=[shell, AgentsState.load], title=title("Agents"))
app.add_page(
    agent_editor_page, route="/agents/new", on_load=[shell, AgentEditorState.load], title=title("New agent")
)
app.add_page(
    agent_editor_page,
    route="/agents/[agent_id]",
    on_load=[
        shell,
        AgentEditorState.load,
        AgentRunState.load,
        AgentHookState.load,
        AgentUsageState.load,
        AgentHistoryState.load,
    ],
    title=title("Agent"),
)
app.add_page(team_page, route="/team", on_load=[shell, TeamState.load], title=title("Team"))
app.add_page(
    settings_page,
    route="/settings",
    on_load=[
        shell,
        SettingsState.load,
        ProvidersState.load,
        KnowledgeSettingsState.load,
        ApiKeysState.load,
        WebhooksState.load,
        McpServersState.load,
        LimitsState.load,
    ],
    title=title("Settings"),
)
app.add_page(
    audit_page, route="/settings/audit", on_load=[shell, AuditLogState.load], title=title("Audit log")
)
app.add_page(
    knowledge_page, route="/knowledge", on_load=[shell, KnowledgeState.load], title=title("Knowledge")
)
app.add_page(
    collection_page,
    route="/knowledge/[collection_id]",
    on_load=[shell, CollectionState.load],
    title=title("Knowledge collection"),
)
app.add_page(
    item_page, route="/knowledge/items/[item_id]", on_load=[shell, ItemState.load], title=title("Document")
)
app.add_page(
    runs_page, route="/runs", on_load=[shell, RunsState.load, WorkerBannerState.load], title=title("Runs")
)
app.add_page(usage_page, route="/usage", on_load=[shell, UsageState.load], title=title("Usage"))
app.add_page(
    approvals_page, route="/approvals", on_load=[shell, ApprovalsState.load], title=title("Approvals")
)
app.add_page(
    run_page,
    route="/runs/[run_id]",
    on_load=[shell, RunState.load, WorkerBannerState.load],
    title=title("Run"),
)
app.add_page(profile_page, route="/profile", on_load=[shell, ProfileState.load], title=title("Your account"))
app.add_page(
    security_page,
    route="/profile/security",
    on_load=[shell, ProfileState.leave_security, ProfileState.load],
    title=title("Two-factor authentication"),
)
app.add_page(
    sessions_page, route="/profile/sessions", on_load=[shell, ProfileState.load], title=title("Sessions")
)
app.add_page(not_found_page, route="404", title=title("Page not found"))
