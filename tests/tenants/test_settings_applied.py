"""An organization's system prompt and allowed models apply to its members' chats, the
models list and the OpenAI-compatible ``/v1/models``."""

import pytest

from accounts.apikeys import api_key_create
from core.actor import Actor
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

SEND = "/api/v1/chat/message"


@pytest.fixture
def fake(settings, fake_openai):
    fake_openai.configure(settings, mode="openai")
    settings.AI_ALLOWED_MODELS = ["fake-chat", "fake-large", "fake-small"]
    settings.CHAT_SYSTEM_PROMPT = "PLATFORM-PROMPT"
    return fake_openai


def _configure(team, **fields):
    for name, value in fields.items():
        setattr(team.organization, name, value)
    team.organization.save()


def test_the_organizations_system_prompt_is_used(team, fake):
    _configure(team, system_prompt="ACME-PROMPT")
    fake.script(text="Hi.")
    assert team.client("member").post(SEND, {"message": "hello"}).status_code == 200
    assert fake.chat_requests()[-1]["messages"][0] == {"role": "system", "content": "ACME-PROMPT"}
    # Elsewhere (the member's personal organization) the platform's prompt stays.
    fake.script(text="Hi.")
    team.client("member", header=False).post(SEND, {"message": "hello"})
    assert fake.chat_requests()[-1]["messages"][0]["content"] == "PLATFORM-PROMPT"


def test_allowed_models_restrict_chat(team, fake):
    _configure(team, allowed_models=["fake-large"])
    client = team.client("member")
    refused = client.post(SEND, {"message": "hi", "model": "fake-small"})
    assert refused.status_code == 400 and refused.json()["code"] == "MODEL_NOT_ALLOWED"
    assert fake.chat_requests() == []
    # Without a model, the organization's first allowed model replaces the platform default.
    fake.script(text="ok")
    assert client.post(SEND, {"message": "hi"}).status_code == 200
    assert fake.chat_requests()[-1]["model"] == "fake-large"
    # Another organization is not restricted.
    fake.script(text="ok")
    other = team.client("member", header=False).post(SEND, {"message": "hi", "model": "fake-small"})
    assert other.status_code == 200


def test_allowed_models_narrow_the_models_lists(team, fake):
    _configure(team, allowed_models=["fake-small", "fake-chat"])
    models = team.client("viewer").get("/api/v1/ai/models").json()["models"]
    chat = [(m["id"], m["default"]) for m in models if m["kind"] == "chat"]
    assert chat == [("fake-chat", True), ("fake-small", False)]
    everything = team.client("viewer", header=False).get("/api/v1/ai/models").json()["models"]
    assert {m["id"] for m in everything if m["kind"] == "chat"} == {
        "fake-chat",
        "fake-large",
        "fake-small",
    }
    owner = team.users["owner"]
    _, key = api_key_create(
        actor=Actor(user=owner, organization=team.organization, membership_role="owner"),
        name="sdk",
        scopes=["openai"],
        password=DEFAULT_PASSWORD,
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    listed = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert "fake-large" not in listed and {"fake-chat", "fake-small"} <= set(listed)
    assert client.get("/v1/models/fake-large").status_code == 404
