"""Runs on the provider emulator, for the run endpoints' tests.

A test module makes its fixture from ``wire_agent`` (``engine``, tests/background.py,
executes the queued runs).
"""

from __future__ import annotations

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.services import provider_keys
from galaxyco_ui.services.agents import AgentView
from tests.factories import Team, make_agent

MODEL = "test-model"


def wire_agent(team: Team, emulator: Emulator, **overrides: object) -> AgentView:
    """A calculator agent of ``team`` on the emulator, made by its admin (whose keys' own it is)."""
    provider_keys.set_provider_key(
        ctx=team.admin,
        provider="openai_compatible",
        api_key="emulator-key",
        base_url=emulator.openai_base_url,
    )
    values: dict[str, object] = {
        "name": "Calc",
        "provider": "openai_compatible",
        "model": MODEL,
        "tools": ["calculator"],
        "max_steps": 4,
        **overrides,
    }
    return make_agent(team.admin, **values)
