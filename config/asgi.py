"""ASGI entry point: HTTP and WebSocket on one port (uvicorn in embedded mode, ``config.serve``)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Django must be set up before anything imports models (consumers, routing).
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from config.asgi_handler import PooledSyncASGIHandler  # noqa: E402

# Django's ASGIHandler, with its sync middleware chain and views run in one hop on a pool of
# long-lived threads (see config.asgi_handler for the measurements behind it).
django_asgi_app = PooledSyncASGIHandler(threads=settings.ASGI_SYNC_THREADS)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.asgi_middleware import (  # noqa: E402
    RequestBodyLimitMiddleware,
    WebSocketAccessLogMiddleware,
)
from config.daphne_compat import disable_twisted_form_parsing  # noqa: E402
from config.startup import LifespanMiddleware  # noqa: E402
from config.websocket import BrowserOriginValidator  # noqa: E402
from config.websocket_routing import websocket_urlpatterns  # noqa: E402

disable_twisted_form_parsing()

# The lifespan scope (uvicorn): recovery, warm-up and gc.freeze at process start.
application = LifespanMiddleware(
    ProtocolTypeRouter(
        {
            # Oversized bodies are refused before Django's handler buffers them.
            "http": RequestBodyLimitMiddleware(django_asgi_app),
            # Foreign browser origins refused; non-browser clients (no Origin) use their token.
            "websocket": WebSocketAccessLogMiddleware(
                BrowserOriginValidator(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)

# Embedded mode (no broker): periodic maintenance - chat recovery, stalled documents (which also
# starts the ingestion thread), expired quota reservations - on a timer in this process.
from config.periodic import embedded_maintenance_start  # noqa: E402

embedded_maintenance_start()
