"""Azure OpenAI and OpenAI-compatible servers through the official ``openai`` SDK.

The SDK's own retries are turned off: we retry here so that ``Retry-After`` is honoured up to
``AI_RETRY_AFTER_CAP``, every attempt shares one policy, and a stream is only retried before
its first token (text already shown to a user cannot be taken back).

Modules: ``provider`` (OpenAI and compatible servers), ``azure``, ``retries`` (error kinds,
the retry policy) and ``watchdog`` (a stream's idle timeout).
"""
