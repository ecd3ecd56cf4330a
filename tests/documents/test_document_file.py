"""A document's own file for its owner: the short-lived link a browser tab opens (issue 22,
item 8: a source opens the PDF at the cited page) and the authenticated download."""

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from documents.selectors import FILE_LINK_SECONDS
from tests.ai.factories import (
    edge_store_fixture,  # noqa: F401
    make_pdf,
    upload,
)
from tests.conftest import _bearer_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/documents"


def _upload(client, name: str, data: bytes) -> dict:
    response = client.post(URL, {"file": upload(name, data)}, format="multipart")
    assert response.status_code == 202, response.json()
    return response.json()


def test_owner_gets_a_link_that_opens_the_pdf_inline(user_client, edge_store, log_lines):
    pdf = make_pdf(["One.", "Two."])
    document = _upload(user_client, "guide.pdf", pdf)
    response = user_client.post(f"{URL}/{document['id']}/link")
    assert response.status_code == 200, response.json()
    link = response.json()
    assert link["expires_in"] == FILE_LINK_SECONDS
    assert link["url"].startswith(f"{URL}/{document['id']}/file?token=")

    # The link works without any login (a new browser tab sends no Authorization header).
    opened = APIClient().get(link["url"])
    assert opened.status_code == 200
    assert opened["Content-Type"] == "application/pdf"
    assert opened["Content-Disposition"].startswith("inline")
    assert opened["Cache-Control"] == "private, no-store"
    assert b"".join(opened.streaming_content) == pdf
    # The token never reaches a log line.
    token = link["url"].split("token=")[1]
    assert token not in log_lines.text


def test_the_link_is_the_owners_only_and_expires(user_client, edge_store):
    document = _upload(user_client, "guide.pdf", make_pdf(["One."]))
    other = _bearer_client(UserFactory())
    assert other.post(f"{URL}/{document['id']}/link").status_code == 404
    assert other.get(f"{URL}/{document['id']}/file").status_code == 404

    url = user_client.post(f"{URL}/{document['id']}/link").json()["url"]
    token = url.split("token=")[1]
    # Bound to this document: another document's address with it is a 404.
    second = _upload(user_client, "notes.txt", b"Plain notes about the harbour.\n")
    assert APIClient().get(f"{URL}/{second['id']}/file?token={token}").status_code == 404
    assert APIClient().get(f"{URL}/{document['id']}/file?token=forged").status_code == 404
    assert APIClient().get(f"{URL}/{document['id']}/file").status_code == 401
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=FILE_LINK_SECONDS + 5)):
        assert APIClient().get(url).status_code == 404


def test_text_files_are_served_as_inert_text(user_client, edge_store):
    document = _upload(user_client, "notes.md", b"# Notes\n\n<script>alert(1)</script>\n")
    response = user_client.get(f"{URL}/{document['id']}/file")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
