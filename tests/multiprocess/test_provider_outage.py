"""Provider down, for a user who has documents, against a real server process (PostgreSQL +
Redis): REST chat and search answer the 502 envelope, the WebSocket an ``error`` frame on a
socket that stays open, and no message is left ``pending``/``streaming``.

The document is ingested while the upstream is up (embeddings from the fake upstream); then
the upstream process is stopped: every provider call, the query embedding first, fails to
connect, as when a provider is down.
"""

import json

import httpx

from tests.multiprocess.conftest import openai_env
from tests.multiprocess.procs import create_user, start_fake_openai, start_uvicorn
from tests.multiprocess.test_chat_streams import connect, recv

NOTES = b"The spare key of the depot is kept under the blue lantern by the harbor gate."


def _assert_provider_envelope(response: httpx.Response) -> None:
    assert response.status_code == 502, (response.status_code, response.text)
    body = response.json()
    assert body["success"] is False and body["code"] == "AI_PROVIDER_ERROR", body
    assert body["request_id"]


async def test_provider_down_with_documents_answers_envelopes_and_error_frames(mp_env, mp_db):
    upstream, base_url = start_fake_openai()
    env = {**openai_env(mp_env, base_url), "AI_MAX_RETRIES": "0", "AI_REQUEST_TIMEOUT": "5"}
    user = create_user(mp_env)
    server = start_uvicorn(env, name="outage")
    try:
        headers = {"Authorization": f"Bearer {user['token']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            uploaded = client.post(
                "/api/v1/documents", files={"file": ("notes.txt", NOTES, "text/plain")}
            )
            assert uploaded.status_code == 202, uploaded.text
            document = client.get(f"/api/v1/documents/{uploaded.json()['id']}").json()
            assert document["status"] == "ready", document  # ingested in the request here

            upstream.stop()  # the provider is down from here on

            _assert_provider_envelope(
                client.post("/api/v1/chat/message", json={"message": "Where is the spare key?"})
            )
            _assert_provider_envelope(client.post("/api/v1/search", json={"query": "spare key"}))

        ws = await connect(server, user["token"])
        await ws.send(json.dumps({"type": "message", "content": "Where is the spare key?"}))
        frame = await recv(ws, timeout=30)
        assert frame["type"] == "error", frame
        assert frame["code"] == "AI_PROVIDER_ERROR" and frame["success"] is False, frame
        await ws.send(json.dumps({"type": "ping"}))  # the socket stays usable: no 1011 close
        assert (await recv(ws))["type"] == "pong"
        await ws.close()
    except BaseException:
        print(server.output())
        raise
    finally:
        server.stop()
        upstream.stop()
    assert (
        mp_db.all(
            "SELECT id, status FROM chat_chatmessage WHERE user_id = %s "
            "AND status IN ('pending', 'streaming')",
            user["id"],
        )
        == []
    )
    assert (
        mp_db.all(
            "SELECT id FROM metering_quotareservation WHERE user_id = %s AND status = 'active'",
            user["id"],
        )
        == []
    )
