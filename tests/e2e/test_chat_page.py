"""The browser chat page and the admin console, driven in headless Chromium.

Each test leaves a screenshot of its end state under var/e2e/. Waits are on DOM states
(Playwright's auto-waiting ``expect``), never on fixed sleeps.
"""

import re
import time
from contextlib import contextmanager

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    USER_PASSWORD,
    login_ui,
    register_api,
    shot,
    unique_email,
)
from tests.fakes import Script

pytestmark = pytest.mark.e2e


@contextmanager
def model_answers(fake, script: Script):
    """Make every chat completion answer with ``script`` for the block.

    The fake's queue (``fake.script``) would also be consumed by embedding requests (the
    question is embedded for retrieval), so the default answer is swapped instead.
    """
    previous = fake.default
    fake.default = script
    try:
        yield
    finally:
        fake.default = previous


def _answer_text(answer) -> str:
    return " ".join(answer.locator(".answer-body").inner_text().split())


def test_page_headers_are_strict(page, e2e_server):
    response = page.goto("/")
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    expect(page.locator("#login-form")).to_be_visible()


def test_register_login_chat_stream_and_persist(page, e2e_server):
    """1: sign up in the form, send a message, watch it stream, reload: it is still there."""
    fake = e2e_server.fake
    email = unique_email("ada")

    page.goto("/")
    page.get_by_role("button", name="Create one").click()
    page.locator("#register-email").fill(email)
    page.locator("#register-username").fill(email.split("@")[0])
    page.locator("#register-full-name").fill("Ada Lovelace")
    page.locator("#register-password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#user-email")).to_have_text(email)

    reply = Script(
        text="Hello Ada! **Streaming** works.\n\n- first point\n- second point\n\n"
        "<script>alert(1)</script> and `code`",
        delay=0.06,
    )
    with model_answers(fake, reply):
        page.locator("#prompt").fill("Say hello, please")
        page.locator("#prompt").press("Enter")
        answer = page.locator(".turn .answer").last
        # Streaming: part of the text is on screen while the answer is still streaming.
        page.wait_for_function(
            """() => {
                const a = [...document.querySelectorAll('.turn .answer')].pop();
                return a && a.classList.contains('streaming')
                    && a.querySelector('.answer-body').textContent.includes('Hello');
            }"""
        )
        expect(page.locator("#stop")).to_be_visible()
        expect(answer).to_have_attribute("data-status", "complete")

    expect(page.locator(".turn .bubble-user").last).to_have_text("Say hello, please")
    expect(page.locator("#send")).to_be_visible()
    # Markdown is rendered; the model's HTML is shown as text, never executed.
    expect(answer.locator("strong")).to_have_text("Streaming")
    expect(answer.locator("li")).to_have_count(2)
    expect(answer.locator(".answer-body")).to_contain_text("<script>alert(1)</script>")
    assert answer.locator("script").count() == 0

    # The new chat appears in the sidebar, titled from the first message.
    expect(page.locator("#session-list li")).to_have_count(1)
    expect(page.locator("#session-list li").first).to_contain_text("Say hello")

    # Thumbs up is recorded.
    answer.get_by_role("button", name="Good answer").click()
    expect(answer.get_by_role("button", name="Good answer")).to_have_attribute(
        "aria-pressed", "true"
    )

    # An access token the server refuses (as after expiry) is refreshed and the call retried:
    # the reload below still lands in the chat, with a rotated refresh cookie. (The tokens live
    # in the tab's memory and an HttpOnly cookie, so the refusal is staged on the wire.)
    def refresh_cookie() -> str:
        return next(c["value"] for c in page.context.cookies() if c["name"] == "aichat_refresh")

    before = refresh_cookie()
    refused: list[str] = []

    def refuse_once(route) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(
            status=401,
            content_type="application/json",
            body='{"success": false, "message": "Token expired.", "code": "TOKEN_EXPIRED"}',
        )

    refreshes: list[str] = []
    page.on(
        "request",
        lambda r: (
            refreshes.append(r.url)
            if r.method == "POST" and r.url.endswith("/auth/refresh")
            else None
        ),
    )
    page.route("**/api/v1/users/me", refuse_once)
    page.reload()
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator(".turn .bubble-user")).to_have_text(["Say hello, please"])
    page.unroute("**/api/v1/users/me")
    assert refused
    assert len(refreshes) >= 2  # the reload's own, then the one after the refused call
    assert refresh_cookie() != before
    answer = page.locator(".turn .answer").last
    expect(page.locator(".turn .bubble-user")).to_have_text(["Say hello, please"])
    expect(answer.locator("strong")).to_have_text("Streaming")
    expect(answer.get_by_role("button", name="Good answer")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert "second point" in _answer_text(answer)

    # Rename the chat from the sidebar.
    page.locator("#session-list li").first.get_by_role("button", name=re.compile("^Rename")).click()
    title_input = page.get_by_label("Chat title")
    title_input.fill("Greetings")
    title_input.press("Enter")
    expect(page.locator("#session-list li").first).to_contain_text("Greetings")
    shot(page, "1a-chat-streamed-and-persisted")

    # On a phone-sized screen the sidebar is a drawer behind the menu button.
    page.set_viewport_size({"width": 390, "height": 760})
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    page.get_by_role("button", name="Show chats").click()
    expect(page.locator("#sidebar")).to_be_in_viewport()
    expect(page.locator("#session-list li").first).to_contain_text("Greetings")
    shot(page, "1b-narrow-screen-drawer")


def test_mfa_enrolment_then_login_with_code(page, e2e_server):
    """2: enable MFA from settings (secret read from the page), log out, log in with a code."""
    email = register_api(e2e_server, page, prefix="grace")
    login_ui(page, email)

    page.get_by_role("button", name="Settings").click()
    dialog = page.locator("#settings-dialog")
    expect(dialog.locator("#mfa-status")).to_have_text("Two-factor authentication is off.")
    # Step-up: a wrong password is refused with a readable message, nothing is enrolled.
    dialog.locator("#mfa-enable-password").fill("not my password")
    dialog.get_by_role("button", name="Enable two-factor authentication").click()
    expect(dialog.locator("#settings-error")).to_contain_text("password is not correct")
    expect(dialog.locator("#mfa-enroll")).to_be_hidden()
    dialog.locator("#mfa-enable-password").fill(USER_PASSWORD)
    dialog.get_by_role("button", name="Enable two-factor authentication").click()
    secret_node = dialog.locator("#mfa-secret")
    expect(secret_node).not_to_be_empty()
    expect(dialog.locator("#mfa-qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    # The QR code is a real, decodable image (not a broken-image icon).
    page.wait_for_function(
        "() => { const img = document.getElementById('mfa-qr');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    shot(page, "2a-mfa-qr-and-secret")
    secret = secret_node.inner_text().strip()
    totp = pyotp.TOTP(secret)
    confirmed_at = time.time()
    dialog.locator("#mfa-confirm-code").fill(totp.at(confirmed_at))
    dialog.get_by_role("button", name="Confirm").click()
    codes = dialog.locator("#mfa-backup-codes li")
    expect(codes).to_have_count(10)
    expect(dialog.locator("#mfa-status")).to_have_text("Two-factor authentication is on.")
    shot(page, "2b-mfa-backup-codes")
    dialog.get_by_role("button", name="I have saved them").click()
    expect(codes).to_have_count(0)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#auth-info")).to_have_text("You are logged out.")

    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.locator("#mfa-form")).to_be_visible()
    # A wrong code is refused with a readable message.
    page.locator("#mfa-code").fill("000000" if totp.at(confirmed_at + 30) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#auth-error")).to_be_visible()
    expect(page.locator("#app-view")).to_be_hidden()
    # The confirmation used this time step's code, which cannot be replayed: use the next one
    # (within the one step of drift the server tolerates).
    page.locator("#mfa-code").fill(totp.at(confirmed_at + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#user-email")).to_have_text(email)
    shot(page, "2c-logged-in-with-mfa")


def _make_pdf(path, pages: list[str]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


def test_upload_pdf_and_ask_about_it(page, e2e_server, tmp_path):
    """3: upload a PDF, watch it become ready, ask about it, see the source and its page."""
    fake = e2e_server.fake
    email = register_api(e2e_server, page, prefix="hopper")
    login_ui(page, email)

    pdf_path = tmp_path / "harbour-handbook.pdf"
    _make_pdf(
        pdf_path,
        [
            "Harbour handbook. Chapter one covers mooring ropes, tides and the opening hours "
            "of the harbour office, which opens at eight in the morning.",
            "Chapter two: the night gate. The access code for the night gate is QUOKKA-7319. "
            "Only the harbour master may change the night gate code.",
        ],
    )
    page.get_by_role("button", name="Documents").click()
    dialog = page.locator("#documents-dialog")
    dialog.locator("#document-file").set_input_files(str(pdf_path))
    expect(dialog.locator("#upload-label")).to_have_text("harbour-handbook.pdf uploaded.")
    row = dialog.locator("#document-list li").first
    expect(row.locator(".doc-status")).to_have_text("ready", timeout=60_000)
    expect(row).to_contain_text("2 pages")
    title = row.locator(".doc-title").inner_text()
    shot(page, "3a-document-ready")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    with model_answers(fake, Script(text="The night gate code is **QUOKKA-7319** [1].")):
        page.locator("#prompt").fill("What is the access code QUOKKA-7319 of the night gate?")
        page.locator("#prompt").press("Enter")
        answer = page.locator(".turn .answer").last
        expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator("strong")).to_have_text("QUOKKA-7319")
    sources = answer.locator(".sources li .source-title")
    expect(sources.filter(has_text=f"{title} · page 2")).not_to_have_count(0)
    # The page-2 passage (text the question does not contain) reached the model's prompt.
    assert any("harbour master may change" in " ".join(m["content"].split()) for m in _prompt(fake))
    shot(page, "3b-answer-with-source-page")

    # Deleting the chat empties the sidebar and the conversation.
    page.locator("#session-list li").first.get_by_role("button", name=re.compile("^Delete")).click()
    expect(page.locator("#session-list li")).to_have_count(0)
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#empty-state")).to_be_visible()

    # Deleting the document removes it from the list.
    page.get_by_role("button", name="Documents").click()
    dialog.get_by_role("button", name=f"Delete {title}").click()
    expect(dialog.locator("#document-list li")).to_have_count(0)
    expect(dialog.locator("#documents-empty")).to_be_visible()


def _prompt(fake) -> list[dict]:
    messages = fake.chat_requests()[-1].get("messages", [])
    return [m for m in messages if isinstance(m.get("content"), str)]


def test_stop_then_resume_after_a_dropped_connection(page, e2e_server):
    """4: stop a long answer mid-stream; drop the socket mid-answer and see it resume."""
    fake = e2e_server.fake
    email = register_api(e2e_server, page, prefix="lamarr")
    login_ui(page, email)

    # Stop: a 400-token answer, stopped after a few tokens.
    with model_answers(fake, Script(tokens=400, delay=0.03)):
        page.locator("#prompt").fill("Count for a long time")
        page.locator("#prompt").press("Enter")
        answer = page.locator(".turn .answer").last
        expect(answer.locator(".answer-body")).to_contain_text("t5")
        page.get_by_role("button", name="Stop").click()
        expect(answer).to_have_attribute("data-status", "cancelled")
    expect(answer.locator(".status-badge")).to_have_text("Stopped")
    expect(page.locator("#send")).to_be_visible()
    stopped_text = _answer_text(answer)
    assert "t400" not in stopped_text
    shot(page, "4a-stopped")

    # Resume: 100 tokens over ~5 s; the socket is cut after ~10 of them.
    sockets_before = page.evaluate("window.__e2eSockets.length")
    with model_answers(fake, Script(tokens=100, delay=0.05)):
        page.locator("#prompt").fill("Count to a hundred")
        page.locator("#prompt").press("Enter")
        answer = page.locator(".turn .answer").last
        expect(answer.locator(".answer-body")).to_contain_text("t10")
        was_streaming = page.evaluate(
            """() => {
                window.__e2eSockets[window.__e2eSockets.length - 1].close();
                return [...document.querySelectorAll('.turn .answer')].pop()
                    .classList.contains('streaming');
            }"""
        )
        assert was_streaming, "the socket must be cut in the middle of the answer"
        # A new connection is opened and the answer completes with every token exactly once.
        expect(answer).to_have_attribute("data-status", "complete")
    assert page.evaluate("window.__e2eSockets.length") > sockets_before
    expected = " ".join(f"t{i}" for i in range(1, 101))
    assert _answer_text(answer) == expected
    expect(page.locator("#connection-status")).to_be_hidden()

    # What the page showed is what was saved.
    page.reload()
    answers = page.locator(".turn .answer")
    expect(answers).to_have_count(2)
    expect(answers.first.locator(".status-badge")).to_have_text("Stopped")
    assert _answer_text(answers.last) == expected
    shot(page, "4b-resumed-after-drop")

    # A reload in the middle of an answer picks the answer up again from the start.
    with model_answers(fake, Script(tokens=60, delay=0.05)):
        page.locator("#prompt").fill("Count to sixty")
        page.locator("#prompt").press("Enter")
        answer = page.locator(".turn .answer").last
        expect(answer.locator(".answer-body")).to_contain_text("t5")
        page.reload()
        answer = page.locator(".turn .answer").last
        expect(page.locator(".turn .answer")).to_have_count(3)
        expect(answer).to_have_attribute("data-status", "complete")
    assert _answer_text(answer) == " ".join(f"t{i}" for i in range(1, 61))


def test_admin_suspends_user_whose_page_is_logged_out(new_page, e2e_server):
    """5: an admin suspends a user in /admin/; that user's open page is logged out."""
    user_page = new_page()
    email = register_api(e2e_server, user_page, prefix="turing")
    login_ui(user_page, email)

    admin = new_page()
    admin.goto("/admin/")
    admin.locator("#id_username").fill(e2e_server.admin_email)
    admin.locator("#id_password").fill(e2e_server.admin_password)
    admin.locator("input[type=submit]").click()
    expect(admin.locator("#site-name")).to_be_visible()
    admin.get_by_role("link", name="Users").first.click()
    admin.locator("#searchbar").fill(email)
    admin.locator("#searchbar").press("Enter")
    rows = admin.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(email)
    rows.first.locator("input[name=_selected_action]").check()
    option = admin.locator("select[name=action] option", has_text="Suspend")
    admin.locator("select[name=action]").select_option(option.get_attribute("value"))
    admin.locator("button[name=index]").click()
    expect(admin.locator(".messagelist")).to_contain_text("uspend")
    shot(admin, "5a-admin-suspended-user")

    # The user's page: the server closes the socket at once; the next action at the latest
    # brings the login form with the reason.
    if user_page.locator("#app-view").is_visible():
        user_page.locator("#prompt").fill("Am I still here?")
        user_page.locator("#prompt").press("Enter")
    expect(user_page.locator("#login-form")).to_be_visible()
    expect(user_page.locator("#auth-error")).to_contain_text("logged out")
    expect(user_page.locator("#app-view")).to_be_hidden()
    shot(user_page, "5b-user-page-logged-out")

    # And they cannot log in again.
    user_page.locator("#login-email").fill(email)
    user_page.locator("#login-password").fill(USER_PASSWORD)
    user_page.get_by_role("button", name="Log in", exact=True).click()
    expect(user_page.locator("#auth-error")).not_to_contain_text("logged out")
    expect(user_page.locator("#auth-error")).to_be_visible()
    expect(user_page.locator("#app-view")).to_be_hidden()
    shot(user_page, "5c-suspended-user-cannot-log-in")


MARKDOWN_ATTACKS = "\n\n".join(
    [
        "<img src=x onerror=alert(1)> and <iframe src='https://evil.example/'></iframe>",
        "[click me](javascript:alert(1)) and [data](data:text/html,<script>alert(1)</script>)",
        "![tracker](https://evil.example/pixel.png)",
        "[docs](https://example.com/docs) and https://example.org/page.",
        "```html\n<script>alert(1)</script>\n```",
        "**bold _and italic_** with `<b>code</b>`",
        "> quoted <svg onload=alert(1)>",
    ]
)


def test_markdown_renderer_never_creates_active_content(page, e2e_server):
    """Model output with HTML, script URLs and remote images renders as inert text and links."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/")
    result = page.evaluate(
        """async (source) => {
            const { renderMarkdown } = await import('/static/chat/markdown.js');
            const box = document.createElement('div');
            box.append(renderMarkdown(source));
            document.body.append(box);
            const all = [...box.querySelectorAll('*')];
            return {
                text: box.textContent,
                tags: [...new Set(all.map((e) => e.tagName.toLowerCase()))].sort(),
                hrefs: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                rels: [...box.querySelectorAll('a')].map((a) => a.rel),
                handlers: all.flatMap((e) => [...e.attributes].map((a) => a.name))
                    .filter((name) => name.startsWith('on')),
            };
        }""",
        MARKDOWN_ATTACKS,
    )
    # Elements of Markdown, highlight.js spans and the code block's copy button: nothing that
    # runs, loads or embeds (no img, iframe, script, svg, style, form, input).
    assert set(result["tags"]) <= {
        "a",
        "blockquote",
        "button",
        "code",
        "div",
        "em",
        "p",
        "pre",
        "span",
        "strong",
    }, result["tags"]
    assert "pre" in result["tags"] and "button" in result["tags"]  # the code block, copyable
    assert result["handlers"] == []
    assert result["hrefs"] == [
        "https://evil.example/",  # a bare URL in the text becomes a link; nothing loads it
        "https://evil.example/pixel.png",  # the image, as a link the user may follow
        "https://example.com/docs",
        "https://example.org/page",
    ]
    assert all("noopener" in rel and "noreferrer" in rel for rel in result["rels"])
    # The HTML is visible as text; nothing was fetched from the remote host.
    assert "<img src=x onerror=alert(1)>" in result["text"]
    assert "<script>alert(1)</script>" in result["text"]
    assert not [url for url in requested if "evil.example" in url]
