"""Root fixtures: users of each role and API clients."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Role
from core.tenancy import platform_scope
from tests.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and other cached state never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _platform_scope_for_test_code():
    """Test code reads any organization's rows (its assertions are platform code). Every door
    it drives starts from no organization (the request middleware, the consumer, tasks), so
    the code under test still runs with the tenancy of production."""
    with platform_scope():
        yield


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user(db):
    return UserFactory(role=Role.USER)


@pytest.fixture
def viewer_user(db):
    return UserFactory(role=Role.VIEWER)


@pytest.fixture
def admin_user(db):
    return UserFactory(role=Role.ADMIN, email="admin@example.com", username="admin")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def _bearer_client(user) -> APIClient:
    from accounts.tokens import issue_tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    return client


@pytest.fixture
def user_client(user) -> APIClient:
    return _bearer_client(user)


@pytest.fixture
def viewer_client(viewer_user) -> APIClient:
    return _bearer_client(viewer_user)


@pytest.fixture
def admin_client_api(admin_user) -> APIClient:
    return _bearer_client(admin_user)


class _LineCollector:
    """A logging handler that keeps every line exactly as the project's formatter renders it."""

    def __init__(self) -> None:
        import logging

        from django.conf import settings

        config = settings.LOGGING["formatters"]["structured"]
        formatter = config["()"](**{k: v for k, v in config.items() if k != "()"})
        self.lines: list[str] = []
        collector = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                collector.lines.append(self.format(record))

        self.handler = Handler()
        self.handler.setFormatter(formatter)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def log_lines():
    """Rendered log lines of the test (after redaction), as a list with a ``text`` view."""
    import logging

    collector = _LineCollector()
    root = logging.getLogger()
    root.addHandler(collector.handler)
    try:
        yield collector
    finally:
        root.removeHandler(collector.handler)


@pytest.fixture
def fake_openai():
    """A local OpenAI-compatible server on 127.0.0.1 (see tests/fakes/openai_server.py)."""
    from tests.fakes import FakeOpenAI

    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
