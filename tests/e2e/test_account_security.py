"""Account security as a user meets it: two-factor sign-in, sessions, sign-out, bad input."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import expect
from sqlmodel import select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import User
from galaxyco_ui.services import email_links
from tests.e2e.conftest import shot
from tests.e2e.helpers import PASSWORD, sign_up, wait_for_shell


def test_user_turns_on_two_factor_and_then_needs_a_code_to_sign_in(page):
    sign_up(page, name="Grace Hopper", email="grace@example.com")
    wait_for_shell(page)

    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Two-factor authentication").click()
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.get_by_alt_text(re.compile("QR code"))).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    shot(page, "10-totp-setup")

    page.get_by_label("2. Enter the 6-digit code it shows").fill(
        "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    )
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()

    page.get_by_label("2. Enter the 6-digit code it shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_text("Two-factor authentication is on.").first).to_be_visible()
    expect(page.locator("#recovery-codes code")).to_have_count(10)
    recovery_code = page.locator("#recovery-codes code").first.inner_text()
    shot(page, "11-totp-on")

    # Sign out from the user menu: the session is gone.
    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page.get_by_text("You have been signed out.")).to_be_visible()
    page.goto("/agents")
    expect(page).to_have_url(re.compile(r"/login"))

    # Password alone is not enough any more; a wrong code is refused, a recovery code works.
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Authentication code")).to_be_visible()
    shot(page, "12-login-code-step")
    page.get_by_label("Authentication code").fill("12345-abcde")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()
    page.get_by_label("Authentication code").fill(recovery_code)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/agents"))
    wait_for_shell(page)

    # The sessions page shows this browser.
    page.goto("/profile/sessions")
    expect(page.get_by_text("This browser")).to_be_visible()
    shot(page, "13-sessions")


def test_sign_in_and_sign_up_explain_bad_input(page):
    page.goto("/signup")
    page.get_by_label("Your name").fill("Alan")
    page.get_by_label("Email").fill("not-an-email@")
    page.get_by_label("Password").fill("short")
    # The browser's own check would stop an invalid email; bypass it to reach the server.
    page.locator("form").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Enter a valid email address")).to_be_visible()
    page.get_by_label("Email").fill("alan@example.com")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Use at least 10 characters.")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Alan")
    shot(page, "14-signup-errors")

    page.goto("/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong-password-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Email or password is incorrect.")).to_be_visible()


def test_repeated_wrong_passwords_lock_the_account_for_a_while(page):
    # The lockout outlives this test in the shared e2e server: an address no other test uses.
    sign_up(page, name="Mary Jackson", email="mary.lockout@example.com")
    wait_for_shell(page)
    page.context.clear_cookies()
    page.goto("/login")
    for _ in range(5):
        page.get_by_label("Email").fill("mary.lockout@example.com")
        page.get_by_label("Password").fill("not-my-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert").filter(has_text="incorrect")).to_be_visible()
        # The alert text is the same after each attempt: give each one time to be counted.
        page.wait_for_timeout(300)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Too many failed sign-in attempts. Try again in 15 minutes.")).to_be_visible()
    shot(page, "15-login-throttled")


def test_an_expired_or_forged_session_cookie_is_sent_to_sign_in(page, app_url):
    page.context.add_cookies([{"name": "galaxyco_session", "value": "forged-token", "url": app_url}])
    page.goto("/agents")
    # "/login/" once the page has fetched its pre-auth cookie (a redirect back to itself).
    expect(page).to_have_url(re.compile(r"/login/?\?next=(%2F|/)agents"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_without_smtp_an_operator_reset_link_sets_a_new_password_and_signs_out_everywhere(page, new_context):
    sign_up(page, name="Annie Easley", email="annie@example.com")
    wait_for_shell(page)
    page.goto("/profile")
    expect(page.locator("#email-unverified")).to_contain_text("not verified")
    expect(page.locator("#email-unverified")).to_contain_text("ask the person who runs GalaxyCo")

    # Another browser: "Forgot password?" answers the same for everyone, and says no email goes out.
    other = new_context().new_page()
    other.goto("/login")
    other.get_by_role("link", name="Forgot password?").click()
    expect(other).to_have_url(re.compile(r"/forgot-password"))
    expect(other.get_by_text("This server does not send email")).to_be_visible()
    other.get_by_label("Email").fill("annie@example.com")
    other.get_by_role("button", name="Send me a reset link").click()
    expect(other.get_by_role("status")).to_contain_text("If an account exists for annie@example.com")

    # The operator prints a link (python -m galaxyco_ui.cli reset-link), the user opens it.
    link = urlsplit(email_links.operator_reset_link(email="annie@example.com"))
    other.goto(f"{link.path}?{link.query}")
    expect(other.get_by_text("Choose a new password for")).to_be_visible()
    other.get_by_label("New password", exact=True).fill("a much better passphrase")
    other.get_by_label("Repeat the new password").fill("a much better passphrase")
    other.get_by_role("button", name="Set new password").click()
    expect(other.get_by_role("status")).to_contain_text("Your password was changed")
    shot(other, "16-password-reset")

    # The first browser was signed out by the reset.
    page.goto("/profile")
    expect(page).to_have_url(re.compile(r"/login"))

    other.get_by_role("link", name="Sign in", exact=True).click()
    expect(other.get_by_label("Email")).to_have_value("annie@example.com")
    other.get_by_label("Password").fill("a much better passphrase")
    other.get_by_role("button", name="Sign in").click()
    expect(other).to_have_url(re.compile(r"/agents"))
    wait_for_shell(other)
    other.goto("/profile")
    expect(other.get_by_text("Verified", exact=True)).to_be_visible()
    expect(other.locator("#email-unverified")).to_have_count(0)

    # The link worked once.
    other.goto(f"{link.path}?{link.query}")
    expect(other.get_by_role("alert")).to_contain_text("already used")


def test_a_verification_link_says_what_happened_each_time_it_is_opened(page):
    sign_up(page, name="Dorothy Vaughan", email="dorothy@example.com")
    wait_for_shell(page)
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "dorothy@example.com")).one()
    link = urlsplit(email_links.verification_link(user))

    page.goto(f"{link.path}?{link.query}")
    expect(page.get_by_role("status")).to_contain_text("Thank you: dorothy@example.com is verified.")
    page.goto(f"{link.path}?{link.query}")
    expect(page.get_by_role("status")).to_contain_text("was already verified")
    page.goto(f"{link.path}?{link.query[:-4]}")
    expect(page.get_by_role("alert")).to_contain_text("This verification link is not valid")
    page.goto("/profile")
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()
