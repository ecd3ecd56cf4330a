"""The API contract as an integrator meets it: schema, URL style, validation edges, the
browsable API, and the README's promises (issue 16)."""

import re
import uuid

import pytest
import yaml
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

import config
from accounts.models import ApiKey
from documents.models import Document
from tests.accounts.helpers import assert_envelope
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

OPENAI_ERROR_REF = "#/components/schemas/Error"
ERROR_REF = "#/components/schemas/ErrorEnvelope"


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


# --- schema -------------------------------------------------------------------------------


def test_every_error_status_has_the_envelope_as_its_body(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        # Every operation can be throttled, and its throttle cache can be down.
        assert {"429", "503"} <= set(responses), (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                body = response["content"]["application/json"]["schema"]
                # /v1/ is the OpenAI-compatible API: OpenAI's error shape, for its clients.
                expected = OPENAI_ERROR_REF if path.startswith("/v1/") else ERROR_REF
                assert body == {"$ref": expected}, (method, path, status)
        if "{" in path:
            assert "404" in responses, (method, path)
        if operation.get("requestBody"):
            assert {"400", "413", "415"} <= set(responses), (method, path)
        if any(req for req in operation.get("security", schema.get("security", []))):
            assert {"401", "403"} <= set(responses), (method, path)
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {
        "success",
        "message",
        "code",
        "details",
        "timestamp",
        "request_id",
    }


def test_request_bodies_are_json_except_uploads(schema):
    for path, method, operation in _operations(schema):
        content = set(operation.get("requestBody", {}).get("content", {}))
        if path in ("/api/v1/documents", "/api/v1/train/upload") and method == "post":
            assert content == {"multipart/form-data"}
        elif content:
            assert content == {"application/json"}, (method, path, content)


def test_login_schema_marks_what_the_server_requires(schema, api_client):
    body = schema["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    json_ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][json_ref]["required"]) == {"email", "password"}
    # ... and the server does require the email.
    response = api_client.post("/api/v1/auth/login", {"password": "x"}, format="json")
    assert "email" in assert_envelope(response, 400, "VALIDATION_ERROR")["details"]


def test_schema_version_is_the_health_version(schema, api_client):
    assert schema["info"]["version"] == config.__version__
    assert api_client.get("/health").json()["version"] == schema["info"]["version"]


def test_form_and_multipart_bodies_are_refused_on_json_endpoints(user_client):
    response = user_client.post("/api/v1/chat/sessions", {"title": "x"}, format="multipart")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


# --- one URL style ------------------------------------------------------------------------


def test_no_api_route_ends_with_a_slash(schema):
    assert schema["paths"]
    assert [path for path in schema["paths"] if path.endswith("/")] == []


def test_get_with_a_trailing_slash_redirects_to_the_route(user_client):
    response = user_client.get("/api/v1/chat/sessions/?page_size=5")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/chat/sessions?page_size=5"
    assert user_client.get("/api/v1/users/me/").status_code == 301


def test_delete_with_a_trailing_slash_is_a_404_naming_the_route_and_revokes_nothing(
    user_client, user
):
    created = user_client.post(
        "/api/v1/users/me/api-keys", {"name": "k", "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    response = user_client.delete(f"/api/v1/users/me/api-keys/{created['id']}/")
    body = assert_envelope(response, 404, "NOT_FOUND")
    assert body["details"]["path"] == f"/api/v1/users/me/api-keys/{created['id']}"
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is None


def test_unknown_api_routes_answer_the_envelope_in_every_mode(settings, api_client):
    for debug in (True, False):
        settings.DEBUG = debug
        for method in ("get", "post", "delete"):
            response = getattr(api_client, method)("/api/v1/no-such-thing")
            assert_envelope(response, 404, "NOT_FOUND")
        assert_envelope(api_client.get("/api/v2/users"), 404, "NOT_FOUND")


# --- validation edges ---------------------------------------------------------------------


def test_deeply_nested_json_is_a_400_envelope(user_client):
    for depth in (100, 100_000):
        body = "[" * depth + "]" * depth
        response = user_client.generic(
            "POST", "/api/v1/chat/sessions", body, content_type="application/json"
        )
        assert_envelope(response, 400, "VALIDATION_ERROR")
    nested = {"a": 1}
    for _ in range(70):
        nested = {"a": nested}
    response = user_client.patch("/api/v1/users/me", {"preferences": nested}, format="json")
    assert_envelope(response, 400)


@pytest.mark.parametrize("ordering", ["--email", "-", "password", "email,role"])
def test_bad_user_ordering_is_a_400(admin_client_api, ordering):
    body = assert_envelope(admin_client_api.get("/api/v1/users", {"ordering": ordering}), 400)
    assert "ordering" in body["details"]


def test_good_user_orderings_still_work(admin_client_api):
    UserFactory(email="zed@example.com")
    emails = [
        u["email"]
        for u in admin_client_api.get("/api/v1/users", {"ordering": "-email"}).json()["results"]
    ]
    assert emails == sorted(emails, reverse=True)


def test_malformed_document_id_is_a_404(user_client):
    for document_id in ("-" * 36, "not-a-uuid", "g" * 8 + "-aaaa-aaaa-aaaa-" + "a" * 12, "123"):
        for method in ("get", "delete"):
            response = getattr(user_client, method)(f"/api/v1/documents/{document_id}")
            assert_envelope(response, 404, "NOT_FOUND")
        assert_envelope(user_client.post(f"/api/v1/documents/{document_id}/reindex"), 404)


def test_missing_document_with_a_valid_id_is_a_404(user_client):
    assert_envelope(user_client.get(f"/api/v1/documents/{uuid.uuid4()}"), 404)
    assert not Document.objects.exists()


@pytest.mark.parametrize("value", ["null", "abc", "0", "-3", "1.5", ""])
@pytest.mark.parametrize(
    "path", ["/api/v1/chat/sessions", "/api/v1/documents", "/api/v1/users/me/api-keys"]
)
def test_unreadable_page_size_is_a_400(user_client, path, value):
    body = assert_envelope(user_client.get(path, {"page_size": value}), 400, "VALIDATION_ERROR")
    assert "page_size" in body["details"]


def test_page_size_over_the_cap_is_served_at_the_cap(admin_client_api, settings):
    UserFactory.create_batch(3)
    body = admin_client_api.get("/api/v1/users", {"page_size": 10_000}).json()
    assert body["count"] == 4 and len(body["results"]) == 4
    assert_envelope(admin_client_api.get("/api/v1/users", {"page": "zero"}), 400)


# --- README truths ------------------------------------------------------------------------


def test_email_links_follow_the_address_the_server_was_reached_at(api_client, user, settings):
    settings.FRONTEND_URL = ""
    response = api_client.post(
        "/api/v1/auth/password/forgot",
        {"email": user.email},
        format="json",
        HTTP_HOST="127.0.0.1:8123",
    )
    assert response.status_code == 202
    assert "http://127.0.0.1:8123/?reset=" in mail.outbox[0].body
    assert ":8000" not in mail.outbox[0].body


def test_api_docs_load_nothing_from_the_internet(api_client):
    for page in ("/api/redoc/", "/api/docs/"):
        response = api_client.get(page)
        assert response.status_code == 200
        html = response.content.decode()
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assert urls, html
        assert [u for u in urls if re.match(r"^(https?:)?//", u)] == [], page
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html


def test_healthz_is_an_alias_of_health(api_client):
    body = api_client.get("/healthz").json()
    assert body["status"] == "ok" and body["version"] == config.__version__


# --- the browsable API --------------------------------------------------------------------

HTML = {"HTTP_ACCEPT": "text/html"}


def test_browsable_api_works_with_the_console_session(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get("/api/v1/users", **HTML)
    assert page.status_code == 200
    assert admin_user.email in page.content.decode()
    # The session never authenticates JSON clients.
    assert_envelope(client.get("/api/v1/users", HTTP_ACCEPT="application/json"), 401)
    # Unsafe methods from the browsable API need the CSRF token.
    response = client.post("/api/v1/chat/sessions", "{}", content_type="application/json", **HTML)
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()


def test_browsable_api_takes_a_session_only_after_mfa(user):
    client = Client()
    client.force_login(user)
    assert client.get("/api/v1/users/me", **HTML).status_code == 200
    # With MFA on, a session that did not pass the console's OTP step is not enough.
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    assert client.get("/api/v1/users/me", **HTML).status_code == 401


def test_browsable_root_lists_the_endpoint_groups_and_a_login_link(api_client):
    body = api_client.get("/api/v1/", HTTP_ACCEPT="application/json").json()
    assert {"auth", "users", "chat", "documents", "ai", "admin", "schema", "docs"} <= set(body)
    assert body["chat"]["sessions"].endswith("/api/v1/chat/sessions")
    page = Client().get("/api/v1/", **HTML).content.decode()
    assert 'href="/admin/login/?next=/api/v1/"' in page


# --- the Postman collection ---------------------------------------------------------------


def test_postman_collection_is_generated_from_the_current_schema(schema):
    from config import postman

    assert postman.COLLECTION_PATH.read_text() == postman.render()
    collection = postman.collection_from_schema(schema)
    requests = [item["request"] for folder in collection["item"] for item in folder["item"]]
    operations = list(_operations(schema))
    assert len(requests) == len(operations)
    upload = next(
        r
        for r in requests
        if r["url"]["raw"] == "{{baseUrl}}/api/v1/documents" and r["method"] == "POST"
    )
    assert upload["body"]["mode"] == "formdata"
    login = next(r for r in requests if r["url"]["raw"].endswith("/auth/login"))
    assert login["auth"] == {"type": "noauth"} and login["body"]["mode"] == "raw"
