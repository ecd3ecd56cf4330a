"""Who may train, on what: organization admins only, their organization's data only; the
offline provider's clear 409; the training budget; datasets' detail, download and delete."""

import pytest

from ai.models import OrganizationModel
from finetuning.models import FineTuneJob, TrainingDataset
from metering.models import OrganizationQuota, UsageKind, UsageRecord
from tests.finetuning.conftest import START, UPLOAD, client_for, jsonl, upload_file

pytestmark = pytest.mark.django_db

ROUTES = [
    ("get", "/api/v1/train/jobs"),
    ("get", "/api/v1/train/datasets"),
    ("post", UPLOAD),
    ("post", START),
    ("post", "/api/v1/train/datasets/export"),
]


def _dataset(client) -> dict:
    response = client.post(UPLOAD, {"file": upload_file(jsonl(3))}, format="multipart")
    assert response.status_code == 201, response.data
    return response.data


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_offline_provider_answers_409_naming_the_settings(settings, team, method, path):
    settings.AI_PROVIDER = "offline"
    response = getattr(team.admin_client, method)(path, {}, format="json")
    assert response.status_code == 409
    assert response.data["code"] == "FINE_TUNING_UNAVAILABLE"
    assert "AI_PROVIDER" in response.data["details"]["settings"]
    assert "AZURE_OPENAI_ENDPOINT" in response.data["message"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_members_who_are_not_admins_are_refused(openai_provider, team, method, path):
    response = getattr(team.member_client, method)(path, {}, format="json")
    assert response.status_code == 403


def test_owner_and_admin_may_train(openai_provider, team):
    owner = client_for(team.owner, team.organization)
    assert owner.get("/api/v1/train/datasets").status_code == 200
    assert team.admin_client.get("/api/v1/train/datasets").status_code == 200


def test_organizations_never_see_each_others_datasets_jobs_or_models(
    openai_provider, fake_openai, team, user_client, sync
):
    dataset = _dataset(team.admin_client)
    job = team.admin_client.post(START, {"dataset_id": dataset["id"]}, format="json").data
    sync()
    remote = fake_openai.finetuning.only_job()
    fake_openai.finetuning.advance(
        remote["id"], status="succeeded", trained_tokens=10, fine_tuned_model="ft:acme-only"
    )
    sync()
    # ``user_client`` is the owner (an admin) of another organization, its personal one.
    assert user_client.get("/api/v1/train/datasets").data["count"] == 0
    assert user_client.get("/api/v1/train/jobs").data["count"] == 0
    for path in (
        f"/api/v1/train/datasets/{dataset['id']}",
        f"/api/v1/train/datasets/{dataset['id']}/download",
        f"/api/v1/train/status/{job['id']}",
    ):
        assert user_client.get(path).status_code == 404, path
    assert user_client.delete(f"/api/v1/train/datasets/{dataset['id']}").status_code == 404
    assert user_client.post(f"/api/v1/train/stop/{job['id']}").status_code == 404
    response = user_client.post(START, {"dataset_id": dataset["id"]}, format="json")
    assert response.status_code == 404
    # The fine-tuned model is the other organization's: not listed, not usable.
    assert "ft:acme-only" not in [
        m["id"] for m in user_client.get("/api/v1/ai/models").data["models"]
    ]
    assert "ft:acme-only" not in [m["id"] for m in user_client.get("/v1/models").data["data"]]
    chat = user_client.post("/api/v1/chat/message", {"message": "hi", "model": "ft:acme-only"})
    assert chat.status_code == 400 and chat.data["code"] == "MODEL_NOT_ALLOWED"
    # ...while it is the team's.
    ids = [m["id"] for m in team.admin_client.get("/api/v1/ai/models").data["models"]]
    assert "ft:acme-only" in ids
    assert OrganizationModel.objects.get().organization_id == team.organization.pk


def test_training_budget_refuses_a_start_over_what_is_left(openai_provider, team):
    dataset = _dataset(team.admin_client)
    estimate = dataset["total_tokens"] * 3
    # The organization's budget row (billing writes its plan's entitlements into it).
    quota, _ = OrganizationQuota.objects.update_or_create(
        organization=team.organization, defaults={"training_monthly_tokens": estimate * 2 - 1}
    )
    first = team.admin_client.post(START, {"dataset_id": dataset["id"]}, format="json")
    assert first.status_code == 201  # holds its estimate while it runs
    second = team.admin_client.post(START, {"dataset_id": dataset["id"]}, format="json")
    assert second.status_code == 429 and second.data["code"] == "QUOTA_EXCEEDED"
    assert second.data["details"]["pending"] == estimate
    assert FineTuneJob.objects.count() == 1
    # Trained tokens of this month count too.
    team.admin_client.post(f"/api/v1/train/stop/{first.data['id']}")
    UsageRecord.objects.create(
        organization=team.organization,
        kind=UsageKind.TRAINING,
        provider="openai",
        model="ft:x",
        total_tokens=estimate,
    )
    third = team.admin_client.post(START, {"dataset_id": dataset["id"]}, format="json")
    assert third.status_code == 429 and third.data["details"]["used"] == estimate
    quota.training_monthly_tokens = None
    quota.save()
    assert (
        team.admin_client.post(START, {"dataset_id": dataset["id"]}, format="json").status_code
        == 201
    )


def test_dataset_detail_download_and_delete_with_the_provider_file(
    openai_provider, fake_openai, team, sync
):
    client = team.admin_client
    response = client.post(
        UPLOAD,
        {"file": upload_file(jsonl(3)), "validation_file": upload_file(jsonl(1), "v.jsonl")},
        format="multipart",
    )
    dataset = response.data
    listed = client.get("/api/v1/train/datasets").data
    assert [d["id"] for d in listed["results"]] == [dataset["id"]]
    download = client.get(f"/api/v1/train/datasets/{dataset['id']}/download")
    assert b"".join(download.streaming_content) == jsonl(3)
    validation = client.get(
        f"/api/v1/train/datasets/{dataset['id']}/download", {"part": "validation"}
    )
    assert b"".join(validation.streaming_content) == jsonl(1)

    job = client.post(START, {"dataset_id": dataset["id"]}, format="json").data
    sync()
    stored = TrainingDataset.objects.get()
    assert stored.provider_file_id and stored.provider_validation_file_id
    # Not while a job trains on it.
    assert client.delete(f"/api/v1/train/datasets/{dataset['id']}").status_code == 409
    client.post(f"/api/v1/train/stop/{job['id']}")
    assert client.delete(f"/api/v1/train/datasets/{dataset['id']}").status_code == 204
    assert sorted(fake_openai.finetuning.deleted_files) == sorted(
        [stored.provider_file_id, stored.provider_validation_file_id]
    )
    assert not TrainingDataset.objects.exists()
    # The job's history stays.
    assert client.get(f"/api/v1/train/status/{job['id']}").data["dataset_id"] is None


def test_a_second_job_reuses_the_uploaded_file(openai_provider, fake_openai, team, sync):
    dataset = _dataset(team.admin_client)
    for _ in range(2):
        team.admin_client.post(START, {"dataset_id": dataset["id"]}, format="json")
        sync()
    uploads = [c for c in fake_openai.finetuning.calls if c == ("POST", "/v1/files")]
    assert len(uploads) == 1 and len(fake_openai.finetuning.jobs) == 2
