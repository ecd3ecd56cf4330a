"""The embedded server (``make run``, ``make dev``, the image): uvicorn with the project's settings.

Why uvicorn and not Daphne: Daphne (Twisted) receives a whole request body before the application
is called and then queues all of it at once, so a 600 MB POST was held in memory whatever the
application did. uvicorn reads the socket only as fast as the application asks (it pauses reading
past 64 KB), so the body-limit guard in ``config.asgi`` refuses an oversized body after at most one
chunk over the limit. Its own access log (the path with the query string) stays off; the project
logs one redacted line per request and per WebSocket instead, and uvicorn's remaining loggers go
through the same redacting ``LOGGING`` configuration (``log_config=None``).

Run: ``python -m config.serve [--host 127.0.0.1] [--port 8000]``.
"""

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import uvicorn

    # Importing the application sets Django up, and with it the redacting LOGGING.
    from config.asgi import application

    uvicorn.run(
        application,
        host=args.host,
        port=args.port,
        log_config=None,  # keep Django's LOGGING: every line is redacted
        access_log=False,  # replaced by the project's own access lines
        # config.startup answers it: recovery, warm-up and gc.freeze before the first request.
        lifespan="on",
        proxy_headers=False,  # client addresses come from NUM_PROXIES, as under every server
        server_header=False,
        # Daphne's default message cap; the consumer's own frame limit answers below it.
        ws_max_size=1024 * 1024,
        # Compressing every token frame cost an eighth of the server's CPU at 300 streams
        # (profiled) for frames of a few dozen bytes; Daphne never compressed either.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,  # open WebSockets must not hold a restart forever
    )


if __name__ == "__main__":
    main()
