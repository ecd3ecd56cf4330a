"""Fixtures of the fine-tuning tests: the fake provider (both URL shapes), JSONL builders,
organization admins and members, and the periodic sync as beat or the embedded timer runs it."""

import json
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tokens import issue_tokens
from core.actor import Actor
from finetuning.models import FineTuneJob
from finetuning.tasks import jobs_sync_task
from tenants.models import MemberRole, Membership
from tenants.services import organization_create
from tests.factories import UserFactory

BASE_MODEL = "gpt-4o-mini-2024-07-18"
UPLOAD = "/api/v1/train/upload"
START = "/api/v1/train/start"


def example(question: str = "What is 2 + 2?", answer: str = "4.") -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def jsonl(count: int = 3, **kwargs: str) -> bytes:
    return "".join(
        json.dumps(example(f"Question {i}?", f"Answer {i}.")) + "\n" for i in range(count)
    ).encode()


def upload_file(data: bytes, name: str = "train.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/jsonl")


def client_for(user, organization=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    if organization is not None:
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}",
            HTTP_X_TENANT_ID=str(organization.pk),
        )
    return client


@pytest.fixture
def finetune_settings(settings):
    settings.FINETUNING_MODELS = [BASE_MODEL, "gpt-4o-2024-08-06"]
    settings.FINETUNING_MIN_EXAMPLES = 2
    settings.FINETUNING_SYNC_INTERVAL = 60
    settings.AI_RETRY_BACKOFF_BASE = 0.01
    settings.AI_RETRY_AFTER_CAP = 0.05
    return settings


@pytest.fixture(params=["openai", "azure"])
def provider(request, finetune_settings, fake_openai):
    """The fake server as OpenAI or as Azure OpenAI (each test runs on both URL shapes)."""
    fake_openai.configure(finetune_settings, mode=request.param)
    return request.param


@pytest.fixture
def openai_provider(finetune_settings, fake_openai):
    fake_openai.configure(finetune_settings, mode="openai")
    return "openai"


@pytest.fixture
def team(db):
    """An organization with an owner, an admin and a member (not an admin)."""
    owner = UserFactory(role=Role.USER)
    organization = organization_create(actor=Actor(system=True), name="Acme", owner=owner)
    admin = UserFactory(role=Role.USER)
    member = UserFactory(role=Role.USER)
    Membership.objects.create(organization=organization, user=admin, role=MemberRole.ADMIN)
    Membership.objects.create(organization=organization, user=member, role=MemberRole.MEMBER)

    class Team:
        pass

    team = Team()
    team.organization = organization
    team.owner, team.admin, team.member = owner, admin, member
    team.admin_client = client_for(admin, organization)
    team.member_client = client_for(member, organization)
    return team


@pytest.fixture
def sync() -> Callable[[], int]:
    """Run the periodic task as if its jobs were due (time passing between two looks)."""

    def run() -> int:
        FineTuneJob.all_organizations.update(next_sync_at=timezone.now())
        return jobs_sync_task.apply().result

    return run
