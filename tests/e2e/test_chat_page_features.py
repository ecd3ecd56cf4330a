"""The chat page as people use it (issue 22, items 7-13), in headless Chromium.

Markdown with tables, nested lists and highlighted code with a copy button; sources that open
the document at the cited page with the quoted passage; full session titles with dates, search,
regenerate and the model picker; a second tab that stays logged in and a logout that reaches
every tab; the usage panel's figures from ``GET usage``; failed documents with their reason and
a retry button; favicon and title, and no failed request on the pages people open.
Screenshots land in var/e2e/.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import (
    USER_PASSWORD,
    login_ui,
    register_api,
    shot,
)
from tests.e2e.test_chat_page import _make_pdf, model_answers
from tests.fakes import Script

pytestmark = pytest.mark.e2e

API = "/api/v1"


def _token(server, page, email: str) -> str:
    """An access token of ``email`` for API set-up calls (JSON login, as API clients do)."""
    response = page.request.post(
        f"{server.url}{API}/auth/login", data={"email": email, "password": USER_PASSWORD}
    )
    assert response.status == 200, response.text()
    return response.json()["access"]


def _api(server, page, token: str, method: str, path: str, **kwargs):
    response = page.request.fetch(
        f"{server.url}{API}/{path}",
        method=method,
        headers={"Authorization": f"Bearer {token}"},
        **kwargs,
    )
    assert response.status < 300, f"{method} {path}: {response.status} {response.text()}"
    return response.json() if response.status != 204 else None


def _send(page, text: str) -> None:
    page.locator("#prompt").fill(text)
    page.locator("#prompt").press("Enter")


# --- 7: Markdown -------------------------------------------------------------------------------

RICH_ANSWER = """Here is the plan:

| Step | Owner | Days |
|:-----|:-----:|-----:|
| Design | Ada | 3 |
| Build | Grace | 5 |

1. Prepare
   - buy rope
   - check tides
     - morning tide
2. Sail

```python
def greet(name):
    return f"Hello {name}"
```
"""


def test_answers_render_tables_nested_lists_and_highlighted_code_with_copy(new_page, e2e_server):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    email = register_api(e2e_server, page, prefix="tables")
    login_ui(page, email)
    with model_answers(e2e_server.fake, Script(text=RICH_ANSWER)):
        _send(page, "Give me the plan as a table")
        answer = page.locator(".turn .answer").last
        expect(answer).to_have_attribute("data-status", "complete")
    body = answer.locator(".answer-body")
    # A real table, with the alignment as classes (inline styles are refused by the policy).
    expect(body.locator("table thead th")).to_have_text(["Step", "Owner", "Days"])
    expect(body.locator("table tbody tr")).to_have_count(2)
    expect(body.locator("table tbody tr").first.locator("td")).to_have_text(["Design", "Ada", "3"])
    expect(body.locator("th.align-center")).to_have_text("Owner")
    expect(body.locator("td.align-right").first).to_have_text("3")
    # Nested lists stay nested (three levels).
    expect(body.locator("ol > li > ul > li > ul > li")).to_have_text("morning tide")
    expect(body.locator("ol > li > ul > li").first).to_contain_text("buy rope")
    # Highlighted code with its language and a copy button.
    block = body.locator(".code-block")
    expect(block.locator(".code-lang")).to_have_text("python")
    expect(block.locator("code.hljs .hljs-keyword").first).to_have_text("def")
    expect(block.locator("code .hljs-string")).not_to_have_count(0)
    shot(page, "22-7-markdown-table-lists-code")
    block.get_by_role("button", name="Copy code").click()
    expect(block.get_by_role("button", name="Copy code")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == 'def greet(name):\n    return f"Hello {name}"'


XSS = '<img src=https://evil.example/x.png onerror="window.__xss=1">'
# Document titles lose path separators (they double as file names): a payload without any.
XSS_TITLE = '<img src=x onerror="window.__xss=4"><svg onload="window.__xss=5">'


def test_payloads_in_every_field_execute_nothing_and_fetch_nothing(new_page, e2e_server, tmp_path):
    """Titles, names, document titles and passages, answers: all inert text."""
    page = new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    email = register_api(e2e_server, page, prefix="xss")
    token = _token(e2e_server, page, email)
    _api(e2e_server, page, token, "PATCH", "users/me", data={"full_name": XSS})
    notes = tmp_path / "notes.md"
    notes.write_text(f"# {XSS}\n\nThe pier password is PELICAN-55 {XSS} [x](javascript:alert(1))\n")
    document = _api(
        e2e_server,
        page,
        token,
        "POST",
        "documents",
        multipart={
            "file": {"name": "notes.md", "mimeType": "text/markdown", "buffer": notes.read_bytes()},
            "title": XSS_TITLE,
        },
    )
    login_ui(page, email)
    answer_text = f"{XSS} <script>window.__xss=2</script> [a](javascript:window.__xss=3) ![i](https://evil.example/i.png)"
    with model_answers(e2e_server.fake, Script(text=answer_text)):
        _send(page, f"PELICAN-55 pier password? {XSS}")
        answer = page.locator(".turn .answer").last
        expect(answer).to_have_attribute("data-status", "complete")
    session_id = int(re.search(r"#chat-(\d+)", page.url).group(1))
    _api(e2e_server, page, token, "PATCH", f"chat/sessions/{session_id}", data={"title": XSS})
    page.reload()
    expect(page.locator(".turn .answer")).to_have_count(1)
    expect(page.locator("#session-list .session-title").first).to_have_text(XSS)
    expect(page.locator(".sources .source-title").first).to_contain_text(XSS_TITLE)
    expect(page.locator(".sources blockquote.snippet").first).to_contain_text("PELICAN-55")
    page.get_by_role("button", name="Documents").click()
    expect(page.locator("#document-list .doc-title").first).to_have_text(XSS_TITLE)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Settings").click()
    expect(page.locator("#profile")).to_contain_text(XSS)
    page.keyboard.press("Escape")
    shot(page, "22-7-xss-payloads-inert")
    assert page.evaluate("window.__xss") is None
    assert page.locator("img:not(#mfa-qr), script:not([src]), iframe").count() == 0
    assert not [url for url in requested if "evil.example" in url]
    assert document["title"] == XSS_TITLE


# --- 8: sources ----------------------------------------------------------------------------------


def test_a_source_opens_the_document_at_the_cited_page_and_quotes_the_passage(
    page, e2e_server, tmp_path
):
    email = register_api(e2e_server, page, prefix="sources")
    token = _token(e2e_server, page, email)
    pdf = tmp_path / "lighthouse.pdf"
    _make_pdf(
        pdf,
        [
            "Lighthouse manual. Chapter one: cleaning the lens every morning.",
            "Chapter two: the foghorn. The foghorn test code is ALBATROSS-4471 and only the "
            "keeper may sound it.",
        ],
    )
    document = _api(
        e2e_server,
        page,
        token,
        "POST",
        "documents",
        multipart={
            "file": {
                "name": "lighthouse.pdf",
                "mimeType": "application/pdf",
                "buffer": pdf.read_bytes(),
            }
        },
    )
    login_ui(page, email)
    page.get_by_role("button", name="Documents").click()
    expect(page.locator("#document-list li .doc-status").first).to_have_text(
        "ready", timeout=60_000
    )
    page.keyboard.press("Escape")
    with model_answers(e2e_server.fake, Script(text="The code is ALBATROSS-4471 [1].")):
        _send(page, "What is the foghorn test code ALBATROSS-4471?")
        answer = page.locator(".turn .answer").last
        expect(answer).to_have_attribute("data-status", "complete")
    item = answer.locator(".sources li").filter(has_text="page 2").first
    expect(item.locator("blockquote.snippet")).to_contain_text(
        "foghorn test code is ALBATROSS-4471"
    )
    shot(page, "22-8-source-with-quoted-passage")

    with page.context.expect_page() as opened:
        item.get_by_role("button", name=re.compile("^Open")).click()
    tab = opened.value
    # The new tab goes to the document's own file at the cited page.
    # wait_for_url, not a JS predicate: a tab still on about:blank inherits the chat page's
    # CSP, which refuses the eval a string predicate needs.
    tab.wait_for_url(re.compile(r"#page=2$"))
    url = tab.url
    assert re.search(rf"{API}/documents/{document['id']}/file\?token=[^#]+#page=2$", url), url
    # What that address serves: the original PDF, inline, to this user only.
    fetched = page.request.get(url.split("#")[0])
    assert fetched.status == 200
    assert fetched.headers["content-type"] == "application/pdf"
    assert fetched.headers["content-disposition"].startswith("inline")
    assert fetched.body() == pdf.read_bytes()
    # Without the token (and without a login) the file is not served; a forged token neither.
    assert page.request.get(url.split("?")[0]).status == 401
    assert page.request.get(url.split("?")[0] + "?token=forged").status == 404
    tab.close()


# --- 9: sessions --------------------------------------------------------------------------------


LONG_TITLE = "Quarterly harbour maintenance budget and the schedule for the new pier lights"


def test_sessions_show_full_titles_dates_search_regenerate_and_model_choice(page, e2e_server):
    fake = e2e_server.fake
    email = register_api(e2e_server, page, prefix="sessions")
    token = _token(e2e_server, page, email)
    with model_answers(fake, Script(text="About the pelicans: they nest in spring.")):
        first = _api(
            e2e_server,
            page,
            token,
            "POST",
            "chat/message",
            data={"message": "Tell me about pelicans"},
        )
    _api(
        e2e_server,
        page,
        token,
        "PATCH",
        f"chat/sessions/{first['session_id']}",
        data={"title": LONG_TITLE},
    )
    with model_answers(fake, Script(text="Seagulls eat fish.")):
        _api(e2e_server, page, token, "POST", "chat/message", data={"message": "And seagulls?"})
    login_ui(page, email)

    titles = page.locator("#session-list .session-title")
    expect(titles).to_have_count(2)
    long_one = titles.filter(has_text=LONG_TITLE)
    expect(long_one).to_have_text(LONG_TITLE)  # the whole title is there, cut only visually
    widths = long_one.evaluate(
        "(e) => ({client: e.clientWidth, scroll: e.scrollWidth,"
        " side: document.getElementById('sidebar').clientWidth,"
        " overflow: getComputedStyle(e).textOverflow})"
    )
    assert widths["overflow"] == "ellipsis"
    assert widths["scroll"] > widths["client"]  # longer than the sidebar: an ellipsis shows
    assert widths["client"] > widths["side"] * 0.6, widths  # most of the sidebar's width
    expect(page.locator("#session-list .session-date").first).not_to_be_empty()
    shot(page, "22-9a-sessions-full-titles-dates")

    # Search over one's chats (server-side): words of a title, of a question.
    page.locator("#session-search").fill("pier lights")
    expect(titles).to_have_count(1)
    expect(titles).to_have_text(LONG_TITLE)
    page.locator("#session-search").fill("seagulls")
    expect(titles).to_have_count(1)
    expect(titles).to_have_text("And seagulls?")
    page.locator("#session-search").fill("no such words anywhere")
    expect(titles).to_have_count(0)
    expect(page.locator("#sessions-empty")).to_be_visible()
    shot(page, "22-9b-session-search")
    page.locator("#session-search").fill("")
    expect(titles).to_have_count(2)

    # Pick the other allowed model, then regenerate the last answer with it.
    picker = page.locator("#model-picker")
    expect(picker).to_be_visible()
    assert picker.locator("option").all_inner_texts() == ["fake-chat (default)", "fake-chat-large"]
    picker.select_option("fake-chat-large")
    page.locator("#session-list .session-open").filter(has_text=LONG_TITLE).click()
    answer = page.locator(".turn .answer").last
    expect(answer.locator(".answer-body")).to_contain_text("they nest in spring")
    with model_answers(fake, Script(text="Pelicans, regenerated: they fish in groups.")):
        answer.get_by_role("button", name="Regenerate the answer").click()
        expect(page.locator(".turn .answer").last).to_have_attribute("data-status", "complete")
    expect(page.locator(".turn")).to_have_count(1)  # replaced, not added
    expect(page.locator(".turn .answer-body")).to_have_text(
        "Pelicans, regenerated: they fish in groups."
    )
    assert fake.chat_requests()[-1]["model"] == "fake-chat-large"
    assert fake.chat_requests()[-1]["messages"][-1]["content"] == "Tell me about pelicans"
    shot(page, "22-9c-regenerated-with-picked-model")
    page.reload()
    expect(page.locator(".turn")).to_have_count(1)
    expect(page.locator(".turn .answer-body")).to_have_text(
        "Pelicans, regenerated: they fish in groups."
    )
    expect(page).to_have_title(re.compile(f"^{LONG_TITLE}"))


# --- 10: tabs -----------------------------------------------------------------------------------


def test_a_second_tab_stays_logged_in_and_logout_reaches_every_tab(page, e2e_server):
    email = register_api(e2e_server, page, prefix="tabs")
    login_ui(page, email)
    second = page.context.new_page()
    second.goto("/")
    expect(second.locator("#app-view")).to_be_visible()
    expect(second.locator("#user-email")).to_have_text(email)
    expect(second.locator("#login-form")).to_be_hidden()
    shot(second, "22-10a-second-tab-logged-in")

    # The refresh token is out of script's reach: not in cookies it can read, not in storage.
    readable = second.evaluate(
        "() => document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"
    )
    assert "aichat_refresh" not in readable and "eyJ" not in readable
    cookie = next(c for c in page.context.cookies() if c["name"] == "aichat_refresh")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth/refresh"

    # Both tabs work after a reload too.
    page.reload()
    expect(page.locator("#app-view")).to_be_visible()

    second.get_by_role("button", name="Log out").click()
    expect(second.locator("#login-form")).to_be_visible()
    # The first tab hears about it at once.
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#auth-info")).to_contain_text("logged out in another tab")
    shot(page, "22-10b-other-tab-logged-out")
    # And the server ended the session: a new tab asks to log in.
    third = page.context.new_page()
    third.goto("/")
    expect(third.locator("#login-form")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "aichat_refresh" and c["value"]]


# --- 11: usage ----------------------------------------------------------------------------------


def test_the_usage_panel_shows_the_figures_of_get_usage_labelled(page, e2e_server, tmp_path):
    email = register_api(e2e_server, page, prefix="usage")
    token = _token(e2e_server, page, email)
    notes = tmp_path / "tides.txt"
    notes.write_text("High tide at the harbour is at six in the morning and seven at night.\n" * 20)
    _api(
        e2e_server,
        page,
        token,
        "POST",
        "documents",
        multipart={
            "file": {"name": "tides.txt", "mimeType": "text/plain", "buffer": notes.read_bytes()}
        },
    )
    login_ui(page, email)
    with model_answers(e2e_server.fake, Script(text="Six in the morning.")):
        _send(page, "When is high tide?")
        expect(page.locator(".turn .answer").last).to_have_attribute("data-status", "complete")
    usage = _api(e2e_server, page, token, "GET", "usage")
    embedding = sum(
        r["total_tokens"] for r in usage["today"]["by_kind"] if r["kind"] == "embedding"
    )
    assert embedding > 0 and usage["quota"]["daily_used"] > 0

    def figure(label: str):
        return page.locator("#usage-figures dt", has_text=label).locator(
            "xpath=following-sibling::dd[1]"
        )

    quota = usage["quota"]
    expect(figure("Counted against your quota")).to_have_text(
        f"{quota['daily_used']:,} of {quota['daily_tokens']:,}"
    )
    expect(figure("Left today")).to_have_text(f"{quota['remaining']:,}")
    expect(figure("All tokens today")).to_have_text(f"{usage['today']['total_tokens']:,}")
    expect(figure("of which embedding (not counted)")).to_have_text(f"{embedding:,}")
    shot(page, "22-11-usage-panel")


# --- 12: failed documents ---------------------------------------------------------------------


def test_a_failed_document_shows_its_reason_and_a_retry_button(page, e2e_server, tmp_path):
    fake = e2e_server.fake
    email = register_api(e2e_server, page, prefix="retry")
    login_ui(page, email)
    notes = tmp_path / "a-rather-long-document-title-about-the-harbour-night-gate.txt"
    notes.write_text("The night gate closes at ten in the evening.\n" * 10)
    page.get_by_role("button", name="Documents").click()
    dialog = page.locator("#documents-dialog")
    fake.fail(400)  # the embedding call of this upload is refused (not retried)
    dialog.locator("#document-file").set_input_files(str(notes))
    row = dialog.locator("#document-list li").first
    expect(row.locator(".doc-status")).to_have_text("failed", timeout=60_000)
    expect(row.locator(".doc-title")).to_have_text(notes.stem)
    expect(row.locator(".doc-error")).to_contain_text("The embedding service failed")
    title_box = row.locator(".doc-title").bounding_box()
    assert title_box and title_box["width"] > 200, title_box  # the reason does not squeeze it
    shot(page, "22-12-failed-document-with-retry")
    row.get_by_role("button", name=f"Retry {notes.stem}").click()
    expect(row.locator(".doc-status")).to_have_text("ready", timeout=60_000)
    expect(row.locator(".doc-error")).to_have_count(0)
    expect(row.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)


# --- 13: favicon, title, no failed requests --------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/admin/login/", "/api/docs/", "/api/redoc/"])
def test_pages_have_an_icon_and_no_request_fails(page, e2e_server, path):
    failed: list[str] = []
    errors: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    # The browser's own favicon request is made lazily: ask for it as the browser would.
    icon = page.evaluate(
        """() => { const l = document.querySelector("link[rel~='icon']");
                   return l ? l.href : new URL('/favicon.ico', location.href).href; }"""
    )
    response = page.request.get(icon)
    assert response.status == 200 and response.headers["content-type"].startswith("image/"), icon
    assert page.title()
    assert not failed, failed
    assert not errors, errors
    if path == "/":
        expect(page).to_have_title("AI Chat")
        shot(page, "22-13-login-with-favicon")
