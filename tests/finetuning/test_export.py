"""Datasets built from the organization's own conversations: selected sessions, or answers
rated up in a period; reviewed first, then saved; only the organization's rows."""

import datetime as dt

import pytest
from django.utils import timezone

from chat.models import MessageStatus
from finetuning.models import TrainingDataset
from tests.chat.factories import ChatMessageFactory, ChatSessionFactory

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/train/datasets/export"


def _session(user, organization, turns):
    session = ChatSessionFactory(user=user, organization=organization)
    now = timezone.now()
    for index, (question, answer, extra) in enumerate(turns):
        ChatMessageFactory(
            session=session,
            organization=organization,
            message=question,
            response=answer,
            timestamp=now - dt.timedelta(minutes=10 - index),
            **extra,
        )
    return session


def test_export_sessions_with_the_system_prompt_review_then_save(openai_provider, team):
    team.organization.system_prompt = "You are Acme's support assistant."
    team.organization.save()
    first = _session(
        team.member,
        team.organization,
        [
            ("How do I reset?", "Press the button.", {}),
            ("Still stuck", "", {"status": MessageStatus.FAILED}),  # left out
            ("Thanks", "You're welcome.", {}),
        ],
    )
    second = _session(team.owner, team.organization, [("Hours?", "9 to 5.", {})])
    body = {"session_ids": [first.pk, second.pk]}
    review = team.admin_client.post(EXPORT, body, format="json")
    assert review.status_code == 200, review.data
    assert review.data["examples"] == 2 and review.data["dataset"] is None
    assert review.data["problem_count"] == 0 and review.data["total_tokens"] > 0
    assert review.data["preview"][0]["messages"] == [
        {"role": "system", "content": "You are Acme's support assistant."},
        {"role": "user", "content": "How do I reset?"},
        {"role": "assistant", "content": "Press the button."},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "You're welcome."},
    ]
    assert not TrainingDataset.objects.exists()  # a review stores nothing

    saved = team.admin_client.post(EXPORT, {**body, "save": True, "name": "Support"}, format="json")
    assert saved.status_code == 201, saved.data
    dataset = TrainingDataset.objects.get()
    assert dataset.source == "export" and dataset.examples == 2
    assert dataset.organization_id == team.organization.pk
    download = team.admin_client.get(f"/api/v1/train/datasets/{dataset.pk}/download")
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 2 and "Press the button." in lines[0]


def test_export_answers_rated_up_in_a_period(openai_provider, team):
    now = timezone.now()
    up = {"feedback": {"rating": "up"}}
    session = ChatSessionFactory(user=team.member, organization=team.organization)
    for question, answer, feedback, age in [
        ("Old question", "Old answer", up, 40),
        ("Liked", "Great answer", up, 5),
        ("Disliked", "Bad answer", {"feedback": {"rating": "down"}}, 4),
        ("Unrated", "Plain answer", {}, 3),
        ("Liked too", "Another good one", {"feedback": {"rating": "up", "score": 5}}, 2),
    ]:
        ChatMessageFactory(
            session=session,
            organization=team.organization,
            message=question,
            response=answer,
            timestamp=now - dt.timedelta(days=age),
            **feedback,
        )
    body = {
        "rated_since": (now - dt.timedelta(days=30)).isoformat(),
        "system_prompt": "Be kind.",
        "save": True,
    }
    response = team.admin_client.post(EXPORT, body, format="json")
    assert response.status_code == 201, response.data
    answers = [e["messages"][2]["content"] for e in response.data["preview"]]
    assert answers == ["Great answer", "Another good one"]
    assert all(
        e["messages"][0] == {"role": "system", "content": "Be kind."}
        for e in response.data["preview"]
    )


def test_export_reads_only_this_organizations_conversations(openai_provider, team, user):
    # ``user``'s personal organization is another organization.
    foreign = ChatSessionFactory(user=user)
    ChatMessageFactory(session=foreign, feedback={"rating": "up"})
    ChatMessageFactory(session=foreign, feedback={"rating": "up"})
    response = team.admin_client.post(EXPORT, {"session_ids": [foreign.pk]}, format="json")
    assert response.status_code == 404 and response.data["details"]["session_ids"] == [foreign.pk]
    rated = team.admin_client.post(EXPORT, {}, format="json")
    assert rated.status_code == 200 and rated.data["examples"] == 0
    assert rated.data["problems"][0]["code"] == "too_few_examples"
    saved = team.admin_client.post(EXPORT, {"save": True}, format="json")
    assert saved.status_code == 400 and saved.data["code"] == "DATASET_INVALID"


def test_export_is_for_admins_only(openai_provider, team):
    response = team.member_client.post(EXPORT, {}, format="json")
    assert response.status_code == 403
