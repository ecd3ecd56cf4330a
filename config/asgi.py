"""ASGI entry point: HTTP and WebSocket on one port (Daphne in embedded mode)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.daphne_compat import disable_twisted_form_parsing  # noqa: E402
from config.websocket import BrowserOriginValidator  # noqa: E402
from config.websocket_routing import websocket_urlpatterns  # noqa: E402

disable_twisted_form_parsing()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Foreign browser origins refused; non-browser clients (no Origin) use their token.
        "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
