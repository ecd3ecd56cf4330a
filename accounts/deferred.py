"""Work that runs after the HTTP response has been sent.

``auth/password/forgot`` and ``auth/code/request`` must not tell, by their answer or by how long
it takes, whether an account has the address. Finding the account, making the link or code,
rendering and sending the mail all depend on the address, so none of it happens before the
answer: the service hands it to :func:`after_response`, and the answer (always 202, same body)
leaves the server first. The work then runs in the same worker thread when the server closes
the response (Django's ``HttpResponse.close()``, which every server calls after the last byte:
Daphne, uvicorn and gunicorn alike), with the request's database connection and request id.

A door that sends no response (a management command, a task, a direct service call) runs the
work at once.
"""

import contextvars
from collections.abc import Callable
from typing import Any

import structlog
from rest_framework.request import Request
from rest_framework.response import Response

logger = structlog.get_logger(__name__)

_JOBS_ATTR = "_after_response_jobs"
# The jobs of the view now running (set by AfterResponseMixin): services defer work without
# ever seeing the HTTP request.
_jobs: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "after_response_jobs", default=None
)


def _http_request(request: Any) -> Any:
    # DRF wraps Django's HttpRequest; the jobs live on the Django one.
    return getattr(request, "_request", request)


def after_response(job: Callable[[], None]) -> None:
    """Run ``job`` once the response of the current view has been sent (now, outside one)."""
    jobs = _jobs.get()
    if jobs is None:
        job()
        return
    # The request's context (its address for email links, its ids) is gone by the time the
    # server closes the response: run the job in a copy taken now.
    context = contextvars.copy_context()
    jobs.append(lambda: context.run(job))


def _run_jobs(jobs: list[Callable[[], None]], request_id: str | None) -> None:
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        for job in jobs:
            try:
                job()
            except Exception:  # the client has its answer: log, never raise
                logger.exception("after_response_job_failed")


class AfterResponseMixin:
    """For DRF views whose services call :func:`after_response`."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        jobs: list[Callable[[], None]] = []
        setattr(_http_request(request), _JOBS_ATTR, jobs)
        _jobs.set(jobs)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        http = _http_request(request)
        jobs = getattr(http, _JOBS_ATTR, None) or []
        # Later calls (and the next request served by this thread) run their jobs at once.
        _jobs.set(None)
        if jobs:
            setattr(http, _JOBS_ATTR, None)
            close = response.close
            request_id = getattr(http, "request_id", None)

            def close_then_run() -> None:
                # Before Django's close(): its request_finished signal may close the connection.
                try:
                    _run_jobs(jobs, request_id)
                finally:
                    close()

            response.close = close_then_run  # type: ignore[method-assign]
        return response
