# syntax=docker/dockerfile:1
# Multi-stage image: build wheels once, run as an unprivileged user. Not built on the
# development machine (no Docker engine there); kept correct by review.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements/ requirements/
RUN pip wheel --wheel-dir /wheels -r requirements/production.txt

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system app && useradd --system --gid app --home /app app \
    && mkdir -p /data && chown app:app /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/* && rm -rf /wheels
WORKDIR /app
COPY --chown=app:app . .
# Production settings serve static files from the collectstatic manifest (the admin, the API
# docs and the chat page answer 500 without it), so the image carries them. The step needs
# settings but no real secret or server: throwaway values for this step only. docker-compose's
# `init` service collects again into the shared `static` volume on every start.
RUN DJANGO_SECRET_KEY=collectstatic-only-build-time-secret-0123456789abcdefghij \
    DJANGO_ALLOWED_HOSTS=localhost QDRANT_URL=http://qdrant.invalid:6333 \
    python manage.py collectstatic --noinput \
    && chown -R app:app /app/staticfiles
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
# Standalone: HTTP + WebSocket on one port in one process. Set QDRANT_URL, or
# QDRANT_EMBEDDED_SINGLE_PROCESS=True to keep the embedded vector store in /data (one process
# only; mount /data as a volume). The scaled layout is docker-compose.yml (README, "Production
# layout").
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py create_default_admin && exec python -m config.serve --host 0.0.0.0 --port ${PORT}"]
