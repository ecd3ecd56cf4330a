"""Redis outage with REDIS_URL set: clean 503s where Redis is needed, reads keep working,
WebSockets end with an error frame, and service resumes by itself when Redis is back.

Each test starts its own ``redis-server`` on a free port (never the shared one), points the
cache and the channel layer at it, kills it, and starts it again on the same port.
"""

import shutil
from collections.abc import Iterator

import pytest
import redis
from channels.layers import channel_layers

from accounts.tokens import issue_tokens
from config.settings import base
from tests.chat.ws import open_socket, until_end
from tests.multiprocess.processes import RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]


@pytest.fixture
def private_redis(settings, tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    # What config.settings.base builds from REDIS_URL, pointed at this server.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "outage-test",
            "TIMEOUT": 300,
            "OPTIONS": {
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                "retry_on_error": base.REDIS_RETRY_ON_ERROR,
            },
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": server.url,
                        "socket_timeout": 30,
                        "retry_on_error": base.REDIS_RETRY_ON_ERROR,
                    }
                ]
            },
        }
    }
    settings.AI_PROVIDER = "offline"
    channel_layers.backends.clear()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        channel_layers.backends.clear()


def _bearer(client, user) -> None:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, (response.status_code, response.content)
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert response["Retry-After"] == "5"


def test_rest_answers_503_for_writes_serves_reads_and_recovers(
    private_redis, api_client, user, password
):
    login = {"email": user.email, "password": password}
    assert api_client.post("/api/v1/auth/login", login).status_code == 200
    _bearer(api_client, user)
    assert api_client.get("/api/v1/chat/sessions").status_code == 200

    private_redis.stop()

    # A read is not refused because the throttle cache is down.
    listed = api_client.get("/api/v1/chat/sessions")
    assert listed.status_code == 200, listed.content
    assert api_client.get("/api/v1/users/me").status_code == 200
    # Writes cannot be counted by their throttles: 503, never 500. Login too: its lock-out
    # counters live in Redis.
    _assert_unavailable(api_client.post("/api/v1/chat/sessions", {"title": "x"}))
    api_client.credentials()
    _assert_unavailable(api_client.post("/api/v1/auth/login", login))
    health = api_client.get("/health/detailed")
    assert health.status_code == 503
    assert {"cache", "channel_layer"} <= set(health.json()["failing"])

    private_redis.start()  # same port: no restart of the app

    assert api_client.post("/api/v1/auth/login", login).status_code == 200
    _bearer(api_client, user)
    assert api_client.post("/api/v1/chat/sessions", {"title": "x"}).status_code == 201
    assert api_client.get("/health/detailed").json()["checks"]["cache"]["status"] == "up"


def test_admin_console_opens_while_redis_is_down(private_redis, client, admin_user):
    client.force_login(admin_user)
    private_redis.stop()
    response = client.get("/admin/")
    assert response.status_code == 200


async def _closed_with_error(communicator) -> dict:
    frame = await communicator.receive_json_from(timeout=10)
    assert frame["type"] == "error", frame
    assert frame["code"] == "SERVICE_UNAVAILABLE"
    closed = await communicator.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": 4503}
    return frame


@pytest.fixture
def token(user) -> str:
    return issue_tokens(user=user)["access"]


async def test_websocket_gets_an_error_frame_and_recovers(private_redis, token):
    from channels.testing import WebsocketCommunicator

    from tests.chat.ws import ORIGIN, application

    live = await open_socket(token)

    private_redis.stop()

    # The open socket's channel layer fails: error frame and 4503, not a bare 1011.
    await _closed_with_error(live)
    # A new connection gets the same clean answer.
    fresh = WebsocketCommunicator(application(), "/ws/chat/", headers=[ORIGIN])
    connected, _ = await fresh.connect(timeout=10)
    assert connected
    await fresh.send_json_to({"type": "auth", "token": token})
    await _closed_with_error(fresh)

    private_redis.start()

    again = await open_socket(token)
    await again.send_json_to({"type": "message", "content": "Hello again"})
    frames = await until_end(again)
    assert frames[-1]["status"] == "complete"
    await again.disconnect()


def test_broker_and_pool_errors_map_to_the_503_envelope():
    import kombu.exceptions

    from config.exceptions import exception_to_envelope

    for error in (
        kombu.exceptions.OperationalError("broker unreachable"),
        redis.exceptions.MaxConnectionsError("Too many connections"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
    ):
        status, body, headers = exception_to_envelope(error)
        assert (status, body["code"], headers) == (503, "SERVICE_UNAVAILABLE", {"Retry-After": "5"})
        assert "Too many" not in body["message"] and "broker" not in body["message"]
