"""A local OpenAI-compatible HTTP server for tests: real sockets, real SDK code path.

Serves ``/v1/chat/completions`` (JSON, or SSE with a final usage chunk when
``stream_options.include_usage``), ``/v1/embeddings`` and the Azure deployment paths
``/openai/deployments/{name}/chat/completions|embeddings?api-version=...``.

Script the next responses with :meth:`FakeOpenAI.script`; unscripted requests get
:attr:`FakeOpenAI.default`. The files and fine-tuning API (both URL shapes) is
:attr:`FakeOpenAI.finetuning` (tests/fakes/openai_finetuning.py).
"""

import base64
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ai.embeddings import hashed_embeddings
from tests.fakes.openai_finetuning import FakeFineTuning

_AZURE_PATH = re.compile(
    r"^/openai/deployments/(?P<name>[^/]+)/(?P<op>chat/completions|embeddings)$"
)


class _Server(ThreadingHTTPServer):
    # Benchmarks open hundreds of streams at once: the default listen backlog (5) drops them.
    request_queue_size = 512


@dataclass
class Script:
    """What the server does for one request."""

    text: str | None = None  # the answer; split into word tokens
    tokens: int | None = None  # or: this many tokens "t1 t2 ..."
    delay: float = 0.0  # seconds between streamed tokens
    first_delay: float = 0.0  # seconds before the first token
    status: int | None = None  # fail with this HTTP status (429, 500, ...)
    retry_after: float | None = None  # Retry-After header of a failure
    cut_after: int | None = None  # streams: close the socket after this many tokens
    stall_after: int | None = None  # streams: stop sending (socket open) after this many tokens
    usage: bool = True  # send usage (JSON) / the usage chunk (SSE, when asked for)
    finish_reason: str = "stop"

    def pieces(self) -> list[str]:
        if self.tokens is not None:
            return [f"t{i} " for i in range(1, self.tokens + 1)]
        text = self.text if self.text is not None else "Hello from the fake model."
        return re.findall(r"\S+\s*|\s+", text)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class FakeOpenAI:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []  # parsed JSON bodies, in arrival order
        self.received: list[Received] = []  # the same with method, path, query and headers
        self.default = Script()
        self.embedding_dimensions = 1536
        self.embedding_delay = 0.0  # seconds before each embeddings answer (a slow provider)
        # Also answer like Ollama's native API (``/api/version``, ``/api/generate``).
        self.ollama = False
        self.ollama_load_status = 200  # Ollama's answer to /api/generate (404: model not pulled)
        self._scripts: deque[Script] = deque()
        self.finetuning = FakeFineTuning()
        self._lock = threading.Lock()
        self.closed_early = threading.Event()  # set when a client hung up mid-stream
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        # A fake in its own process cannot be scripted by the test: with this on, a last user
        # message "stream <tokens> <delay>" picks the answer instead (``--scripts-from-prompt``).
        self.scripts_from_prompt = False

    # --- life cycle --------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ---------------------------------------------------------------------
    def script(self, *scripts: Script, **kwargs: Any) -> None:
        """Queue responses: ``script(Script(...), ...)`` or ``script(text=..., delay=...)``."""
        with self._lock:
            self._scripts.extend(scripts or (Script(**kwargs),))

    def fail(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        for _ in range(times):
            self.script(status=status, retry_after=retry_after)

    def _next(self) -> Script:
        with self._lock:
            return self._scripts.popleft() if self._scripts else self.default

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.path.endswith("chat/completions")]

    def configure(self, settings: Any, *, mode: str = "openai") -> None:
        """Point Django settings (the pytest-django ``settings`` fixture) at this server."""
        settings.AI_PROVIDER = mode
        if mode == "openai":
            settings.OPENAI_BASE_URL = self.base_url
            settings.OPENAI_API_KEY = "test-key"
            settings.OPENAI_CHAT_MODEL = "fake-chat"
            settings.OPENAI_EMBEDDING_MODEL = "fake-embed"
        else:
            settings.AZURE_OPENAI_ENDPOINT = self.azure_endpoint
            settings.AZURE_OPENAI_API_KEY = "test-azure-key"
            settings.AZURE_OPENAI_API_VERSION = "2024-10-21"
            settings.AZURE_OPENAI_CHAT_DEPLOYMENT = "chat-deploy"
            settings.AZURE_OPENAI_EMBEDDING_DEPLOYMENT = "embed-deploy"

    # --- the HTTP side -----------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Like real API servers: no Nagle delay between small SSE writes.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _finetuning(self, method: str) -> bool:
                """Serve the files and fine-tuning routes; False for any other path."""
                parts = urlsplit(self.path)
                if not fake.finetuning.handles(parts.path):
                    return False
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.finetuning.handle(
                    method,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    raw,
                )
                self._json(status, body)
                return True

            def do_DELETE(self) -> None:
                if not self._finetuning("DELETE"):
                    self._json(404, {"error": {"message": "not found"}})

            def do_GET(self) -> None:
                if self._finetuning("GET"):
                    return
                if fake.ollama and self.path == "/api/version":
                    self._json(200, {"version": "0.9.0"})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                if self._finetuning("POST"):
                    return
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._json(400, {"error": {"message": "bad json"}})
                    return
                fake.received.append(
                    Received(
                        "POST",
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                fake.requests.append(body)
                if fake.ollama and parts.path == "/api/generate":
                    if fake.ollama_load_status != 200:
                        self._json(fake.ollama_load_status, {"error": "model not found"})
                        return
                    self._json(200, {"model": body.get("model"), "response": "", "done": True})
                    return
                azure = _AZURE_PATH.match(parts.path)
                if azure:
                    if not self.headers.get("api-key") or "api-version" not in parts.query:
                        self._json(401, {"error": {"message": "missing api-key"}})
                        return
                    op, model = azure.group("op"), azure.group("name")
                elif parts.path in ("/v1/chat/completions", "/v1/embeddings"):
                    if not self.headers.get("Authorization", "").startswith("Bearer "):
                        self._json(401, {"error": {"message": "missing key"}})
                        return
                    op, model = parts.path[len("/v1/") :], body.get("model", "")
                else:
                    self._json(404, {"error": {"message": "not found"}})
                    return
                script = fake._next()
                if fake.scripts_from_prompt:
                    script = _script_from_prompt(body, script)
                if script.status:
                    headers = {}
                    if script.retry_after is not None:
                        headers["Retry-After"] = f"{script.retry_after:g}"
                    self._json(
                        script.status,
                        {"error": {"message": f"scripted {script.status}", "type": "fake"}},
                        headers,
                    )
                    return
                if op == "embeddings":
                    self._embeddings(body, model)
                elif body.get("stream"):
                    self._stream(body, model, script)
                else:
                    self._complete(body, model, script)

            def _embeddings(self, body: dict[str, Any], model: str) -> None:
                time.sleep(fake.embedding_delay)
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else list(texts or [])
                dims = int(body.get("dimensions") or fake.embedding_dimensions)
                vectors = hashed_embeddings(texts, dims)
                data = []
                for index, vector in enumerate(vectors):
                    embedding: Any = vector
                    if body.get("encoding_format") == "base64":
                        embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                    data.append({"object": "embedding", "index": index, "embedding": embedding})
                tokens = sum(len(t.split()) for t in texts)
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": model,
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

            @staticmethod
            def _prompt_tokens(body: dict[str, Any]) -> int:
                return sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))

            def _complete(self, body: dict[str, Any], model: str, script: Script) -> None:
                pieces = script.pieces()
                time.sleep(script.first_delay)
                answer: dict[str, Any] = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(pieces)},
                            "finish_reason": script.finish_reason,
                        }
                    ],
                }
                if script.usage:
                    prompt = self._prompt_tokens(body)
                    answer["usage"] = {
                        "prompt_tokens": prompt,
                        "completion_tokens": len(pieces),
                        "total_tokens": prompt + len(pieces),
                    }
                self._json(200, answer)

            def _chunk(self, payload: bytes) -> None:
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()

            def _event(self, model: str, choices: list, usage: Any = None) -> bytes:
                event = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": choices,
                }
                if usage is not None:
                    event["usage"] = usage
                return b"data: " + json.dumps(event).encode() + b"\n\n"

            def _stream(self, body: dict[str, Any], model: str, script: Script) -> None:
                pieces = script.pieces()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    role = [{"index": 0, "delta": {"role": "assistant", "content": ""}}]
                    self._chunk(self._event(model, role))
                    time.sleep(script.first_delay)
                    for index, piece in enumerate(pieces):
                        if script.cut_after is not None and index >= script.cut_after:
                            # Hang up mid-body: the chunked body is never terminated.
                            self.close_connection = True
                            self.connection.shutdown(2)
                            return
                        if script.stall_after is not None and index >= script.stall_after:
                            time.sleep(60)
                            return
                        delta = [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]
                        self._chunk(self._event(model, delta))
                        if script.delay:
                            time.sleep(script.delay)
                    done = [{"index": 0, "delta": {}, "finish_reason": script.finish_reason}]
                    self._chunk(self._event(model, done))
                    include = (body.get("stream_options") or {}).get("include_usage")
                    if script.usage and include:
                        prompt = self._prompt_tokens(body)
                        usage = {
                            "prompt_tokens": prompt,
                            "completion_tokens": len(pieces),
                            "total_tokens": prompt + len(pieces),
                        }
                        self._chunk(self._event(model, [], usage))
                    self._chunk(b"data: [DONE]\n\n")
                    self._chunk(b"")
                except (BrokenPipeError, ConnectionResetError, OSError):
                    fake.closed_early.set()
                    self.close_connection = True

        return Handler


def main() -> None:
    """Run the fake on its own (``python -m tests.fakes.openai_server --tokens 500``).

    Benchmarks use this so the server's threads do not compete for the GIL with the code
    being measured. Prints the port on the first line of stdout.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--scripts-from-prompt", action="store_true")
    args = parser.parse_args()
    fake = FakeOpenAI(port=args.port)
    fake.scripts_from_prompt = args.scripts_from_prompt
    fake.default = Script(tokens=args.tokens, delay=args.delay)
    # Keep memory flat over long runs: the request log is for in-process tests only.
    fake.requests = _Discard()
    fake.received = _Discard()
    sys.stdout.write(f"{fake.port}\n")
    sys.stdout.flush()
    fake._server.serve_forever()


_PROMPT_SCRIPT = re.compile(r"^stream (?P<tokens>\d+) (?P<delay>[\d.]+)$")


def _script_from_prompt(body: dict[str, Any], default: Script) -> Script:
    messages = body.get("messages") or []
    last = str(messages[-1].get("content", "")) if messages else ""
    match = _PROMPT_SCRIPT.match(last.strip())
    if match is None:
        return default
    return Script(tokens=int(match["tokens"]), delay=float(match["delay"]))


class _Discard(list):
    def append(self, item: Any) -> None:
        return None


if __name__ == "__main__":
    main()
