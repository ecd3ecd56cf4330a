"""Cases of fine-tuning (``finetuning/api``): owners and admins of the current organization
only; the walk and the matrix run with the offline provider, which cannot fine-tune, so an
owner or admin is answered 409 ``FINE_TUNING_UNAVAILABLE`` (after the role check: a member
or viewer is refused first, an outsider's organization is not found)."""

import uuid

from tests.tenants.casekit import Call, Case, status_is
from tests.tenants.cases_organizations import org_admins

TRAIN = "/api/v1/train"
NO_OBJECT = uuid.UUID("00000000-0000-4000-8000-000000000002")


def _case(method: str, path: str, body: dict | None = None, fmt: str = "json") -> Case:
    return Case(
        call=lambda ids: Call(method, f"{TRAIN}{path}", body, format=fmt),
        walk=status_is(409),
        roles=org_admins(409),
    )


TRAINING_CASES: dict[tuple[str, str], Case] = {
    ("api:train-upload", "POST"): _case("POST", "/upload", {"file": "upload"}, "multipart"),
    ("api:train-start", "POST"): _case("POST", "/start", {"model": "gpt-4o-mini"}),
    ("api:train-status", "GET"): _case("GET", f"/status/{NO_OBJECT}"),
    ("api:train-stop", "POST"): _case("POST", f"/stop/{NO_OBJECT}", {}),
    ("api:train-jobs", "GET"): _case("GET", "/jobs"),
    ("api:train-job-deployment", "POST"): _case("POST", f"/jobs/{NO_OBJECT}/deployment", {}),
    ("api:train-datasets", "GET"): _case("GET", "/datasets"),
    ("api:train-datasets-export", "POST"): _case("POST", "/datasets/export", {}),
    ("api:train-dataset", "GET"): _case("GET", f"/datasets/{NO_OBJECT}"),
    ("api:train-dataset", "DELETE"): _case("DELETE", f"/datasets/{NO_OBJECT}"),
    ("api:train-dataset-download", "GET"): _case("GET", f"/datasets/{NO_OBJECT}/download"),
}
