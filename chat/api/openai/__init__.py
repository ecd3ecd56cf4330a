"""The OpenAI-compatible API under ``/v1/``: a door onto the generation service.

Clients built for OpenAI (the official SDKs, LangChain, IDE plugins) use the deployment's
models through its accounts: a personal API key with the ``openai`` scope (sent as
``Authorization: Bearer ak_...``) or an access token. Every call is checked, reserved, metered
and audited by ``chat.completions`` exactly like a chat turn; errors use OpenAI's shape
(``{"error": {message, type, code, param}}``) because that is what these clients parse.

Modules: ``base`` (the shared view), ``errors``, ``catalog`` (models), ``completions`` and
``embeddings``; ``chat.api.openai_urls`` mounts them.
"""
