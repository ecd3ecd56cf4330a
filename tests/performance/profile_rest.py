"""Profile the REST hot path in-process (cProfile) to find where a request's time goes.

Run against the settings and stores to profile, e.g. the production layout::

    DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=... \\
    DJANGO_ALLOWED_HOSTS=testserver QDRANT_URL=http://127.0.0.1:1 \\
    DATABASE_URL=postgres://... REDIS_URL=redis://... \\
    python -m tests.performance.profile_rest [/api/v1/users/me ...] [--requests 2000]

Requests go through Django's WSGI handler with the full middleware stack (``django.test.Client``)
as the user seeded by ``bench_rest`` (``bench-rest@example.com``, created if missing); prints
the per-request time and the top frames by own time and by cumulative time.
"""

import argparse
import cProfile
import os
import pstats
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", default=["/api/v1/users/me", "/api/v1/chat/sessions"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--time-only", action="store_true", help="no profiler: wall and CPU ms per request"
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("THROTTLE_USER", "1000000000/min")
    django.setup()
    from django.test import Client

    from accounts.models import User
    from accounts.tokens import issue_tokens
    from chat.models import ChatSession

    user, _ = User.objects.get_or_create(
        email="bench-rest@example.com", defaults={"username": "bench-rest", "is_verified": True}
    )
    missing = 20 - ChatSession.objects.filter(user=user).count()
    ChatSession.objects.bulk_create(
        [ChatSession(user=user, title=f"bench session {i}") for i in range(max(missing, 0))]
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}")
    for path in args.paths:
        for _ in range(50):  # warm-up
            assert client.get(path).status_code == 200
        if args.time_only:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests):
                client.get(path)
            wall = (time.perf_counter() - wall) / args.requests * 1000
            cpu = (time.process_time() - cpu) / args.requests * 1000
            print(f"{path}: {wall:.3f} ms wall, {cpu:.3f} ms CPU per request")
            continue
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests):
            client.get(path)
        profiler.disable()
        per_request = (time.perf_counter() - started) / args.requests * 1000
        print(f"\n=== {path}: {per_request:.3f} ms per request under cProfile ===")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
