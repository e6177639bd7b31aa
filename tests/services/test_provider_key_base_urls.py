"""Provider base URLs (issue 8, SSRF): vetted when saved and again when the Test button
(or a run) connects; a changed base URL drops the stored key; every change is audited."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlmodel import select

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent
from galaxyco_ui.services import provider_keys
from galaxyco_ui.tools import netguard
from tests.emulator import emulator_host_port

SECRET = "sk-live-abcdefghijklmnopqrstuvwxyz-4242"


def audit_events(workspace_id: str) -> list[AuditEvent]:
    with session_scope() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.workspace_id == workspace_id, AuditEvent.target_type == "provider_key")
                .order_by(AuditEvent.created_at)
            ).all()
        )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "http://localhost:11434/v1", "http://10.0.0.5/v1", "http://[::1]:8000/v1"],
)
def test_saving_a_local_or_private_base_url_is_refused_naming_the_variable(team, allow_provider_hosts, url):
    allow_provider_hosts()  # nothing listed, as out of the box
    with pytest.raises(ValidationError) as caught:
        provider_keys.set_provider_key(ctx=team.admin, provider="openai_compatible", api_key="", base_url=url)
    message = caught.value.field_errors["base_url"]
    assert "ALLOWED_PRIVATE_PROVIDER_HOSTS=" in message
    assert "restart" in message
    assert not provider_keys.list_provider_keys(ctx=team.admin)[3].configured
    assert audit_events(team.workspace_id) == []


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]:11434", "http://[fd00:ec2::254]/"]
)
def test_saving_a_metadata_or_link_local_base_url_is_refused_even_when_listed(
    team, allow_provider_hosts, url
):
    _, host, port = netguard.parse_url(url, ports=None)
    allow_provider_hosts(netguard.host_port(host, port))
    with pytest.raises(ValidationError, match="can never point there"):
        provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET, base_url=url)


def test_an_operator_listed_local_server_can_be_saved(team, allow_provider_hosts):
    allow_provider_hosts("localhost:11434")
    view = provider_keys.set_provider_key(
        ctx=team.admin, provider="openai_compatible", api_key="", base_url="http://localhost:11434/v1"
    )
    assert view.configured and view.base_url == "http://localhost:11434/v1"


def test_changing_the_base_url_without_a_new_key_removes_the_stored_key(team, emulator: Emulator):
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET)
    view = provider_keys.set_provider_key(
        ctx=team.owner, provider="openai", api_key="", base_url=emulator.openai_base_url
    )
    assert view.configured and not view.has_key and view.key_hint == ""
    assert "the stored key was removed" in view.notice
    listed = {p.provider: p for p in provider_keys.list_provider_keys(ctx=team.admin)}["openai"]
    assert not listed.has_key and listed.base_url == emulator.openai_base_url
    # Nothing of the old key is left to send to the new address, and what is missing is said.
    config, problem = provider_keys._config(team.admin, "openai")
    assert config is None and "Paste the key again" in problem


async def test_testing_a_provider_whose_key_was_removed_says_to_paste_it_again(team, emulator: Emulator):
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET)
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="", base_url=emulator.openai_base_url
    )
    view = await provider_keys.check_provider_key(ctx=team.admin, provider="openai", model="gpt-4.1-mini")
    assert view.last_test_ok is False
    assert "No OpenAI API key is stored" in view.last_test_message
    assert emulator.requests == []  # nothing was sent without a key


def test_a_new_key_with_the_new_base_url_is_kept(team, emulator: Emulator):
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET)
    view = provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="sk-other-key-7777", base_url=emulator.openai_base_url
    )
    assert view.has_key and view.key_hint == "••••7777" and view.notice == ""


def test_saving_the_same_base_url_without_a_key_keeps_the_key(team, emulator: Emulator):
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key=SECRET, base_url=emulator.openai_base_url
    )
    view = provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="", base_url=emulator.openai_base_url + "/"
    )
    assert view.has_key and view.key_hint == "••••4242" and view.notice == ""


def test_provider_key_changes_are_audited_without_the_key(team, emulator: Emulator):
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET)
    provider_keys.set_provider_key(ctx=team.owner, provider="openai", api_key="sk-second-key-5555")
    provider_keys.set_provider_key(
        ctx=team.owner, provider="openai", api_key="", base_url=emulator.openai_base_url
    )
    provider_keys.remove_provider_key(ctx=team.admin, provider="openai")

    events = audit_events(team.workspace_id)
    assert [e.action for e in events] == [
        "provider_key.created",
        "provider_key.updated",
        "provider_key.updated",
        "provider_key.removed",
    ]
    assert [e.created_by for e in events] == [
        team.admin.user_id,
        team.owner.user_id,
        team.owner.user_id,
        team.admin.user_id,
    ]
    assert events[1].data["key_changed"] and not events[1].data["key_cleared"]
    assert events[2].data == {
        "base_url": emulator.openai_base_url,
        "previous_base_url": "",
        "key_changed": False,
        "key_cleared": True,
    }
    assert "the stored key was removed" in events[2].summary
    assert all(SECRET not in repr((e.summary, e.data)) and "5555" not in repr(e.data) for e in events)
    assert audit_events(team.workspace_id) and all(e.target_id == "openai" for e in events)


async def test_the_test_button_refuses_a_saved_local_url_once_the_operator_unlists_it(
    team, emulator: Emulator, allow_provider_hosts
):
    provider_keys.set_provider_key(
        ctx=team.admin, provider="anthropic", api_key=SECRET, base_url=emulator.anthropic_base_url
    )
    allow_provider_hosts()  # the operator removed the entry (and restarted)

    view = await provider_keys.check_provider_key(
        ctx=team.admin, provider="anthropic", model="claude-haiku-4-5"
    )

    assert view.last_test_ok is False
    assert f"ALLOWED_PRIVATE_PROVIDER_HOSTS={emulator_host_port(emulator)}" in view.last_test_message
    assert emulator.requests == []


async def test_the_test_button_refuses_a_name_that_rebinds_to_loopback_after_saving(
    team, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
):
    """Saved while the name looked public; by the time Test connects it resolves to 127.0.0.1."""
    url = emulator.openai_base_url.replace("127.0.0.1", "llm.rebind.test")

    def public(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34"]

    async def home(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(netguard, "blocking_resolver", public)
    monkeypatch.setattr(netguard, "system_resolver", home)
    provider_keys.set_provider_key(ctx=team.admin, provider="openai", api_key=SECRET, base_url=url)

    view = await provider_keys.check_provider_key(ctx=team.admin, provider="openai")

    assert view.last_test_ok is False
    assert "llm.rebind.test resolves to 127.0.0.1, a loopback address" in view.last_test_message
    assert emulator.requests == []


def test_an_overlong_base_url_is_refused_before_any_lookup(team):
    with pytest.raises(ValidationError, match="too long"):
        provider_keys.set_provider_key(
            ctx=team.admin, provider="openai", api_key=SECRET, base_url="https://api.vendor.test/" + "v" * 500
        )
