"""Steps a user takes, shared by the end-to-end tests."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

PASSWORD = "analytical-engine-1843"


def sign_up(page: Page, *, name: str, email: str, next_path: str = "") -> None:
    page.goto("/signup" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def sign_in(page: Page, *, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/agents"))


def wait_for_shell(page: Page) -> None:
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def save_emulator_key(page: Page, base_url: str, *, key: str = "e2e-secret-key-1234") -> None:
    """Settings → Providers: an OpenAI-compatible key pointing at the provider emulator."""
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("API key for OpenAI-compatible").fill(key)
    page.get_by_label("Base URL for OpenAI-compatible").fill(base_url)
    page.get_by_role("button", name="Save OpenAI-compatible key").click()
    expect(page.get_by_text("••••" + key[-4:])).to_be_visible()
