"""The OpenAI-compatible API through real clients against a live server.

Daphne runs in its own process on a free port with its own database, ``AI_PROVIDER=openai``
pointed at the fake OpenAI server this process runs: the whole path, client SDK -> product ->
provider SDK -> fake, is exercised. The clients are the official ``openai`` SDK (sync and
async, streaming and not, ``with_raw_response``) and LangChain's ``ChatOpenAI``.
"""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from ai.providers.tokens import count_tokens
from tests.fakes import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]

_BOOTSTRAP = """
import json
from django.utils import timezone
from core.actor import Actor
from accounts.apikeys import api_key_create, api_key_revoke
from accounts.models import User
from accounts.tokens import issue_tokens
from metering.models import Quota

PW = "a-long-password-1234"

def user(email, **quota):
    u = User.objects.create_user(email, PW, is_verified=True)
    if quota:
        Quota.objects.create(user=u, **quota)
    return u

main = user("sdk@example.com", max_concurrent=50)
poor = user("poor@example.com", daily_tokens=10)
chatonly = user("chatonly@example.com")
revoked_owner = user("revoked@example.com")
key = api_key_create(actor=Actor(user=main), name="sdk", scopes=["openai"], password=PW)[1]
poor_key = api_key_create(actor=Actor(user=poor), name="poor", scopes=["openai"], password=PW)[1]
chat_key = api_key_create(actor=Actor(user=chatonly), name="chat", scopes=["chat"], password=PW)[1]
gone, gone_key = api_key_create(
    actor=Actor(user=revoked_owner), name="gone", scopes=["openai"], password=PW
)
api_key_revoke(key=gone, actor=Actor(user=revoked_owner))
print(json.dumps({
    "key": key, "poor": poor_key, "chat": chat_key, "revoked": gone_key,
    "jwt": issue_tokens(user=main)["access"], "user_id": main.pk,
}))
"""

# The server's database is an SQLite file: the test reads what it stored directly.
_QUERIES = {
    "usage": "SELECT kind, model, prompt_tokens, completion_tokens FROM metering_usagerecord "
    "WHERE user_id = ? ORDER BY id",
    "audit": "SELECT action, details FROM ops_auditevent "
    "WHERE actor_id = ? AND action LIKE 'ai_%' ORDER BY id",
    "reservations": "SELECT status, charged_tokens FROM metering_quotareservation "
    "WHERE user_id = ? ORDER BY id",
    "stored": "SELECT message, response FROM chat_chatmessage WHERE user_id = ?",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Live:
    def __init__(self, url: str, env: dict[str, str], fake: FakeOpenAI, secrets: dict) -> None:
        self.url = url
        self.env = env
        self.fake = fake
        self.secrets = secrets

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, key: str | None = None, **kwargs) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url, api_key=key or self.secrets["key"], max_retries=0, **kwargs
        )

    def records(self) -> dict:
        """What the server stored for the main user (usage, audit, reservations, sessions)."""
        db = sqlite3.connect(self.env["DATABASE_URL"].removeprefix("sqlite:///"), timeout=10)
        db.row_factory = sqlite3.Row
        try:
            out = {}
            for name, sql in _QUERIES.items():
                rows = [dict(row) for row in db.execute(sql, [self.secrets["user_id"]])]
                if name == "audit":
                    rows = [(row["action"], json.loads(row["details"])) for row in rows]
                out[name] = rows
            return out
        finally:
            db.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    fake = FakeOpenAI().start()
    data_dir = tmp_path_factory.mktemp("openai-live")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "QDRANT_URL", "CELERY_BROKER_URL"}
        and not key.startswith(("AZURE_OPENAI_", "OPENAI_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        AI_PROVIDER="openai",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="upstream-key",
        OPENAI_CHAT_MODEL="fake-chat",
        OPENAI_EMBEDDING_MODEL="fake-embed",
        AI_ALLOWED_MODELS="fake-chat,fake-chat-large",
        AI_MAX_TOKENS="64",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput"], cwd=REPO, env=env, check=True, capture_output=True
    )
    boot = subprocess.run(
        [*manage, "shell", "-c", _BOOTSTRAP],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    secrets = json.loads(boot.stdout.strip().splitlines()[-1])
    port = _free_port()
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *["config.asgi:application"],
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data_dir / "server.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)  # polling the port while the server boots
        yield Live(url, env, fake, secrets)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        fake.stop()


def test_models_list_and_retrieve(live):
    client = live.client()
    ids = [model.id for model in client.models.list()]
    assert ids == ["fake-chat", "fake-chat-large", "fake-embed"]
    model = client.models.retrieve("fake-chat-large")
    assert (model.id, model.object, model.owned_by) == ("fake-chat-large", "model", "openai")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nope")
    assert caught.value.code == "model_not_found"


def test_chat_completion_sync_reserves_settles_meters_and_audits(live):
    live.fake.script(text="Paris is the capital.")
    before = live.records()
    raw = live.client().chat.completions.with_raw_response.create(
        model="fake-chat-large",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
        ],
        max_tokens=20,
        temperature=0.2,
        top_p=0.9,
        stop=["\n\n"],
        user="end-user-1",
    )
    assert raw.status_code == 200
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Paris is the capital."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 4
    upstream = live.fake.chat_requests()[-1]
    assert upstream["model"] == "fake-chat-large"
    assert (upstream["max_tokens"], upstream["temperature"], upstream["top_p"]) == (20, 0.2, 0.9)
    assert upstream["stop"] == ["\n\n"]
    after = live.records()
    assert after["usage"][len(before["usage"]) :] == [
        {
            "kind": "chat",
            "model": "fake-chat-large",
            "prompt_tokens": completion.usage.prompt_tokens,
            "completion_tokens": 4,
        }
    ]
    assert after["reservations"][-1] == {
        "status": "settled",
        "charged_tokens": completion.usage.total_tokens,
    }
    action, details = after["audit"][-1]
    assert action == "ai_generation"
    assert (details["door"], details["status"], details["model"]) == (
        "openai_api",
        "complete",
        "fake-chat-large",
    )
    # OpenAI's ``user`` is what the operator sees of the client's end user.
    assert details["end_user"] == "end-user-1"
    assert details["usage"] == {
        "prompt_tokens": completion.usage.prompt_tokens,
        "completion_tokens": 4,
    }


def test_chat_stream_sync_with_usage(live):
    live.fake.script(text="one two three")
    stream = live.client().chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3


async def test_async_client_stream_and_complete(live):
    client = openai.AsyncOpenAI(
        base_url=live.base_url, api_key=live.secrets["jwt"], max_retries=0
    )  # an access token works as well as a key
    try:
        live.fake.script(text="async answer")
        completion = await client.chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content == "async answer"
        live.fake.script(text="streamed async")
        parts = []
        async with await client.chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}], stream=True
        ) as stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
        assert "".join(parts) == "streamed async"
        raw = await client.embeddings.with_raw_response.create(model="fake-embed", input="x y")
        assert raw.headers["content-type"].startswith("application/json")
        assert len(raw.parse().data[0].embedding) == 1536
    finally:
        await client.close()


def test_embeddings_float_base64_and_dimensions(live):
    client = live.client()
    # The SDK asks for base64 by default and decodes it: the vectors must match the floats.
    decoded = client.embeddings.create(model="fake-embed", input=["alpha beta", "gamma"])
    floats = client.embeddings.create(
        model="fake-embed", input=["alpha beta", "gamma"], encoding_format="float"
    )
    assert [d.index for d in decoded.data] == [0, 1]
    for a, b in zip(decoded.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    assert decoded.usage.prompt_tokens == 3
    short = client.embeddings.create(model="fake-embed", input="alpha", dimensions=64)
    assert len(short.data[0].embedding) == 64
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-nope", input="alpha")
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="fake-embed", input=[])
    assert caught.value.body["param"] == "input"


def test_unknown_model_is_404_before_any_upstream_call(live):
    calls = len(live.fake.chat_requests())
    with pytest.raises(openai.NotFoundError) as caught:
        live.client().chat.completions.create(
            model="gpt-unknown", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 404
    assert caught.value.body == {
        "message": caught.value.body["message"],
        "type": "invalid_request_error",
        "code": "model_not_found",
        "param": "model",
    }
    assert len(live.fake.chat_requests()) == calls


def test_revoked_key_is_401_and_wrong_scope_is_403(live):
    with pytest.raises(openai.AuthenticationError) as caught:
        live.client(live.secrets["revoked"]).models.list()
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        live.client("ak_0000_not-a-key").models.list()
    with pytest.raises(openai.PermissionDeniedError):
        live.client(live.secrets["chat"]).chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}]
        )


def test_exhausted_quota_is_rate_limit_error_with_retry_after(live):
    calls = len(live.fake.chat_requests())
    # The SDK's own retries stay on: the answer tells it not to retry a spent budget.
    client = openai.OpenAI(base_url=live.base_url, api_key=live.secrets["poor"], max_retries=2)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value
    assert error.status_code == 429
    assert error.code == "insufficient_quota"
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["x-should-retry"] == "false"
    assert len(live.fake.chat_requests()) == calls
    assert time.monotonic() - started < 30  # no retry loop over hours


def test_invalid_request_is_400_with_param(live):
    with pytest.raises(openai.BadRequestError) as caught:
        live.client().chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}], temperature=5
        )
    assert caught.value.body["param"] == "temperature"
    response = httpx.post(
        f"{live.base_url}/chat/completions",
        content="model=x",
        headers={
            "Authorization": f"Bearer {live.secrets['key']}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 415
    assert set(response.json()["error"]) == {"message", "type", "code", "param"}


def test_disconnect_mid_stream_stops_upstream_and_charges_produced(live):
    live.fake.closed_early.clear()
    live.fake.script(tokens=400, delay=0.02)
    before = live.records()
    with httpx.stream(
        "POST",
        f"{live.base_url}/chat/completions",
        json={
            "model": "fake-chat",
            "messages": [{"role": "user", "content": "long"}],
            "stream": True,
        },
        headers={"Authorization": f"Bearer {live.secrets['key']}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        received = 0
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"t' in line:
                received += 1
                if received == 5:
                    break  # hang up mid-answer
    assert live.fake.closed_early.wait(timeout=20), "the upstream stream was not closed"
    deadline = time.monotonic() + 20
    while True:
        after = live.records()
        # The audit event is written just after the settlement: wait for both.
        if (
            len(after["reservations"]) > len(before["reservations"])
            and after["reservations"][-1]["status"] != "active"
            and len(after["audit"]) > len(before["audit"])
        ):
            break
        assert time.monotonic() < deadline, after["reservations"][-1]
        time.sleep(0.2)  # the server settles after it notices the hang-up
    charged = after["reservations"][-1]
    usage = after["usage"][-1]
    assert charged["status"] == "settled"
    assert 5 <= usage["completion_tokens"] < 400
    assert charged["charged_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert after["audit"][-1][1]["status"] == "cancelled"


def test_store_saves_a_chat_session(live):
    live.fake.script(text="stored answer")
    live.client().chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "keep this"}],
        extra_body={"store": True},
    )
    assert {"message": "keep this", "response": "stored answer"} in live.records()["stored"]
    live.fake.script(text="not stored")
    live.client().chat.completions.create(
        model="fake-chat", messages=[{"role": "user", "content": "forget this"}]
    )
    assert all(r["message"] != "forget this" for r in live.records()["stored"])


def test_stream_with_raw_response_and_max_completion_tokens(live):
    live.fake.script(text="raw stream")
    with live.client().chat.completions.with_streaming_response.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        max_completion_tokens=7,
    ) as raw:
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.headers["cache-control"] == "no-cache"
        parts = [c.choices[0].delta.content or "" for c in raw.parse() if c.choices]
    assert "".join(parts) == "raw stream"
    assert live.fake.chat_requests()[-1]["max_tokens"] == 7


async def test_async_client_errors_are_the_sdk_exceptions(live):
    def client(key: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=live.base_url, api_key=key, max_retries=0)

    calls = len(live.fake.chat_requests())
    messages = [{"role": "user", "content": "hi"}]
    main, revoked, poor = (client(live.secrets[k]) for k in ("key", "revoked", "poor"))
    try:
        with pytest.raises(openai.NotFoundError) as missing:
            await main.chat.completions.create(model="gpt-unknown", messages=messages, stream=True)
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.AuthenticationError):
            await revoked.chat.completions.create(model="fake-chat", messages=messages)
        with pytest.raises(openai.RateLimitError) as spent:
            await poor.chat.completions.with_raw_response.create(
                model="fake-chat", messages=messages
            )
        assert spent.value.code == "insufficient_quota"
        assert int(spent.value.response.headers["retry-after"]) >= 1
        assert len(live.fake.chat_requests()) == calls
    finally:
        for each in (main, revoked, poor):
            await each.close()


def test_provider_failure_mid_stream_is_an_sdk_error_and_charges_what_was_produced(live):
    live.fake.script(tokens=40, cut_after=5)
    before = live.records()
    parts = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in live.client().chat.completions.create(
            model="fake-chat", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
    assert "interrupted" in caught.value.message
    assert len(parts) == 5
    after = live.records()
    assert len(after["usage"]) == len(before["usage"]) + 1
    # The upstream sent no usage: the produced text is counted.
    assert after["usage"][-1]["completion_tokens"] == count_tokens("".join(parts))
    assert after["reservations"][-1]["status"] == "settled"
    action, details = after["audit"][-1]
    assert (action, details["status"], details["error"]) == (
        "ai_generation",
        "incomplete",
        "stream_interrupted",
    )


def test_store_saves_a_streamed_exchange_too(live):
    live.fake.script(text="streamed and kept")
    stream = live.client().chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "keep the stream"}],
        stream=True,
        extra_body={"store": True},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    deadline = time.monotonic() + 10
    while {"message": "keep the stream", "response": "streamed and kept"} not in (
        live.records()["stored"]
    ):
        assert time.monotonic() < deadline, live.records()["stored"]
        time.sleep(0.1)  # the exchange is stored as the stream is settled


def test_embeddings_write_usage_and_audit(live):
    before = live.records()
    live.client().embeddings.create(model="fake-embed", input=["one", "two"], user="batch-job")
    after = live.records()
    new_usage = after["usage"][len(before["usage"]) :]
    assert [row["kind"] for row in new_usage] == ["embedding"]
    action, details = after["audit"][-1]
    assert (action, details["inputs"], details["end_user"]) == ("ai_embedding", 2, "batch-job")


def test_langchain_chat_openai(live):
    import langchain_openai  # a dev requirement: a missing package must fail, not skip

    llm = langchain_openai.ChatOpenAI(
        model="fake-chat", base_url=live.base_url, api_key=live.secrets["key"], max_retries=0
    )
    live.fake.script(text="from langchain")
    assert llm.invoke("hello").content == "from langchain"
    live.fake.script(text="streamed chain")
    assert "".join(chunk.content for chunk in llm.stream("hello")) == "streamed chain"
    with pytest.raises(openai.NotFoundError):
        langchain_openai.ChatOpenAI(
            model="gpt-unknown", base_url=live.base_url, api_key=live.secrets["key"], max_retries=0
        ).invoke("hello")
    with pytest.raises(openai.RateLimitError):
        langchain_openai.ChatOpenAI(
            model="fake-chat", base_url=live.base_url, api_key=live.secrets["poor"], max_retries=0
        ).invoke("hello")
    embeddings = langchain_openai.OpenAIEmbeddings(
        model="fake-embed",
        base_url=live.base_url,
        api_key=live.secrets["key"],
        max_retries=0,
        # No tiktoken download: the inputs are sent as text, which is what this server takes.
        check_embedding_ctx_length=False,
    )
    vectors = embeddings.embed_documents(["alpha", "beta"])
    assert len(vectors) == 2 and len(vectors[0]) == 1536
