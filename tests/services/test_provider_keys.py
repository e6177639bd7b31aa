"""Provider keys: encrypted at rest, never shown back, admin-only, workspace-scoped."""

import pytest
from sqlalchemy import text

from galaxyco_ui.errors import NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import get_engine
from galaxyco_ui.services import provider_keys

SECRET = "sk-live-abcdefghijklmnopqrstuvwxyz-9876"


def test_the_database_never_holds_the_clear_key(team):
    view = provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET)

    assert view.key_hint == "••••9876"
    with get_engine().connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(text("SELECT * FROM provider_keys"))]
        audit = [tuple(map(str, row)) for row in conn.execute(text("SELECT * FROM audit_events"))]
    assert rows and all(SECRET not in value for row in rows for value in row)
    assert all(SECRET not in value for row in audit for value in row)
    assert SECRET not in view.model_dump_json()


def test_only_admins_and_owners_manage_keys_and_others_see_only_the_hint(team):
    provider_keys.set_provider_key(ctx=team.owner, provider="anthropic", api_key=SECRET)
    for ctx in (team.member, team.viewer):
        with pytest.raises(PermissionDeniedError):
            provider_keys.set_provider_key(ctx=ctx, provider="anthropic", api_key="x" * 20)
        with pytest.raises(PermissionDeniedError):
            provider_keys.remove_provider_key(ctx=ctx, provider="anthropic")
    listed = {p.provider: p for p in provider_keys.list_provider_keys(ctx=team.viewer)}
    assert listed["anthropic"].configured and listed["anthropic"].key_hint == "••••9876"
    assert not listed["google"].configured


def test_a_foreign_workspace_never_sees_or_removes_another_workspaces_key(team, other_team):
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET)
    assert not {p.provider: p for p in provider_keys.list_provider_keys(ctx=other_team.admin)}[
        "openai"
    ].configured
    with pytest.raises(NotFoundError):
        provider_keys.remove_provider_key(ctx=other_team.admin, provider="openai")


def test_an_openai_compatible_endpoint_needs_a_base_url_but_not_a_key(team, allow_provider_hosts):
    allow_provider_hosts("localhost:11434")  # a local Ollama, as the README configures it
    with pytest.raises(ValidationError) as exc:
        provider_keys.set_provider_key(ctx=team.admin, provider="openai_compatible", api_key="")
    assert "base_url" in exc.value.field_errors
    view = provider_keys.set_provider_key(
        ctx=team.admin, provider="openai_compatible", api_key="", base_url="http://localhost:11434/v1/"
    )
    assert view.configured and view.base_url == "http://localhost:11434/v1"


async def test_test_connection_reports_a_rejected_key_clearly(team, emulator):
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="bad-key", base_url=emulator.openai_base_url
    )
    view = await provider_keys.check_provider_key(ctx=team.admin, provider="openai")
    assert view.last_test_ok is False
    assert "rejected the API key" in view.last_test_message
