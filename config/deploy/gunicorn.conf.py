"""gunicorn settings of the production layout (``gunicorn -c config/deploy/gunicorn.conf.py``).

gunicorn's own loggers go through the project's redacting structlog formatter (JSON lines in
production), and its access log stays off: the project logs one line per request itself, with
the path but never the query string (tokens, reset links, passwords).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from config.settings.logging import build_logging

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = None
logconfig_dict = build_logging(
    level=os.environ.get("LOG_LEVEL", "INFO"), fmt=os.environ.get("LOG_FORMAT", "json")
)
# gunicorn.error (boot, worker and bad-request messages) has propagation off by default: turn it
# on so its lines reach the redacting root handler.
logconfig_dict["loggers"]["gunicorn.error"] = {"level": "INFO", "propagate": True}
