"""Validation before anything is sent: a corpus of bad files, each problem with its line."""

import json

import pytest

from finetuning.models import TrainingDataset
from tests.finetuning.conftest import UPLOAD, example, jsonl, upload_file

pytestmark = pytest.mark.django_db

GOOD = json.dumps(example())


def _lines(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _msg(*messages: dict) -> str:
    return json.dumps({"messages": list(messages)})


U = {"role": "user", "content": "Hi"}
A = {"role": "assistant", "content": "Hello"}

# (file, [(line, code)...]) - every problem of the file, in order.
CORPUS = [
    pytest.param(_lines(GOOD, "{not json", GOOD), [(2, "invalid_json")], id="invalid-json"),
    pytest.param(_lines(GOOD, GOOD, "[1, 2]"), [(3, "missing_messages")], id="not-an-object"),
    pytest.param(
        _lines('{"prompt": "x"}', GOOD, GOOD), [(1, "missing_messages")], id="no-messages"
    ),
    pytest.param(
        _lines(GOOD, '{"messages": []}', GOOD), [(2, "missing_messages")], id="empty-list"
    ),
    pytest.param(
        _lines(GOOD, _msg({"content": "Hi"}, A), GOOD), [(2, "missing_role")], id="missing-role"
    ),
    pytest.param(
        _lines(GOOD, GOOD, _msg({"role": "wizard", "content": "Hi"}, A)),
        [(3, "unknown_role")],
        id="unknown-role",
    ),
    pytest.param(
        _lines(_msg({"role": "user", "content": "   "}, A), GOOD, GOOD),
        [(1, "empty_content")],
        id="empty-content",
    ),
    pytest.param(
        _lines(GOOD, _msg(U, {"role": "assistant"}), GOOD), [(2, "empty_content")], id="no-content"
    ),
    pytest.param(
        _lines(GOOD, _msg(U, {"role": "assistant", "content": 5}), GOOD),
        [(2, "invalid_content")],
        id="content-not-text",
    ),
    pytest.param(_lines(GOOD, GOOD, _msg(U, U)), [(3, "no_assistant_message")], id="no-assistant"),
    pytest.param(
        b'\xff\xfe{"messages": 1}\n' + _lines(GOOD, GOOD), [(1, "invalid_encoding")], id="not-utf8"
    ),
    pytest.param(_lines(GOOD), [(None, "too_few_examples")], id="too-few"),
    pytest.param(
        _lines("{bad", GOOD, _msg(U), "", _msg({"role": "x", "content": "y"}, A)),
        [
            (1, "invalid_json"),
            (3, "no_assistant_message"),
            (5, "unknown_role"),
            (None, "too_few_examples"),
        ],
        id="several-problems",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CORPUS)
def test_bad_files_list_every_problem_with_its_line(
    openai_provider, fake_openai, team, data, expected
):
    response = team.admin_client.post(UPLOAD, {"file": upload_file(data)}, format="multipart")
    assert response.status_code == 400, response.data
    assert response.data["code"] == "DATASET_INVALID"
    problems = response.data["details"]["problems"]
    assert [(p["line"], p["code"]) for p in problems] == expected
    assert all(p["file"] == "training" for p in problems)
    assert response.data["details"]["problem_count"] == len(expected)
    # Nothing stored, nothing sent.
    assert not TrainingDataset.objects.exists()
    assert fake_openai.finetuning.calls == []


def test_validation_file_problems_are_reported_with_its_name(openai_provider, team):
    response = team.admin_client.post(
        UPLOAD,
        {"file": upload_file(jsonl(3)), "validation_file": upload_file(_lines(GOOD, "nope"))},
        format="multipart",
    )
    assert response.status_code == 400
    assert [(p["file"], p["line"], p["code"]) for p in response.data["details"]["problems"]] == [
        ("validation", 2, "invalid_json")
    ]


def test_example_over_the_model_context(openai_provider, team, settings):
    settings.FINETUNING_CONTEXT_TOKENS = {"gpt-4o-mini-2024-07-18": 60}
    long = _msg(U, {"role": "assistant", "content": "word " * 100})
    response = team.admin_client.post(
        UPLOAD, {"file": upload_file(_lines(GOOD, GOOD, long))}, format="multipart"
    )
    assert response.status_code == 400
    (problem,) = response.data["details"]["problems"]
    assert (problem["line"], problem["code"]) == (3, "example_too_long")
    assert "at most 60 tokens" in problem["message"]


def test_tokens_per_example_total_and_cost(openai_provider, team, settings):
    settings.FINETUNING_PRICES = {"gpt-4o-mini-2024-07-18": 3.0}
    data = _lines(GOOD, _msg(U, {"role": "assistant", "content": "A longer answer than one."}))
    response = team.admin_client.post(UPLOAD, {"file": upload_file(data)}, format="multipart")
    assert response.status_code == 201, response.data
    detail = team.admin_client.get(f"/api/v1/train/datasets/{response.data['id']}").data
    tokens = detail["example_tokens"]
    assert len(tokens) == 2 and all(t > 0 for t in tokens)
    assert detail["total_tokens"] == sum(tokens)
    assert detail["max_example_tokens"] == max(tokens)
    estimate = detail["estimate"]
    assert estimate["trained_tokens"] == sum(tokens) * 3 and estimate["epochs_assumed"] is True
    assert float(estimate["cost_usd"]) == pytest.approx(sum(tokens) * 3 * 3.0 / 1_000_000, abs=1e-4)


def test_size_bounds(openai_provider, team, settings):
    settings.FINETUNING_MAX_FILE_BYTES = 500
    response = team.admin_client.post(UPLOAD, {"file": upload_file(jsonl(20))}, format="multipart")
    assert response.status_code == 413
    settings.FINETUNING_MAX_FILE_BYTES = 10_000_000
    settings.FINETUNING_MAX_LINES = 5
    response = team.admin_client.post(UPLOAD, {"file": upload_file(jsonl(8))}, format="multipart")
    assert response.status_code == 400
    assert response.data["details"]["problems"][0]["code"] == "too_many_lines"
    settings.FINETUNING_MAX_LINES = 100
    settings.FINETUNING_MAX_LINE_CHARS = 150
    long = _msg(U, {"role": "assistant", "content": "x" * 200})
    response = team.admin_client.post(
        UPLOAD, {"file": upload_file(_lines(GOOD, GOOD, long))}, format="multipart"
    )
    assert [(p["line"], p["code"]) for p in response.data["details"]["problems"]] == [
        (3, "line_too_long")
    ]


def test_problems_listed_are_capped_but_all_counted(openai_provider, team, settings):
    settings.FINETUNING_MAX_PROBLEMS = 5
    data = _lines(*(["{bad"] * 30))
    response = team.admin_client.post(UPLOAD, {"file": upload_file(data)}, format="multipart")
    assert len(response.data["details"]["problems"]) == 5
    assert response.data["details"]["problem_count"] == 31  # 30 lines + too few examples


def test_base_model_must_be_fine_tunable(openai_provider, team):
    response = team.admin_client.post(
        UPLOAD, {"file": upload_file(jsonl(3)), "base_model": "gpt-5-secret"}, format="multipart"
    )
    assert response.status_code == 400 and response.data["code"] == "MODEL_NOT_FINE_TUNABLE"
