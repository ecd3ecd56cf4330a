"""The embedded server as `make run` starts it: safe to expose (issue 13, items 1, 6 and 7).

One real server process on a fresh DATA_DIR: no debug pages, static files and the admin served
with DEBUG off, a generated private signing key, oversized bodies refused, and no secret from a
query string, a header or the key file in anything the process printed.
"""

import asyncio
import contextlib
import json
import stat

import httpx
import pytest
import websockets

from tests.server_process import EmbeddedServer

pytestmark = pytest.mark.slow

SECRETS = {
    "query_token": "Qtok4f9a1c",
    "refresh_token": "Rtok7b2e9d",
    "password": "Pw0rd-8c1f",
    "api_key": "Akey3d5e7f",
    "verify": "Vlnk6a2b4c",
    "bearer": "eyJBearer.x1y2.z3",
    "ws_token": "Wtok9e8d7c",
}
DEBUG_MARKERS = ("Traceback", "URLconf", "DEBUG = True", "settings.py", "Request Method:")


@pytest.fixture(scope="module")
def server():
    srv = EmbeddedServer().start()
    yield srv
    srv.cleanup()


def _assert_plain(response: httpx.Response) -> None:
    for marker in DEBUG_MARKERS:
        assert marker not in response.text, (marker, response.text[:500])


def test_unknown_routes_answer_without_debug_pages(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        api = client.get("/api/v1/no-such-route/")
        assert api.status_code == 404
        assert api.json()["code"] == "NOT_FOUND"
        _assert_plain(api)
        page = client.get("/no-such-page/")
        assert page.status_code == 404
        _assert_plain(page)
        nested = client.post(
            "/api/v1/auth/login",
            content="[" * 50_000 + "]" * 50_000,
            headers={"Content-Type": "application/json"},
        )
        assert nested.status_code < 500 or nested.json()["code"] == "INTERNAL_ERROR"
        _assert_plain(nested)


def test_static_files_docs_and_admin_work_with_debug_off(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        css = client.get("/static/admin/css/base.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        docs = client.get("/api/docs/")
        assert docs.status_code == 200
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            src = next(part for part in docs.text.split('"') if part.endswith(asset))
            assert client.get(src).status_code == 200, src
        assert client.get("/admin/login/").status_code == 200
        page = client.get("/")
        assert page.status_code == 200
        for asset in ("/static/chat/app.css", "/static/chat/app.js"):
            assert asset in page.text
            assert client.get(asset).status_code == 200, asset


def test_generated_key_file_is_private(server):
    path = server.data_dir / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 50


def test_oversized_chunked_body_is_refused(server):
    def stream():
        for _ in range(64):  # 64 MB, chunked, to a route with the 1 MB limit
            yield b"x" * (1024 * 1024)

    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post(
            "/api/v1/auth/login", content=stream(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def _websocket_with_token_in_query(server) -> None:
    url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={SECRETS['ws_token']}"
    # The server answers an error frame and closes with 4401, possibly before the client's own
    # close handshake completes: either way the handshake and the close were logged.
    with contextlib.suppress(websockets.ConnectionClosed):
        async with websockets.connect(url, origin=server.url) as socket:
            await socket.send(json.dumps({"type": "auth", "token": SECRETS["ws_token"]}))
            await asyncio.wait_for(socket.recv(), 10)


def test_no_secret_reaches_the_server_output(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.get(f"/api/v1/users?token={SECRETS['query_token']}&page=2")
        client.post(
            f"/api/v1/auth/refresh?refresh_token={SECRETS['refresh_token']}",
            json={"refresh": SECRETS["refresh_token"]},
        )
        client.post(
            f"/api/v1/auth/login?password={SECRETS['password']}",
            json={"email": "nobody@example.com", "password": SECRETS["password"]},
        )
        client.get(f"/no-such-page/?api_key={SECRETS['api_key']}")
        client.get(f"/?verify={SECRETS['verify']}")
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {SECRETS['bearer']}"})
    asyncio.run(_websocket_with_token_in_query(server))
    server.stop()  # flushes and ends the process: everything it will ever print is in the file
    output = server.output()
    assert "/ws/chat/" in output and "/api/v1/users" in output  # the access lines are there
    for name, value in SECRETS.items():
        assert value not in output, name
    assert (server.data_dir / "secret_key").read_text().strip() not in output
