"""Budgets: monthly spending caps per workspace, agent or member, and the alerts they raised.

A ``Budget`` row caps one scope for each UTC calendar month:

- ``scope="workspace"`` (``subject_id=""``): every run in the workspace;
- ``scope="agent"`` (``subject_id`` = agent id): that agent's runs;
- ``scope="member"`` (``subject_id`` = user id): the runs that member started.

``monthly_usd`` caps the cost of priced runs; ``monthly_tokens`` caps the tokens of runs
whose model has no price (their cost is unknown, so dollars cannot cap them). Either may
be None (no cap of that kind). Spending is the month's ``usage_daily`` rows plus the runs
still in flight (``runs/budgets.py``).

``BudgetAlert`` records that an 80 % or 100 % alert went out for a scope, measure and
month; its primary key makes "once per period" hold even when two runs cross together.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import TenantMixin, new_id, utcnow

BUDGET_SCOPES = ("workspace", "agent", "member")
BUDGET_MEASURES = ("usd", "tokens")
ALERT_THRESHOLDS = (80, 100)


class Budget(TenantMixin, table=True):
    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "scope", "subject_id", name="uq_budgets_workspace_id_scope_subject_id"
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    scope: str = Field(max_length=16)
    subject_id: str = Field(default="", max_length=32)
    monthly_usd: Decimal | None = Field(default=None, sa_type=Numeric(12, 2))
    monthly_tokens: int | None = Field(default=None, sa_type=BigInteger)


class BudgetAlert(SQLModel, table=True):
    __tablename__ = "budget_alerts"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=32)
    scope: str = Field(primary_key=True, max_length=16)
    subject_id: str = Field(primary_key=True, max_length=32)
    measure: str = Field(primary_key=True, max_length=8)  # "usd" | "tokens"
    period: str = Field(primary_key=True, max_length=7)  # "2026-11": the UTC month
    threshold: int = Field(primary_key=True)  # 80 | 100
    spent: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 6))
    limit: Decimal = Field(default=Decimal(0), sa_type=Numeric(16, 2))
    created_at: datetime = Field(default_factory=utcnow)
