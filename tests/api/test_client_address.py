"""The client's address: X-Forwarded-For counts only through TRUSTED_PROXY_HOPS.

Checked for the rule itself, for an API route (the sign-out audit entry records the
address) and for the Reflex states (``states/session.client_ip``), which share it.
"""

from __future__ import annotations

import pytest
from reflex import constants
from reflex.istate.data import RouterData
from reflex.state import State
from sqlmodel import select
from starlette.testclient import TestClient

from galaxyco_ui.api import create_api
from galaxyco_ui.api.cookies import BROWSER_COOKIE
from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.client_address import client_address
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import AuditEvent
from galaxyco_ui.services import accounts
from galaxyco_ui.states.auth import AuthFormState
from galaxyco_ui.states.session import client_ip
from tests.factories import PASSWORD, make_user

PEER = "10.0.0.2"  # the socket peer: the client itself, or the last proxy


@pytest.mark.parametrize(
    ("forwarded_for", "hops", "expected"),
    [
        ("", 0, PEER),
        ("6.6.6.6", 0, PEER),  # no proxy configured: the header is the client's say-so
        ("6.6.6.6, 203.0.113.7", 0, PEER),
        ("203.0.113.7", 1, "203.0.113.7"),  # one proxy appended the address it saw
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),  # a spoofed entry left of it is ignored
        ("6.6.6.6, 203.0.113.7, 10.0.0.9", 2, "203.0.113.7"),
        ("203.0.113.7", 2, PEER),  # fewer entries than proxies: did not come through them
        ("6.6.6.6, not-an-address", 1, PEER),
        ("6.6.6.6, 2001:DB8::1", 1, "2001:db8::1"),
        (" , 203.0.113.7 ,", 1, "203.0.113.7"),
    ],
)
def test_the_nth_address_from_the_right_is_the_client_with_n_trusted_proxies(forwarded_for, hops, expected):
    assert client_address(PEER, forwarded_for, hops=hops) == expected


def test_the_number_of_trusted_proxies_comes_from_the_settings(monkeypatch):
    assert get_settings().trusted_proxy_hops == 0
    assert client_address(PEER, "6.6.6.6") == PEER
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 1)
    assert client_address(PEER, "6.6.6.6") == "6.6.6.6"


# ---------------------------------------------------------------- an API route


def _signed_out_from(forwarded_for: str) -> str:
    """Sign in and out through the API with ``forwarded_for``; the audited address."""
    with TestClient(
        create_api(), base_url="http://testserver", follow_redirects=False, client=(PEER, 1)
    ) as b:
        b.get("/api/auth/browser")
        ticket = accounts.sign_in(
            email=make_user().email, password=PASSWORD, binding=b.cookies[BROWSER_COOKIE]
        )
        b.get("/api/auth/session", params={"ticket": ticket})
        response = b.post(
            "/api/auth/logout", headers={"Origin": "http://testserver", "X-Forwarded-For": forwarded_for}
        )
        assert response.status_code == 303
    with session_scope() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "user.signed_out")).all()
    return event.meta["ip"]


def test_an_api_route_ignores_a_spoofed_forwarded_for_without_trusted_proxies():
    assert _signed_out_from("6.6.6.6") == PEER


def test_an_api_route_takes_the_address_one_trusted_proxy_reports(monkeypatch):
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 1)
    assert _signed_out_from("6.6.6.6, 203.0.113.7") == "203.0.113.7"


# ---------------------------------------------------------------- the Reflex states


async def _state_with(forwarded_for: str) -> AuthFormState:
    router_data = {
        constants.RouteVar.HEADERS: {"x-forwarded-for": forwarded_for},
        constants.RouteVar.CLIENT_IP: PEER,
    }
    root = State(_reflex_internal_init=True)  # type: ignore[call-arg]
    root.router_data = router_data
    root.router = RouterData.from_router_data(router_data)
    return await root.get_state(AuthFormState)


async def test_a_state_ignores_a_spoofed_forwarded_for_without_trusted_proxies():
    assert client_ip(await _state_with("6.6.6.6")) == PEER


async def test_a_state_takes_the_address_one_trusted_proxy_reports(monkeypatch):
    monkeypatch.setattr(get_settings(), "trusted_proxy_hops", 1)
    assert client_ip(await _state_with("6.6.6.6, 203.0.113.7")) == "203.0.113.7"
