"""Single sign-on through a real OpenID Connect provider, in the browser."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import OAuthAccount, User
from tests.e2e.conftest import shot
from tests.e2e.helpers import wait_for_shell
from tests.oauth_provider import ProviderUser


def test_a_new_user_signs_in_with_sso_and_gets_a_workspace(page, oidc_provider):
    oidc_provider.reset()
    oidc_provider.user = ProviderUser(subject="sso-42", email="dorothy@example.com", name="Dorothy Vaughan")

    page.goto("/login")
    sso = page.get_by_role("link", name="Continue with Acme SSO")
    expect(sso).to_be_visible()
    shot(page, "30-login-with-sso")
    sso.click()

    expect(page).to_have_url(re.compile(r"/agents/?$"))
    wait_for_shell(page)
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Dorothy's workspace")
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "dorothy@example.com")).one()
        link = session.exec(select(OAuthAccount).where(OAuthAccount.user_id == user.id)).one()
    assert (link.provider, link.subject) == ("oidc", "sso-42")


def test_an_sso_refusal_is_explained_on_the_sign_in_page(page, oidc_provider):
    oidc_provider.reset()
    oidc_provider.deny = True
    try:
        page.goto("/login")
        page.get_by_role("link", name="Continue with Acme SSO").click()
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.get_by_role("alert")).to_contain_text("You cancelled signing in with Acme SSO.")
    finally:
        oidc_provider.reset()
