"""Alembic environment: migrations for SQLite and PostgreSQL from one set of scripts."""

from __future__ import annotations

from sqlmodel import SQLModel

import galaxyco_ui.models  # noqa: F401  (registers every table)
from alembic import context
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import make_engine

target_metadata = SQLModel.metadata


def _url() -> str:
    # Tests pass the URL through the Alembic config; the app uses DATABASE_URL.
    return context.config.attributes.get("database_url") or get_settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
