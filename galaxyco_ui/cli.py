"""Operator commands: ``python -m galaxyco_ui.cli <command>``.

    reset-link EMAIL    print a single-use password reset link for the account with
                        EMAIL (valid PASSWORD_RESET_TTL_MINUTES), for installs that send
                        no email. Following it also verifies the address. The creation
                        is recorded in the audit log of the user's workspaces.
    backfill-usage [--workspace ID]
                        rebuild the usage rollup (usage_daily) from the runs table,
                        for every workspace or one; idempotent, safe while the app
                        runs (runs finishing meanwhile wait for it, then count once).

Exit codes: 0 done, 1 no such account, 2 bad usage or input (argparse's convention),
3 the database could not be read (not migrated, unreachable).
The command reads the same configuration as the app (``DATABASE_URL``, ``SECRET_KEY``,
``PUBLIC_URL``...): run it with the app's environment, or the link will not work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from galaxyco_ui.config import check_startup_settings, get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.runs.usage import rebuild_usage
from galaxyco_ui.services import email_links

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m galaxyco_ui.cli", description="GalaxyCo operator commands."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reset = commands.add_parser(
        "reset-link",
        help="print a single-use password reset link for an account",
        description="Print a single-use password reset link (for installs without SMTP). "
        "Give it only to the person who owns the address.",
    )
    reset.add_argument("email", help="the account's email address")
    backfill = commands.add_parser(
        "backfill-usage",
        help="rebuild the usage rollup from the runs table",
        description="Recompute usage_daily (what the usage page reads) from the runs table. "
        "Run it once after upgrading to migration 0006; running it again changes nothing.",
    )
    backfill.add_argument("--workspace", default=None, metavar="ID", help="only this workspace's rows")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (messages go to stdout / stderr)."""
    args = _parser().parse_args(argv)
    check_startup_settings(get_settings())  # the link is signed with SECRET_KEY
    if args.command == "backfill-usage":
        return _backfill_usage(args.workspace)
    if args.command == "reset-link":
        try:
            link = email_links.operator_reset_link(email=args.email)
        except ValidationError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return EXIT_USAGE
        except NotFoundError:
            print(f"error: no account has the email address {args.email.strip()!r}.", file=sys.stderr)
            return EXIT_NOT_FOUND
        except SQLAlchemyError as exc:
            print(f"error: the database could not be read ({type(exc).__name__}).", file=sys.stderr)
            return EXIT_DATABASE
        minutes = get_settings().password_reset_ttl_minutes
        print(link)
        print(
            f"Valid for {minutes} minutes and usable once. Send it only to the owner of the address.",
            file=sys.stderr,
        )
    return EXIT_OK


def _backfill_usage(workspace_id: str | None) -> int:
    try:
        with session_scope() as session:
            rows = rebuild_usage(session, workspace_id=workspace_id)
    except SQLAlchemyError as exc:
        print(f"error: the database could not be read ({type(exc).__name__}).", file=sys.stderr)
        return EXIT_DATABASE
    scope = f"workspace {workspace_id}" if workspace_id else "every workspace"
    print(f"usage_daily rebuilt for {scope}: {rows} rows.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
