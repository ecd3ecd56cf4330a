"""A job's whole life through the real ``openai`` SDK against the fake provider, on the OpenAI
and the Azure URL shapes: upload, start, sync to succeeded, the model in the organization's
lists and in a chat turn; a provider failure; cancel; 429/500 during sync."""

import pytest

from ai.models import OrganizationModel
from finetuning.models import FineTuneEvent, FineTuneJob, JobStatus, TrainingDataset
from metering.models import UsageRecord
from tests.finetuning.conftest import BASE_MODEL, START, UPLOAD, jsonl, upload_file

pytestmark = pytest.mark.django_db


def _upload_and_start(client, **start) -> dict:
    response = client.post(
        UPLOAD,
        {
            "file": upload_file(jsonl(4)),
            "validation_file": upload_file(jsonl(2), "valid.jsonl"),
            "name": "Support answers",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.data
    dataset = response.data
    assert dataset["examples"] == 4 and dataset["validation_examples"] == 2
    assert dataset["total_tokens"] > 0 and dataset["estimate"]["epochs"] == 3
    assert dataset["estimate"]["trained_tokens"] == dataset["total_tokens"] * 3
    response = client.post(START, {"dataset_id": dataset["id"], **start}, format="json")
    assert response.status_code == 201, response.data
    return response.data


def test_full_lifecycle_to_succeeded_and_chat_with_the_model(provider, fake_openai, team, sync):
    client = team.admin_client
    job = _upload_and_start(client, epochs=2, suffix="support", seed=7, batch_size=4)
    # Nothing is sent during the request: the upload happens in the background sync.
    assert job["status"] == "uploading" and fake_openai.finetuning.calls == []
    assert job["estimated_tokens"] == TrainingDataset.objects.get().total_tokens * 2

    assert sync() == 1
    remote = fake_openai.finetuning.only_job()
    assert remote["model"] == BASE_MODEL
    assert remote["request"]["hyperparameters"] == {"n_epochs": 2, "batch_size": 4}
    assert remote["request"]["suffix"] == "support" and remote["request"]["seed"] == 7
    assert remote["validation_file"]
    uploaded = fake_openai.finetuning.file_bytes[remote["training_file"]]
    assert uploaded == jsonl(4)
    prefix = "/openai/" if provider == "azure" else "/v1/"
    assert all(path.startswith(prefix) for _, path in fake_openai.finetuning.calls)
    status = client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["status"] == "validating_files"
    assert status["provider_job_id"] == remote["id"]

    fake_openai.finetuning.advance(
        remote["id"],
        status="running",
        events=[
            {
                "message": "Step 1/10: training loss=1.25",
                "type": "metrics",
                "data": {"step": 1, "train_loss": 1.25},
            },
            {
                "message": "Step 2/10: training loss=0.75",
                "type": "metrics",
                "data": {"step": 2, "train_loss": 0.75},
            },
        ],
    )
    sync()
    sync()  # a second look stores no event twice
    status = client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["status"] == "running"
    assert [e["message"] for e in status["events"]][-2:] == [
        "Step 1/10: training loss=1.25",
        "Step 2/10: training loss=0.75",
    ]
    assert status["metrics"] == {"step": 2, "train_loss": 0.75}
    assert FineTuneEvent.objects.count() == 3  # "Created ..." and the two steps

    model = f"ft:{BASE_MODEL}:acme:support:abc123"
    fake_openai.finetuning.advance(
        remote["id"], status="succeeded", trained_tokens=1234, fine_tuned_model=model
    )
    sync()
    sync()
    status = client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["status"] == "succeeded" and status["trained_tokens"] == 1234
    assert status["fine_tuned_model"] == model and status["finished_at"]
    # Metered once, as training, in the organization.
    usage = UsageRecord.objects.get(kind="training")
    assert usage.total_tokens == 1234 and usage.organization_id == team.organization.pk

    if provider == "azure":
        # Azure serves it only through a deployment the admin names.
        assert status["usable_model"] is None
        ids = [m["id"] for m in client.get("/api/v1/ai/models").data["models"]]
        assert model not in ids
        response = client.post(
            f"/api/v1/train/jobs/{job['id']}/deployment",
            {"deployment": "support-ft"},
            format="json",
        )
        assert response.status_code == 200 and response.data["usable_model"] == "support-ft"
        usable = "support-ft"
    else:
        assert status["usable_model"] == model
        usable = model
    assert OrganizationModel.objects.get().organization_id == team.organization.pk

    models = [m["id"] for m in client.get("/api/v1/ai/models").data["models"]]
    assert usable in models
    openai_models = [m["id"] for m in client.get("/v1/models").data["data"]]
    assert usable in openai_models

    fake_openai.script(text="Fine-tuned hello.")
    answer = client.post("/api/v1/chat/message", {"message": "hi", "model": usable}, format="json")
    assert answer.status_code == 200, answer.data
    assert answer.data["response"] == "Fine-tuned hello."
    request = fake_openai.received[-1]
    if provider == "azure":
        assert request.path == "/openai/deployments/support-ft/chat/completions"
    else:
        assert request.body["model"] == model


def test_failed_job_shows_the_providers_error(provider, fake_openai, team, sync):
    job = _upload_and_start(team.admin_client)
    sync()
    remote = fake_openai.finetuning.only_job()
    fake_openai.finetuning.advance(
        remote["id"],
        status="failed",
        error={"code": "invalid_training_file", "message": "Line 3: too few assistant turns."},
    )
    sync()
    status = team.admin_client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["status"] == "failed"
    assert status["error_code"] == "invalid_training_file"
    assert status["error_message"] == "Line 3: too few assistant turns."
    assert not OrganizationModel.objects.exists()
    assert not UsageRecord.objects.filter(kind="training").exists()
    # Terminal: later answers of the provider change nothing.
    fake_openai.finetuning.advance(remote["id"], status="succeeded", fine_tuned_model="ft:x")
    sync()
    assert FineTuneJob.objects.get().status == "failed"


def test_provider_refusing_the_job_is_upload_failed(openai_provider, fake_openai, team, sync):
    job = _upload_and_start(team.admin_client)
    fake_openai.finetuning.reject_create = "The file has 3 examples; 10 are required."
    sync()
    status = team.admin_client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["status"] == "upload_failed"
    assert status["error_message"] == "The file has 3 examples; 10 are required."


def test_cancel_at_the_provider(provider, fake_openai, team, sync):
    job = _upload_and_start(team.admin_client)
    sync()
    remote = fake_openai.finetuning.only_job()
    fake_openai.finetuning.advance(remote["id"], status="running")
    sync()
    response = team.admin_client.post(f"/api/v1/train/stop/{job['id']}")
    assert response.status_code == 200 and response.data["status"] == "cancelled"
    assert remote["status"] == "cancelled"
    assert (
        "POST",
        f"{'/openai' if provider == 'azure' else '/v1'}/fine_tuning/jobs/{remote['id']}/cancel",
    ) in fake_openai.finetuning.calls
    again = team.admin_client.post(f"/api/v1/train/stop/{job['id']}")
    assert again.status_code == 409


def test_cancel_before_upload_sends_nothing(openai_provider, fake_openai, team, sync):
    job = _upload_and_start(team.admin_client)
    response = team.admin_client.post(f"/api/v1/train/stop/{job['id']}")
    assert response.status_code == 200 and response.data["status"] == "cancelled"
    sync()
    assert fake_openai.finetuning.calls == []


@pytest.mark.parametrize("status_code", [429, 500])
def test_provider_errors_during_sync_back_off_then_recover(
    provider, fake_openai, team, sync, status_code
):
    job = _upload_and_start(team.admin_client)
    sync()
    remote = fake_openai.finetuning.only_job()
    fake_openai.finetuning.fail(status_code, times=2)
    sync()
    stored = FineTuneJob.objects.get()
    assert stored.status == JobStatus.VALIDATING_FILES
    assert stored.sync_failures == 1
    assert stored.last_sync_error.startswith(
        "rate_limited" if status_code == 429 else "server_error"
    )
    first_wait = stored.next_sync_at - stored.last_synced_at
    sync()
    stored.refresh_from_db()
    assert stored.sync_failures == 2
    assert stored.next_sync_at - stored.last_synced_at > first_wait  # backing off
    fake_openai.finetuning.advance(remote["id"], status="queued")
    sync()
    stored.refresh_from_db()
    assert stored.status == JobStatus.QUEUED and stored.sync_failures == 0
    status = team.admin_client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["last_sync_error"] == ""


def test_upload_errors_retry_then_give_up(openai_provider, fake_openai, team, sync, settings):
    settings.FINETUNING_UPLOAD_MAX_ATTEMPTS = 2
    job = _upload_and_start(team.admin_client)
    fake_openai.finetuning.fail(500, times=5)
    sync()
    assert FineTuneJob.objects.get().status == "uploading"
    sync()
    status = team.admin_client.get(f"/api/v1/train/status/{job['id']}").data
    assert status["status"] == "upload_failed" and status["error_code"] == "server_error"


def test_jobs_list_is_paginated_and_filtered(openai_provider, fake_openai, team, sync):
    first = _upload_and_start(team.admin_client)
    second = _upload_and_start(team.admin_client)
    team.admin_client.post(f"/api/v1/train/stop/{first['id']}")
    data = team.admin_client.get("/api/v1/train/jobs", {"page_size": 1}).data
    assert data["count"] == 2 and len(data["results"]) == 1
    assert data["results"][0]["id"] == second["id"]
    cancelled = team.admin_client.get("/api/v1/train/jobs", {"status": "cancelled"}).data
    assert [j["id"] for j in cancelled["results"]] == [first["id"]]
    assert team.admin_client.get("/api/v1/train/jobs", {"status": "nope"}).status_code == 400
