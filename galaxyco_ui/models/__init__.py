"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from galaxyco_ui.models.agents import Agent, AgentVersion
from galaxyco_ui.models.api import (
    AgentHook,
    ApiKey,
    IdempotencyRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from galaxyco_ui.models.approvals import ToolApproval
from galaxyco_ui.models.audit import AuditEvent
from galaxyco_ui.models.base import new_id, utcnow
from galaxyco_ui.models.budgets import Budget, BudgetAlert
from galaxyco_ui.models.knowledge import ItemStatus, KnowledgeCollection, KnowledgeItem
from galaxyco_ui.models.mcp import McpServer
from galaxyco_ui.models.notifications import Notification, NotificationPref
from galaxyco_ui.models.provider_keys import ProviderKey
from galaxyco_ui.models.runs import Run, RunStep, Schedule
from galaxyco_ui.models.usage import UsageDaily
from galaxyco_ui.models.users import OAuthAccount, RecoveryCode, User, UserSession
from galaxyco_ui.models.workspaces import Invitation, Workspace, WorkspaceMember

__all__ = [
    "Agent",
    "AgentHook",
    "AgentVersion",
    "ApiKey",
    "AuditEvent",
    "Budget",
    "BudgetAlert",
    "IdempotencyRecord",
    "Invitation",
    "ItemStatus",
    "KnowledgeCollection",
    "KnowledgeItem",
    "McpServer",
    "Notification",
    "NotificationPref",
    "OAuthAccount",
    "ProviderKey",
    "RecoveryCode",
    "Run",
    "RunStep",
    "Schedule",
    "ToolApproval",
    "UsageDaily",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
    "WorkspaceMember",
    "new_id",
    "utcnow",
]
