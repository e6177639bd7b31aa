"""Settings → Providers as the browser drives it: a refused base URL shows its reason under
the field, and a base URL change that removed the stored key says so (issue 8, SSRF)."""

from __future__ import annotations

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.states.providers import ProvidersState
from tests.factories import make_user, sign_in_as
from tests.states.harness import Hub

SECRET = "sk-live-abcdefghijklmnopqrstuvwxyz-3131"


async def test_a_local_base_url_is_refused_under_the_field_naming_the_variable(
    hub: Hub, allow_provider_hosts
):
    allow_provider_hosts()
    owner = hub.browser(session_token=sign_in_as(make_user()).token).at("/settings")
    await owner.send(ProvidersState.load)
    form = {"provider": "openai_compatible", "api_key": "", "base_url": "http://127.0.0.1:11434/v1"}
    await owner.send(ProvidersState.save, form=form)

    state = await owner.state(ProvidersState)
    assert "ALLOWED_PRIVATE_PROVIDER_HOSTS=127.0.0.1:11434" in state.errors["openai_compatible.base_url"]
    assert not {p.provider: p for p in state.providers}["openai_compatible"].configured


async def test_changing_the_base_url_without_a_key_warns_that_the_key_was_removed(
    hub: Hub, emulator: Emulator
):
    owner = hub.browser(session_token=sign_in_as(make_user()).token).at("/settings")
    await owner.send(ProvidersState.load)
    await owner.send(ProvidersState.save, form={"provider": "openai", "api_key": SECRET, "base_url": ""})
    before = len(list(owner.received()))

    form = {"provider": "openai", "api_key": "", "base_url": emulator.openai_base_url}
    await owner.send(ProvidersState.save, form=form)

    text = "\n".join(list(owner.received())[before:])
    assert "the stored key was removed" in text
    state = await owner.state(ProvidersState)
    openai = {p.provider: p for p in state.providers}["openai"]
    assert openai.configured and not openai.has_key and openai.base_url == emulator.openai_base_url
