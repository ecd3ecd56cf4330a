"""Logging configuration: structlog over the standard library, with secret redaction.

``LOG_FORMAT=json`` renders one JSON object a line (production); ``console`` renders readable
lines (development). Every line passes through :func:`config.logging.redact_secrets`.
"""

from typing import Any


def build_logging(*, level: str, fmt: str) -> dict[str, Any]:
    """Return a ``LOGGING`` dict and configure structlog to render through it."""
    import structlog

    from config.logging import redact_secrets

    shared_processors = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks: the default (rich) formatter prints local variables - passwords.
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    # Tracebacks of stdlib records become text here, so they are redacted too.
                    structlog.processors.format_exc_info,
                    redact_secrets,
                    renderer,
                ],
                "foreign_pre_chain": shared_processors,
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Our access lines replace these; they print full paths with query strings. uvicorn
            # logs WebSocket handshakes (with the query) on "uvicorn.error" at INFO.
            "django.server": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
            "django_structlog": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
            "uvicorn": {"level": "WARNING"},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING"},
            "gunicorn.access": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "openai": {"level": "WARNING"},
        },
    }
