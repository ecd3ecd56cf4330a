"""No account enumeration through timing: forgot-password and code requests answer before any
work that depends on the address (look-up, link or code, rendering, mail) has run.

Asserted without clocks: the view is called directly (no server closes the response), and
the answer for a known and an unknown address must be the same, made with the same (zero)
database queries and no mail; the mail goes out only when the server closes the response.
The measured difference is printed by tests/performance/bench_account_timing.py.
"""

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import close_old_connections
from rest_framework.test import APIRequestFactory

from accounts import lifecycle
from accounts.api.views.lifecycle import CodeRequestView, PasswordForgotView
from ops.models import AuditEvent

pytestmark = pytest.mark.django_db

FORGOT = "/api/v1/auth/password/forgot"
CODE = "/api/v1/auth/code/request"
CASES = [(PasswordForgotView, FORGOT, "reset="), (CodeRequestView, CODE, "code")]


def _server_closes(response) -> None:
    """What the server does after the last byte. Like Django's test client, keep the test's
    database connection open (request_finished would close it on PostgreSQL)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def _answer(view, path: str, email: str, django_assert_num_queries):
    request = APIRequestFactory().post(path, {"email": email}, format="json")
    with django_assert_num_queries(0):
        response = view.as_view()(request)
        response.render()
    return response


@pytest.mark.parametrize(("view", "path", "marker"), CASES)
def test_the_answer_leaves_before_any_address_dependent_work(
    view, path, marker, user, django_assert_num_queries, settings
):
    # Closed registration: an unknown address may not sign up by code, so it gets no mail.
    settings.REGISTRATION_OPEN = False
    known = _answer(view, path, user.email, django_assert_num_queries)
    unknown = _answer(view, path, "nobody@example.com", django_assert_num_queries)
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    # Nothing was looked up, made or sent yet: not even the audit event.
    assert mail.outbox == []
    assert not AuditEvent.objects.exists()

    _server_closes(unknown)
    assert mail.outbox == []
    _server_closes(known)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    assert marker in mail.outbox[0].body
    assert sorted(AuditEvent.objects.values_list("details__known", flat=True)) == [False, True]


def test_code_is_stored_only_after_the_answer(user, django_assert_num_queries):
    response = _answer(CodeRequestView, CODE, user.email, django_assert_num_queries)
    assert cache.get(lifecycle._code_key(user.email)) is None
    _server_closes(response)
    assert cache.get(lifecycle._code_key(user.email)) is not None


def test_a_failing_job_is_logged_not_raised(user, monkeypatch, log_lines):
    from django.db import DatabaseError

    def broken(email: str):
        raise DatabaseError("database went away")

    monkeypatch.setattr(lifecycle, "_active_user_by_email", broken)
    request = APIRequestFactory().post(FORGOT, {"email": user.email}, format="json")
    response = PasswordForgotView.as_view()(request)
    assert response.status_code == 202
    _server_closes(response)
    assert "after_response_job_failed" in log_lines.text
    assert mail.outbox == []


@pytest.mark.parametrize(("path", "kind"), [(FORGOT, "password_reset"), (CODE, "login_code")])
def test_unknown_addresses_get_the_same_work_short_of_sending(
    api_client, user, path, kind, settings
):
    """After the answer the work still runs on the server (and can delay the caller's next
    request on the connection): an unknown address renders the same mail, sends none (with
    registration closed; while it is open, an unknown address may sign up by code)."""
    settings.REGISTRATION_OPEN = False
    from django.test.signals import template_rendered

    rendered: list[str] = []

    def record(sender, template, context, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(record)
    try:
        assert api_client.post(path, {"email": user.email}, format="json").status_code == 202
        known, rendered[:] = list(rendered), []
        assert api_client.post(path, {"email": "nobody@example.com"}, format="json").status_code
        unknown = list(rendered)
    finally:
        template_rendered.disconnect(record)
    assert sorted(known) == sorted(unknown)
    assert f"email/{kind}.html" in unknown
    assert len(mail.outbox) == 1
