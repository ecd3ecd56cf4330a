"""A local Stripe API server for tests: the official ``stripe`` SDK talks to it over HTTP
(``STRIPE_API_BASE``), so the adapter's real requests (form encoding, idempotency keys, error
handling) run. It keeps customers and subscriptions in memory and answers like Stripe's v1 API
for the calls the billing adapter makes. ``signed_event`` builds a webhook delivery signed the
way Stripe signs them."""

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class StripeRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


def signed_event(
    event: dict[str, Any], secret: str, *, timestamp: int | None = None
) -> tuple[bytes, str]:
    """The body and the ``Stripe-Signature`` header of a webhook delivery of ``event``."""
    body = json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={ts},v1={digest}"


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[StripeRequest] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoice_items: dict[str, dict[str, Any]] = {}
        self.fail_next: int | None = None  # answer the next request with this HTTP status
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._seen_keys: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):04d}"

    def add_subscription(self, *, customer: str, price: str, status: str = "active") -> dict:
        """A subscription as Checkout would have created it."""
        now = int(time.time())
        sub_id = self.new_id("sub")
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "current_period_start": now,
            "current_period_end": now + 30 * 86400,
            "metadata": {},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self.new_id("si"),
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "quantity": 1,
                    }
                ],
            },
        }
        self.subscriptions[sub_id] = subscription
        return subscription

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    # --- the API ---------------------------------------------------------------------------

    def _answer(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # without "v1"
        if method == "POST" and parts == ["customers"]:
            customer = {
                "id": self.new_id("cus"),
                "object": "customer",
                "name": params.get("name", ""),
                "metadata": {"organization_id": params.get("metadata[organization_id]", "")},
            }
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and parts == ["checkout", "sessions"]:
            session_id = self.new_id("cs")
            return 200, {
                "id": session_id,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "url": f"https://checkout.stripe.test/pay/{session_id}",
            }
        if method == "POST" and parts == ["billing_portal", "sessions"]:
            return 200, {
                "id": self.new_id("bps"),
                "object": "billing_portal.session",
                "url": f"https://billing.stripe.test/session/{params.get('customer')}",
            }
        if len(parts) == 2 and parts[0] == "subscriptions":
            subscription = self.subscriptions.get(parts[1])
            if subscription is None:
                return 404, _error("resource_missing", f"No such subscription: '{parts[1]}'")
            if method == "GET":
                return 200, subscription
            if method == "DELETE":
                subscription["status"] = "canceled"
                return 200, subscription
            if "items[0][price]" in params:
                subscription["items"]["data"][0]["price"] = {
                    "id": params["items[0][price]"],
                    "object": "price",
                }
            if "cancel_at_period_end" in params:
                subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
            return 200, subscription
        if method == "POST" and parts == ["invoiceitems"]:
            item = {
                "id": self.new_id("ii"),
                "object": "invoiceitem",
                "customer": params.get("customer"),
                "amount": int(params.get("amount", "0")),
                "currency": params.get("currency"),
                "description": params.get("description"),
            }
            self.invoice_items[item["id"]] = item
            return 200, item
        return 404, _error("resource_missing", f"Unrecognized request URL ({method}: {path})")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                split = urlsplit(self.path)
                params = dict(parse_qsl(raw or split.query, keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(StripeRequest(method, split.path, params, headers))
                    key = headers.get("idempotency-key", "")
                    if fake.fail_next is not None:
                        status, body = fake.fail_next, _error("api_error", "Injected failure.")
                        fake.fail_next = None
                    elif key and method == "POST" and key in fake._seen_keys:
                        # Stripe replays the first answer of an idempotency key.
                        status, body = 200, fake._seen_keys[key]
                    else:
                        status, body = fake._answer(method, split.path, params)
                        if key and method == "POST" and status == 200:
                            fake._seen_keys[key] = body
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_fake")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler


def _error(kind: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "type": "invalid_request_error" if kind != "api_error" else kind,
            "code": kind,
            "message": message,
        }
    }
