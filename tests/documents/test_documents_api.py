"""Documents API: upload validation and limits, duplicates, listing, roles, isolation."""

import pytest
from django.core.files.storage import default_storage

from documents.models import Document, DocumentStatus
from tests.ai.factories import (
    edge_store_fixture,  # noqa: F401
    make_pdf,
    upload,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/documents"


def post_file(client, name: str, data: bytes, **extra):
    return client.post(URL, {"file": upload(name, data), **extra}, format="multipart")


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT / "documents"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_pdf_upload_is_accepted_and_processed(user_client, edge_store):
    pdf = make_pdf(["Alpha page text.", "Beta page text."])
    response = post_file(user_client, "../../etc/report.pdf", pdf, title="Report")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["file_type"] == "pdf"
    assert body["title"] == "Report"
    assert body["original_name"] == "report.pdf"

    detail = user_client.get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "ready"
    assert detail["pages"] == 2
    assert detail["chunks"] == 2
    assert detail["progress"] == 100

    document = Document.objects.get(pk=body["id"])
    # Stored under a server-generated name: owner id / document id, never the client's name.
    assert document.file.name == f"documents/{document.owner_id}/{document.pk}.pdf"
    assert default_storage.exists(document.file.name)


def test_text_and_markdown_are_detected_from_content(user_client, edge_store):
    text = post_file(user_client, "notes.md", b"Plain notes without any markup at all.\n")
    markdown = post_file(
        user_client, "notes.txt", b"# Heading\n\nSome *text* and a [link](https://x.y).\n"
    )
    assert text.status_code == 202 and markdown.status_code == 202
    assert text.json()["file_type"] == "text"
    assert markdown.json()["file_type"] == "markdown"
    for body in (text.json(), markdown.json()):
        assert user_client.get(f"{URL}/{body['id']}").json()["status"] == "ready"


def test_png_renamed_to_pdf_is_refused_and_nothing_stored(user_client, edge_store, settings):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    response = post_file(user_client, "photo.pdf", png)
    assert response.status_code == 415
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "PNG" in body["message"]
    assert Document.objects.count() == 0
    assert stored_files(settings) == []


def test_binary_garbage_named_txt_is_refused(user_client, edge_store):
    response = post_file(user_client, "data.txt", b"abc\x00\x01\x02" * 50)
    assert response.status_code == 415
    assert Document.objects.count() == 0


def test_empty_file_is_refused(user_client, edge_store):
    response = post_file(user_client, "empty.txt", b"")
    assert response.status_code == 400
    assert response.json()["code"] == "EMPTY_FILE"


def test_oversize_file_is_413_and_nothing_stored(user_client, edge_store, settings):
    settings.DOCUMENT_MAX_UPLOAD_BYTES = 1000
    response = post_file(user_client, "big.txt", b"word " * 400)
    assert response.status_code == 413
    assert response.json()["code"] == "FILE_TOO_LARGE"
    assert Document.objects.count() == 0
    assert stored_files(settings) == []


def test_too_many_pages_is_400_and_nothing_stored(user_client, edge_store, settings):
    settings.DOCUMENT_MAX_PAGES = 3
    response = post_file(user_client, "long.pdf", make_pdf([f"page {i}" for i in range(5)]))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "TOO_MANY_PAGES"
    assert body["details"] == {"pages": 5, "max_pages": 3}
    assert Document.objects.count() == 0
    assert stored_files(settings) == []


def test_duplicate_upload_returns_the_existing_document(user_client, edge_store, settings):
    data = b"The same bytes twice."
    first = post_file(user_client, "a.txt", data)
    second = post_file(user_client, "b.txt", data)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Document.objects.count() == 1
    assert len(stored_files(settings)) == 1


def test_same_bytes_from_another_user_is_a_separate_document(user_client, edge_store):
    from tests.conftest import _bearer_client

    other = _bearer_client(UserFactory())
    data = b"Shared handout text."
    assert post_file(user_client, "a.txt", data).status_code == 202
    assert post_file(other, "a.txt", data).status_code == 202
    assert Document.objects.count() == 2


def test_viewer_can_list_but_not_upload_or_delete(viewer_client, viewer_user, edge_store):
    response = post_file(viewer_client, "a.txt", b"hello")
    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert viewer_client.get(URL).status_code == 200


def test_viewer_cannot_delete_own_document(viewer_client, viewer_user, edge_store):
    document = Document.objects.create(
        owner=viewer_user, title="t", file_type="text", sha256="x" * 64
    )
    assert viewer_client.delete(f"{URL}/{document.pk}").status_code == 403
    assert Document.objects.filter(pk=document.pk).exists()


def test_list_is_own_paginated_and_filtered_by_status(user_client, user, edge_store):
    other = UserFactory()
    Document.objects.create(owner=other, title="theirs", file_type="text", sha256="a" * 64)
    for i in range(3):
        Document.objects.create(
            owner=user,
            title=f"mine {i}",
            file_type="text",
            sha256=str(i) * 64,
            status=DocumentStatus.FAILED if i == 0 else DocumentStatus.READY,
        )
    body = user_client.get(URL, {"page_size": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert all(r["title"].startswith("mine") for r in body["results"])
    failed = user_client.get(URL, {"status": "failed"}).json()
    assert [r["title"] for r in failed["results"]] == ["mine 0"]
    assert user_client.get(URL, {"status": "bogus"}).status_code == 400


def test_another_users_document_is_404_everywhere(user_client, edge_store):
    other = UserFactory()
    document = Document.objects.create(
        owner=other, title="secret", file_type="text", sha256="b" * 64
    )
    for response in (
        user_client.get(f"{URL}/{document.pk}"),
        user_client.delete(f"{URL}/{document.pk}"),
        user_client.post(f"{URL}/{document.pk}/reindex"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    assert Document.objects.filter(pk=document.pk).exists()


def test_unauthenticated_is_401(api_client, edge_store):
    assert api_client.get(URL).status_code == 401
