"""Cases of fine-tuning (``finetuning/api``): owners and admins of the current organization
only. The role matrix runs with the offline provider, which cannot fine-tune: an owner or
admin is answered 409 ``FINE_TUNING_UNAVAILABLE`` (after the role check: a member or viewer
is refused first, an outsider's organization is not found). The isolation walk runs with
an OpenAI provider configured (at an address nothing listens on: no request to A's rows may
reach the provider), so b1 reaches the lookups of A's datasets and jobs."""

from tests.tenants.casekit import Call, Case, Check, list_without, not_found, status_is
from tests.tenants.cases_organizations import org_admins
from tests.tenants.world import Ids

TRAIN = "/api/v1/train"
BASE_MODEL = "gpt-4o-mini-2024-07-18"
CAN_FINE_TUNE = {
    "AI_PROVIDER": "openai",
    "OPENAI_API_KEY": "walk-key",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "FINETUNING_MODELS": [BASE_MODEL],
}


def _case(call, walk: Check) -> Case:
    return Case(call=call, walk=walk, roles=org_admins(409), walk_settings=CAN_FINE_TUNE)


def _start(ids: Ids) -> Call:
    return Call("POST", f"{TRAIN}/start", {"dataset_id": ids.dataset, "base_model": BASE_MODEL})


def _export(ids: Ids) -> Call:
    return Call("POST", f"{TRAIN}/datasets/export", {"session_ids": [ids.session]})


TRAINING_CASES: dict[tuple[str, str], Case] = {
    ("api:train-upload", "POST"): _case(
        lambda ids: Call("POST", f"{TRAIN}/upload", {"file": "upload"}, format="multipart"),
        status_is(400),  # plain text, not JSONL: b1's upload in B is invalid
    ),
    ("api:train-start", "POST"): _case(_start, not_found),
    ("api:train-status", "GET"): _case(
        lambda ids: Call("GET", f"{TRAIN}/status/{ids.job}"), not_found
    ),
    ("api:train-stop", "POST"): _case(
        lambda ids: Call("POST", f"{TRAIN}/stop/{ids.job}", {}), not_found
    ),
    ("api:train-jobs", "GET"): _case(lambda ids: Call("GET", f"{TRAIN}/jobs"), list_without("job")),
    ("api:train-job-deployment", "POST"): _case(
        lambda ids: Call("POST", f"{TRAIN}/jobs/{ids.job}/deployment", {"deployment": "d"}),
        not_found,
    ),
    ("api:train-datasets", "GET"): _case(
        lambda ids: Call("GET", f"{TRAIN}/datasets"), list_without("dataset")
    ),
    ("api:train-datasets-export", "POST"): _case(_export, not_found),
    ("api:train-dataset", "GET"): _case(
        lambda ids: Call("GET", f"{TRAIN}/datasets/{ids.dataset}"), not_found
    ),
    ("api:train-dataset", "DELETE"): _case(
        lambda ids: Call("DELETE", f"{TRAIN}/datasets/{ids.dataset}"), not_found
    ),
    ("api:train-dataset-download", "GET"): _case(
        lambda ids: Call("GET", f"{TRAIN}/datasets/{ids.dataset}/download"), not_found
    ),
}
