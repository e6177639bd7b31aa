"""The notifications the runs engine records: a scheduled run that failed.

Called in the transaction that puts a run in its terminal state (``store.finish_run``,
``store.sweep_lost_runs``), like its webhook event; the caller announces the result
after commit. The recipient is the person whose schedule started the run (the run's
``created_by``): the schedule and its agent are theirs to fix (owners and admins see
every failure on the Runs screen). A skipped slot, which the workspace's limits cause,
also goes to the owners and admins (``services/schedules.py``).
"""

from __future__ import annotations

from sqlmodel import Session

from galaxyco_ui import notifications
from galaxyco_ui.models import Run

ERROR_EXCERPT = 500


def agent_name(run: Run) -> str:
    return str(run.agent_snapshot.get("name", "")) or "an agent"


def record_run_notice(session: Session, run: Run) -> notifications.Announcement | None:
    """Record "scheduled run failed" for a run that just failed, if a schedule started it."""
    if run.status != "failed" or run.trigger != "schedule" or not run.created_by:
        return None
    error = run.error.strip()
    return notifications.record(
        session,
        workspace_id=run.workspace_id,
        kind="schedule_failed",
        title=f"Scheduled run of {agent_name(run)} failed",
        body=error[:ERROR_EXCERPT] + ("…" if len(error) > ERROR_EXCERPT else ""),
        link=f"/runs/{run.id}",
        user_ids=[run.created_by],
    )
