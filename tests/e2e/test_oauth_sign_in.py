"""Single sign-on through a real OpenID Connect provider, in the browser."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import OAuthAccount, User
from galaxyco_ui.services import profile
from tests.e2e.conftest import shot
from tests.e2e.helpers import wait_for_shell
from tests.factories import make_user, set_columns
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


def _existing_user(email: str, name: str, *, verified: bool) -> User:
    user = make_user(email=email, name=name)
    set_columns(User, user.id, email_verified=verified)
    return user


def test_sso_refuses_an_unverified_account_with_the_same_email_and_says_what_to_do(page, oidc_provider):
    _existing_user("mae@example.com", "Someone Else", verified=False)
    oidc_provider.reset()
    oidc_provider.user = ProviderUser(subject="sso-mae", email="mae@example.com", name="Mae Jemison")
    try:
        page.goto("/login")
        page.get_by_role("link", name="Continue with Acme SSO").click()
        expect(page).to_have_url(re.compile(r"/login"))
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("its email address has not been verified")
        expect(alert).to_contain_text("Forgot password?")
        shot(page, "31-sso-unverified-refused")
    finally:
        oidc_provider.reset()
    with session_scope() as session:
        assert session.exec(select(OAuthAccount)).all() == []


def test_sso_links_a_verified_account_and_tells_the_user(page, oidc_provider):
    _existing_user("mary@example.com", "Mary Jackson", verified=True)
    oidc_provider.reset()
    oidc_provider.user = ProviderUser(subject="sso-mary", email="mary@example.com", name="Mary Jackson")
    try:
        page.goto("/login")
        page.get_by_role("link", name="Continue with Acme SSO").click()
        expect(page).to_have_url(re.compile(r"/agents/?$"))
        expect(page.get_by_text("Your account is now linked to Acme SSO")).to_be_visible()
        wait_for_shell(page)
    finally:
        oidc_provider.reset()


def test_sso_for_a_two_factor_user_opens_nothing_until_the_code_is_entered(page, oidc_provider):
    user = _existing_user("katherine@example.com", "Katherine Johnson", verified=True)
    secret, _ = profile.start_totp_setup(user_id=user.id)
    profile.confirm_totp_setup(user_id=user.id, code=pyotp.TOTP(secret).at(time.time() - 30))
    oidc_provider.reset()
    oidc_provider.user = ProviderUser(
        subject="sso-kj", email="katherine@example.com", name="Katherine Johnson"
    )
    try:
        page.goto("/login")
        page.get_by_role("link", name="Continue with Acme SSO").click()
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.get_by_label("Authentication code")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("Enter the 6-digit code")
        shot(page, "32-sso-code-step")

        # The pending session opens no page: back to the code step.
        page.goto("/agents")
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.get_by_label("Authentication code")).to_be_visible()

        page.get_by_label("Authentication code").fill("12345-abcde")
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_text("That code is not valid")).to_be_visible()
        page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(re.compile(r"/agents/?$"))
        wait_for_shell(page)
    finally:
        oidc_provider.reset()
