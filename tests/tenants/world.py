"""Two organizations with data of every kind, for the isolation walk and the role matrix.

``A`` holds a1's (owner) and a2's (member) chats, documents (private and shared), API key,
generations, usage, audit events and a feature flag override; ``B`` is b1's (owner). Every
text written in A carries :data:`SECRET`, every id of A is kept, so a response can be
searched for any trace of A."""

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.tokens import issue_tokens
from ai.models import Generation
from billing.models import Invoice
from chat.models import ChatMessage, ChatSession, MessageStatus
from core.actor import actor_for_system
from core.tenancy import organization_scope
from documents.models import Document, DocumentChunk, DocumentStatus, DocumentVisibility
from finetuning.models import FineTuneJob, TrainingDataset
from metering.models import UsageRecord
from ops.models import AuditEvent, FeatureFlag
from tenants.models import Invitation, MemberRole, Membership, Organization
from tenants.services import organization_create
from tests.factories import DEFAULT_PASSWORD, UserFactory

SECRET = "zebraquartz"  # in every text of A: found in a response, it leaked
A_USAGE_TOKENS = 7_000_003
B_USAGE_TOKENS = 11
FLAG = "search_enabled"


@dataclass
class Ids:
    """The rows one user owns in one organization: what a request of a case targets."""

    user: Any
    organization: Organization
    session: int = 0
    message: int = 0
    document: str = ""
    shared_document: str = ""
    api_key: int = 0
    generation: int = 0
    invitation: str = ""
    dataset: str = ""
    job: str = ""
    invoice: str = ""


@dataclass
class World:
    a: Organization
    b: Organization
    a1: Any
    a2: Any
    b1: Any
    ids: dict[str, Ids] = field(default_factory=dict)  # by user label: a1, a2, b1

    def markers(self) -> list[str]:
        """Strings that appear in no response to anybody outside A."""
        found = [SECRET, str(self.a.pk), self.a.slug, self.a1.email, self.a2.email]
        for label in ("a1", "a2"):
            ids = self.ids[label]
            found += [
                ids.document,
                ids.shared_document,
                ids.invitation,
                ids.dataset,
                ids.job,
                ids.invoice,
            ]
        key = ApiKey.objects.get(pk=self.ids["a1"].api_key)
        return [m for m in found if m] + [f"ak_{key.prefix}"]


def assert_no_trace_of_a(world: World, text: str) -> None:
    for marker in world.markers():
        assert marker.lower() not in text.lower(), (marker, text[:2000])


def client_for(user: Any, organization: Organization | None = None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    if organization is not None:
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}",
            HTTP_X_TENANT_ID=str(organization.pk),
        )
    return client


def add_member(organization: Organization, user: Any, role: str) -> None:
    Membership.objects.create(organization=organization, user=user, role=role)


def _document(owner: Any, organization: Organization, title: str, visibility: str) -> Document:
    text = f"{title}: the {SECRET} warranty of {owner.email} lasts nine decades."
    document = Document.all_organizations.create(
        owner=owner,
        organization=organization,
        visibility=visibility,
        title=title,
        file=f"documents/{owner.pk}/{title}.txt",
        file_type="text",
        size_bytes=len(text),
        sha256=f"{title:0<64}"[:64],
        status=DocumentStatus.READY,
        pages=1,
        chunks=1,
        chunks_indexed=1,
    )
    DocumentChunk.objects.create(
        document=document,
        chunk_index=0,
        page=1,
        char_start=0,
        char_end=len(text),
        token_count=12,
        text=text,
    )
    return document


def seed_user_data(user: Any, organization: Organization, label: str, tokens: int) -> Ids:
    """A chat with two messages, a private and a shared document, an API key, a generation
    and a usage record of ``user`` in ``organization``."""
    text = f"{label} {SECRET if label != 'b1' else 'bravo'}"
    with organization_scope(organization.pk):
        session = ChatSession.objects.create(
            user=user, organization=organization, title=f"chat of {text}", message_count=2
        )
        messages = [
            ChatMessage.objects.create(
                session=session,
                user=user,
                organization=organization,
                message=f"question {n} of {text}",
                response=f"answer {n} of {text}",
                status=MessageStatus.COMPLETE,
                metadata={"provider": "offline", "model": "offline-extractive"},
            )
            for n in (1, 2)
        ]
        private = _document(user, organization, f"{label}-private", DocumentVisibility.PRIVATE)
        shared = _document(user, organization, f"{label}-shared", DocumentVisibility.SHARED)
        key = ApiKey.objects.create(
            user=user,
            organization=organization,
            name=f"key of {text}",
            prefix=f"{label}{organization.slug}"[:8].ljust(8, "x"),
            secret_hash=f"{label}-{organization.pk}"[:64],
            scopes=["chat", "documents", "openai", "read"],
        )
        dataset = TrainingDataset.objects.create(
            organization=organization,
            created_by=user,
            name=f"dataset of {text}",
            source="upload",
            file=f"finetuning/{organization.pk}/{label}.jsonl",
            base_model="gpt-4o-mini-2024-07-18",
        )
        job = FineTuneJob.objects.create(
            organization=organization,
            created_by=user,
            dataset=dataset,
            provider="openai",
            base_model="gpt-4o-mini-2024-07-18",
            suffix=label,
            status="running",
            provider_job_id=f"ftjob-{label}-{organization.slug}",
        )
        invoice = Invoice.objects.create(
            organization=organization,
            number=f"INV-{label}-{organization.slug}",
            reason="subscription_update",
            status="open",
            currency="USD",
            subtotal_minor=1900,
            total_minor=1900,
            period_start=timezone.now() - dt.timedelta(days=30),
            period_end=timezone.now(),
            issued_at=timezone.now(),
        )
        generation = Generation.objects.create(
            user=user,
            organization=organization,
            prompt=f"idea about {text}",
            response=f"an idea of {text}",
            model="offline-extractive",
        )
    invitation = Invitation.objects.create(
        organization=organization,
        email=f"invitee-of-{label}@{organization.slug}.test",
        token_hash=f"{label}-{organization.pk}".ljust(64, "0")[:64],
        invited_by=user,
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    UsageRecord.objects.create(
        user=user,
        organization=organization,
        kind="chat",
        provider="offline",
        model="offline-extractive",
        prompt_tokens=tokens - 1,
        completion_tokens=1,
        total_tokens=tokens,
        message_id=messages[0].pk,
    )
    return Ids(
        user=user,
        organization=organization,
        session=session.pk,
        message=messages[-1].pk,
        document=str(private.pk),
        shared_document=str(shared.pk),
        api_key=key.pk,
        generation=generation.pk,
        invitation=str(invitation.pk),
        dataset=str(dataset.pk),
        job=str(job.pk),
        invoice=str(invoice.pk),
    )


def build_world() -> World:
    system = actor_for_system()
    a1 = UserFactory(email="alice.owner@alpha.test", full_name="Alice Alpha")
    a2 = UserFactory(email="arthur.member@alpha.test", full_name="Arthur Alpha")
    b1 = UserFactory(email="bob.owner@bravo.test", full_name="Bob Bravo")
    a = organization_create(actor=system, name=f"Alpha {SECRET}", owner=a1, slug="alpha-corp")
    b = organization_create(actor=system, name="Bravo", owner=b1, slug="bravo-corp")
    add_member(a, a2, MemberRole.MEMBER)
    world = World(a=a, b=b, a1=a1, a2=a2, b1=b1)
    world.ids["a1"] = seed_user_data(a1, a, "a1", A_USAGE_TOKENS)
    world.ids["a2"] = seed_user_data(a2, a, "a2", 5)
    world.ids["b1"] = seed_user_data(b1, b, "b1", B_USAGE_TOKENS)
    AuditEvent.objects.create(
        actor=a1,
        organization=a,
        actor_email=a1.email,
        action="document_uploaded",
        target_repr=f"{SECRET} upload",
        created_at=timezone.now() - dt.timedelta(minutes=1),
    )
    FeatureFlag.objects.create(name=FLAG, organization=a, enabled=False, description=SECRET)
    return world


def snapshot(organization: Organization) -> str:
    """Everything of ``organization`` that a request from elsewhere must not change."""
    org_id = organization.pk
    rows: dict[str, Any] = {
        "organization": list(Organization.objects.filter(pk=org_id).values()),
        "memberships": list(Membership.objects.filter(organization_id=org_id).values()),
        "sessions": list(ChatSession.all_organizations.filter(organization_id=org_id).values()),
        "messages": list(
            ChatMessage.all_organizations.filter(organization_id=org_id).values().order_by("pk")
        ),
        "documents": list(
            Document.all_organizations.filter(organization_id=org_id).values().order_by("pk")
        ),
        "keys": list(ApiKey.objects.filter(organization_id=org_id).values().order_by("pk")),
        "generations": list(Generation.all_organizations.filter(organization_id=org_id).values()),
        "usage": list(UsageRecord.objects.filter(organization_id=org_id).values().order_by("pk")),
        "audit": list(AuditEvent.objects.filter(organization_id=org_id).values().order_by("pk")),
        "flags": list(FeatureFlag.objects.filter(organization_id=org_id).values().order_by("pk")),
        "datasets": list(
            TrainingDataset.all_organizations.filter(organization_id=org_id).values().order_by("pk")
        ),
        "jobs": list(
            FineTuneJob.all_organizations.filter(organization_id=org_id).values().order_by("pk")
        ),
        "invoices": list(Invoice.all_organizations.filter(organization_id=org_id).values()),
        "invitations": list(
            Invitation.objects.filter(organization_id=org_id).values().order_by("pk")
        ),
        "password": [DEFAULT_PASSWORD],
    }
    return json.dumps(rows, default=str, sort_keys=True)
