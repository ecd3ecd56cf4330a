"""Prometheus metrics of the AI path (served by ``config.metrics.metrics_view``).

Observed where the facts are known: generations when they are saved
(``chat.services.finish.chat_message_finish``), ingestion around ``document_ingest``, quota
rejections in ``metering.quotas.quota_reserve``. Labels stay low-cardinality (provider, kind,
outcome, reason).
"""

from prometheus_client import Counter, Histogram

AI_TTFT = Histogram(
    "ai_time_to_first_token_seconds",
    "Time from the model request to its first token",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
AI_TOKENS_PER_SECOND = Histogram(
    "ai_completion_tokens_per_second",
    "Completion tokens per second of a generation",
    ["provider"],
    buckets=(1, 5, 10, 20, 40, 80, 160, 320, 640, 1280),
)
AI_PROVIDER_ERRORS = Counter(
    "ai_provider_errors_total",
    "Model provider failures by kind (timeout, rate_limited, ...)",
    ["provider", "kind"],
)
AI_INGESTION_DURATION = Histogram(
    "ai_ingestion_duration_seconds",
    "Duration of one document ingestion run by outcome",
    ["outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
AI_QUOTA_REJECTIONS = Counter(
    "ai_quota_rejections_total",
    "Model calls refused by a quota, by the limit that was hit",
    ["reason"],
)


def generation_observe(
    *,
    provider: str,
    ttft_ms: int | None,
    latency_ms: int,
    completion_tokens: int,
    error_kind: str | None,
) -> None:
    """Record one finished model call."""
    if error_kind:
        AI_PROVIDER_ERRORS.labels(provider=provider, kind=error_kind).inc()
    if ttft_ms is not None and completion_tokens > 0:
        AI_TTFT.labels(provider=provider).observe(max(0, ttft_ms) / 1000)
    if completion_tokens > 0:
        # Over the streaming part (after the first token) when there is one, else the whole
        # call (non-streaming answers arrive at once); at least 1 ms, so a fast call counts.
        span_ms = (
            latency_ms - ttft_ms if ttft_ms is not None and latency_ms > ttft_ms else latency_ms
        )
        AI_TOKENS_PER_SECOND.labels(provider=provider).observe(
            completion_tokens / (max(1, span_ms) / 1000)
        )
