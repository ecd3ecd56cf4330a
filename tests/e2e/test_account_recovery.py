"""Password reset and email-code login from the page, with the mails the server really sent."""

import re
import time
from email import message_from_string
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login_ui, register_api, shot

pytestmark = pytest.mark.e2e


def _wait_for_mail(mail_dir: Path, to: str, contains: str, timeout: float = 20) -> str:
    """The plain-text body of the newest mail to ``to`` that contains ``contains``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
            for raw in path.read_text().split("-" * 79):
                if to not in raw or contains not in raw:
                    continue
                message = message_from_string(raw.strip())
                for part in message.walk():
                    if part.get_content_type() == "text/plain":
                        return part.get_payload(decode=True).decode()
        time.sleep(0.2)  # polling a folder the server writes to; no DOM state to wait on
    raise AssertionError(f"no mail to {to} containing {contains!r}")


def test_forgot_password_link_sets_a_new_password(page, e2e_server):
    email = register_api(e2e_server, page, prefix="forgot")
    page.goto("/")
    page.locator("#show-forgot").click()
    page.locator("#forgot-email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("#auth-info")).to_contain_text("reset")

    body = _wait_for_mail(e2e_server.mail_dir, email, "reset=")
    link = re.search(r"https?://\S*[?&]reset=([^\s&]+)", body)
    assert link, body
    page.goto(f"/?reset={link.group(1)}")
    expect(page.locator("#reset-form")).to_be_visible()
    assert "reset=" not in page.url, "the token must leave the address bar"
    page.locator("#reset-password").fill("a brand new passphrase 42")
    page.get_by_role("button", name="Set the password").click()
    expect(page.locator("#auth-info")).to_contain_text("password was changed")
    shot(page, "6a-password-reset")

    login_ui(page, email, "a brand new passphrase 42")
    expect(page.locator("#user-email")).to_have_text(email)


def test_login_with_an_emailed_code(page, e2e_server):
    email = register_api(e2e_server, page, prefix="code")
    page.goto("/")
    page.locator("#show-code").click()
    page.locator("#code-email").fill(email)
    page.locator("#code-request").click()
    expect(page.locator("#auth-info")).to_contain_text("code")

    body = _wait_for_mail(e2e_server.mail_dir, email, "code")
    code = re.search(r"\b(\d{6})\b", body)
    assert code, body
    page.locator("#code-value").fill(code.group(1))
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#user-email")).to_have_text(email)
    shot(page, "6b-code-login")


def test_verify_email_from_settings_and_the_link(page, e2e_server):
    email = register_api(e2e_server, page, prefix="verify")
    login_ui(page, email)
    page.locator("#open-settings").click()
    expect(page.locator("#verify-row")).to_be_visible()
    page.locator("#verify-send").click()
    expect(page.locator("#toast")).to_contain_text("link")

    body = _wait_for_mail(e2e_server.mail_dir, email, "verify=")
    token = re.search(r"[?&]verify=([^\s&]+)", body)
    assert token, body
    page.goto(f"/?verify={token.group(1)}")
    # Still signed in: the page says so and goes on into the chat.
    expect(page.locator("#toast")).to_contain_text("verified")
    expect(page.locator("#app-view")).to_be_visible()
    page.locator("#open-settings").click()
    expect(page.locator("#profile")).to_contain_text(email)
    expect(page.locator("#verify-row")).to_be_hidden()
    shot(page, "6c-email-verified")
