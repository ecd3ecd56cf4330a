"""One generation service for every door that calls a chat model outside a chat session.

The chat turn (``chat.services.turns``), the OpenAI-compatible API (``/v1/``) and the generation
routes (``/api/v1/ai/``) share the same steps, written once in this package:

1. :func:`generation_model_resolve`: the configured provider, the offline switch and the model
   allow-list (``AI_ALLOWED_MODELS``);
2. :func:`generation_estimate` / :func:`generation_reserve`: the prompt plus the largest answer
   allowed, reserved against the caller's quota before any model call (``metering.quotas``);
3. the provider call, with its retries (``ai.providers``);
4. :func:`generation_meter`: the reservation settled with the real tokens (released when the
   call failed with nothing produced) and one ``UsageRecord``, in one transaction.

:func:`generation_complete` and :func:`generation_stream` run 3 and 4 for callers that keep no
chat message (the API doors); they also write one audit event per call.

Modules: ``steps`` (1, 2 and 4), ``calls`` (an API door's call: plan, complete, stream),
``embeddings`` and ``batches``.
"""
