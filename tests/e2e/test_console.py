"""The management console in real Chromium (issue 22): one refusal for one's own role, the
deletion preview and its background job, downloading a document's original."""

import pytest

from tests.e2e.conftest import SCREENSHOTS, USER_PASSWORD, register_api, shot

pytestmark = pytest.mark.e2e


def _admin_login(page, server) -> None:
    from playwright.sync_api import expect

    page.goto("/admin/")
    page.locator("#id_username").fill(server.admin_email)
    page.locator("#id_password").fill(server.admin_password)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()


def _open_user(page, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"/admin/accounts/user/?q={email}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("th a").click()
    expect(page.locator("#user_form")).to_be_visible()


def _user_token(page, server, email: str) -> str:
    response = page.request.post(
        f"{server.url}/api/v1/auth/login", data={"email": email, "password": USER_PASSWORD}
    )
    assert response.status == 200, response.text()
    return response.json()["access"]


def test_changing_your_own_role_is_refused_with_one_message(new_page, e2e_server):
    from playwright.sync_api import expect

    page = new_page()
    _admin_login(page, e2e_server)
    _open_user(page, e2e_server.admin_email)
    page.locator("#id_role").select_option("user")
    page.locator("input[name=_save]").click()

    error = "You cannot change the role of your own account."
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.get_by_text(error)).to_have_count(1)
    expect(page.locator(".messagelist")).to_have_count(0)  # no "changed successfully"
    shot(page, "console-1-own-role-refused")
    # Still an admin: the console still opens.
    page.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()


def test_delete_a_user_who_has_chatted_preview_then_background_job(new_page, e2e_server):
    from playwright.sync_api import expect

    page = new_page()
    email = register_api(e2e_server, page, prefix="leaver")
    token = _user_token(page, e2e_server, email)
    headers = {"Authorization": f"Bearer {token}"}
    for question in ("First question?", "Second question?"):
        answer = page.request.post(
            f"{e2e_server.url}/api/v1/chat/message",
            data={"message": question},
            headers=headers,
        )
        assert answer.status == 200, answer.text()
    upload = page.request.post(
        f"{e2e_server.url}/api/v1/documents",
        multipart={
            "file": {
                "name": "handbook.md",
                "mimeType": "text/markdown",
                "buffer": b"# Leave\n\nmeadow copper",
            }
        },
        headers=headers,
    )
    assert upload.status in (201, 202), upload.text()

    _admin_login(page, e2e_server)
    _open_user(page, email)
    page.locator("a.deletelink").click()
    preview = page.locator("#deletion-preview")
    expect(preview).to_be_visible()
    expect(preview.locator("tr", has_text="Chat sessions")).to_contain_text("2")
    expect(preview.locator("tr", has_text="Chat messages")).to_contain_text("2")
    expect(preview.locator("tr", has_text="Documents")).to_contain_text("1")
    expect(preview.locator("tr", has_text="Vectors")).to_be_visible()
    expect(preview.locator("tr[data-part=kept]", has_text="Usage records")).to_be_visible()
    expect(page.locator("#deletion-deactivate")).to_be_visible()
    shot(page, "console-3a-delete-preview")

    page.locator("#deletion-delete input[type=submit]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("being deleted by job")
    # The job page: reload until the background thread has finished.
    status = page.locator(".field-status .readonly")
    for _ in range(60):
        if status.inner_text().strip() == "Done":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(status).to_have_text("Done")
    expect(page.locator(".field-removed_table .readonly")).to_contain_text("chats: 2")
    shot(page, "console-3b-deletion-job-done")

    page.goto(f"/admin/accounts/user/?q={email}")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    page.goto("/admin/ops/auditevent/?q=user_deleted")
    expect(page.locator("#result_list tbody tr").first).to_contain_text("user_deleted")
    # The user can no longer sign in.
    gone = page.request.post(
        f"{e2e_server.url}/api/v1/auth/login", data={"email": email, "password": USER_PASSWORD}
    )
    assert gone.status == 401


def test_admin_downloads_a_documents_original(new_page, e2e_server):
    from playwright.sync_api import expect

    page = new_page()
    email = register_api(e2e_server, page, prefix="author")
    token = _user_token(page, e2e_server, email)
    content = b"# Original\n\norchard lantern copper, exactly as uploaded.\n"
    upload = page.request.post(
        f"{e2e_server.url}/api/v1/documents",
        multipart={"file": {"name": "original.md", "mimeType": "text/markdown", "buffer": content}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert upload.status in (201, 202), upload.text()
    document_id = upload.json()["id"]

    _admin_login(page, e2e_server)
    page.goto(f"/admin/documents/document/{document_id}/change/")
    link = page.locator(".field-file_download a")
    expect(link).to_have_text("Download original.md")
    shot(page, "console-4-document-file-link")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "original.md"
    with open(download.path(), "rb") as handle:
        assert handle.read() == content
    page.goto("/admin/ops/auditevent/?q=document_downloaded")
    expect(page.locator("#result_list tbody tr").first).to_contain_text("document_downloaded")


def test_swagger_authorize_dialog_offers_the_jwt_first(new_page, e2e_server):
    """6: the JWT box comes first, each box says what to paste, and a pasted JWT works."""
    from playwright.sync_api import expect

    page = new_page()
    page.goto("/api/docs/")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".auth-container")
    expect(dialog.first).to_be_visible()
    names = [text.split()[0] for text in dialog.locator("h4").all_inner_texts()]
    assert names[:3] == ["accessTokenJWT", "apiKeyHeader", "openaiApiKey"], names
    first = dialog.first
    expect(first).to_contain_text("without the word Bearer")
    expect(dialog.nth(1)).to_contain_text("Api-Key ak_")
    # The dialog itself, scrolled to its top (a full-page shot scrolls it out of view).
    page.locator(".modal-ux-content").evaluate("element => { element.scrollTop = 0; }")
    page.locator(".modal-ux").screenshot(path=str(SCREENSHOTS / "console-6-swagger-authorize.png"))

    # A JWT pasted into the first box authorises "try it out" requests.
    login = page.request.post(
        f"{e2e_server.url}/api/v1/auth/login",
        data={"email": e2e_server.admin_email, "password": e2e_server.admin_password},
    )
    first.locator("input").fill(login.json()["access"])
    first.locator("button", has_text="Authorize").first.click()
    expect(first.locator("button", has_text="Logout")).to_be_visible()
    expect(first).to_contain_text("Authorized")
