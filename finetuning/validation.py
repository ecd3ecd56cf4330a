"""Validation of a chat fine-tuning file (JSONL, one ``{"messages": [...]}`` per line) before
anything is sent to a provider.

Every problem is reported with its line number. The work is bounded by the file's size (the
caller refuses files over ``FINETUNING_MAX_FILE_BYTES``), its number of lines and the length
of each line, so a small file cannot cause unbounded work; at most
``FINETUNING_MAX_PROBLEMS`` problems are listed (all are counted).
"""

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings

from ai.providers.base import PromptMessage
from ai.providers.tokens import count_message_tokens

ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (``line``: 1-based; ``None``: the whole file)."""

    file: str
    line: int | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "code": self.code, "message": self.message}


@dataclass
class FileReport:
    """What a file holds: examples, tokens per example and in total, and its problems."""

    part: str
    examples: int = 0
    total_tokens: int = 0
    max_example_tokens: int = 0
    example_tokens: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    def add(self, line: int | None, code: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < int(settings.FINETUNING_MAX_PROBLEMS):
            self.problems.append(Problem(self.part, line, code, message))

    @property
    def valid(self) -> bool:
        return self.problem_count == 0


def context_tokens(model: str) -> int:
    """The longest training example ``model`` accepts, in tokens."""
    return int(
        settings.FINETUNING_CONTEXT_TOKENS.get(model, settings.FINETUNING_DEFAULT_CONTEXT_TOKENS)
    )


def training_estimate(*, tokens: int, epochs: int | None, model: str) -> dict[str, Any]:
    """Trained tokens and their price for ``epochs`` (``None``: the provider picks; the
    estimate assumes ``FINETUNING_DEFAULT_EPOCHS``). ``cost_usd`` is null for a model with
    no price in ``FINETUNING_PRICES``."""
    chosen = int(epochs or settings.FINETUNING_DEFAULT_EPOCHS)
    trained = tokens * chosen
    price = settings.FINETUNING_PRICES.get(model)
    cost = None
    if price is not None:
        cost = (Decimal(trained) * Decimal(str(price)) / Decimal(1_000_000)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
    return {
        "epochs": chosen,
        "epochs_assumed": epochs is None,
        "trained_tokens": trained,
        "price_per_million_tokens": price,
        "cost_usd": cost,
    }


def _example_messages(report: FileReport, number: int, value: Any) -> list[PromptMessage] | None:
    """The messages of one example, or ``None`` after reporting why it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
        report.add(
            number, "missing_messages", 'Each line must be an object with a "messages" list.'
        )
        return None
    messages = value["messages"]
    if not messages:
        report.add(number, "missing_messages", 'The "messages" list is empty.')
        return None
    limit = int(settings.FINETUNING_MAX_MESSAGES_PER_EXAMPLE)
    if len(messages) > limit:
        report.add(number, "too_many_messages", f"More than {limit} messages in one example.")
        return None
    prompt: list[PromptMessage] = []
    ok = True
    has_assistant = False
    for index, message in enumerate(messages, start=1):
        where = f"Message {index}"
        if not isinstance(message, dict):
            report.add(number, "invalid_message", f"{where} is not an object.")
            ok = False
            continue
        role = message.get("role")
        if role is None or role == "":
            report.add(number, "missing_role", f'{where} has no "role".')
            ok = False
            continue
        if not isinstance(role, str) or role not in ROLES:
            report.add(
                number,
                "unknown_role",
                f"{where} has the unknown role {str(role)[:40]!r} "
                f"(allowed: {', '.join(sorted(ROLES))}).",
            )
            ok = False
            continue
        content = message.get("content")
        if role == "assistant" and message.get("tool_calls") and not content:
            has_assistant = True
            prompt.append(PromptMessage("assistant", json.dumps(message["tool_calls"])))
            continue
        if not isinstance(content, str):
            code = "empty_content" if content is None else "invalid_content"
            report.add(number, code, f'{where} ({role}) has no text "content".')
            ok = False
            continue
        if not content.strip():
            report.add(number, "empty_content", f"{where} ({role}) has empty content.")
            ok = False
            continue
        if role == "assistant":
            has_assistant = True
        prompt.append(PromptMessage("user", content))  # the role does not change the count
    if ok and not has_assistant:
        report.add(number, "no_assistant_message", "The example has no assistant message.")
        ok = False
    return prompt if ok else None


def validate_jsonl(
    data: bytes, *, part: str, model: str, min_examples: int | None = None
) -> FileReport:
    """Check every line of ``data``; count tokens of the valid examples."""
    report = FileReport(part=part)
    lines = data.split(b"\n")
    max_lines = int(settings.FINETUNING_MAX_LINES)
    max_chars = int(settings.FINETUNING_MAX_LINE_CHARS)
    limit = context_tokens(model)
    if len(lines) > max_lines + 1:  # + 1: the empty piece after a final newline
        report.add(None, "too_many_lines", f"More than {max_lines} lines (FINETUNING_MAX_LINES).")
        return report
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # blank lines (a final newline) hold no example
        if len(raw) > max_chars:
            report.add(
                number,
                "line_too_long",
                f"Longer than {max_chars} bytes (FINETUNING_MAX_LINE_CHARS).",
            )
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.add(number, "invalid_encoding", "Not UTF-8 text.")
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            report.add(number, "invalid_json", f"Invalid JSON: {str(exc)[:120]}.")
            continue
        prompt = _example_messages(report, number, value)
        if prompt is None:
            continue
        tokens = count_message_tokens(prompt)
        if tokens > limit:
            report.add(
                number,
                "example_too_long",
                f"{tokens} tokens; {model} trains on at most {limit} tokens per example.",
            )
            continue
        report.examples += 1
        report.total_tokens += tokens
        report.example_tokens.append(tokens)
        report.max_example_tokens = max(report.max_example_tokens, tokens)
    needed = max(1, min_examples or 1)
    if report.examples < needed:
        report.add(
            None,
            "too_few_examples",
            f"{report.examples} valid examples; at least {needed} are needed.",
        )
    return report
