"""Server memory while a huge request body arrives (issue 15, item 6). Run on demand:

    make bench   (or: pytest -s tests/performance/bench_body_limit.py, test settings)

Starts the embedded server as ``make run`` does (fresh DATA_DIR, free port) and sends 600 MB
(``BENCH_BODY_MB``) anonymously: with ``Content-Length`` and streamed chunked, to a JSON route
(1 MB limit) and to the upload route (25 MB + 1 MB). It samples the server's RSS (``/proc``) while
the client writes and prints the baseline, the peak, how many bytes the client could write before
the server answered, and the answer. For comparison it does the same against Daphne, the server
``make run`` used before, with a smaller body (``BENCH_DAPHNE_MB``, default 100; 0 skips it):
Daphne holds the whole body before the application runs, and a 600 MB body took it to 7.4 GB.
"""

import os
import socket
import sys
import threading
import time

import pytest

from tests.server_process import EmbeddedServer, free_port

pytestmark = pytest.mark.slow

MB = 1024 * 1024
BODY_MB = int(os.environ.get("BENCH_BODY_MB", "600"))
DAPHNE_MB = int(os.environ.get("BENCH_DAPHNE_MB", "100"))
ROUTES = {"json route": "/api/v1/auth/login", "upload route": "/api/v1/documents"}


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """Samples a process's resident memory until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = _rss_mb(pid)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, _rss_mb(self.pid))
            except OSError:
                return
            self._halt.wait(0.02)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak


def _send(port: int, path: str, size: int, *, chunked: bool) -> tuple[int, str]:
    """Write ``size`` bytes of body; return (bytes written, the status line or the error)."""
    chunk = b"x" * MB
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{length}\r\n\r\n".encode()
    )
    written = 0
    try:
        while written < size:
            piece = chunk[: min(MB, size - written)]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            written += len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError as exc:  # the server answered and closed: the rest was never read
        answer = _status_line(sock) or type(exc).__name__
        sock.close()
        return written, answer
    answer = _status_line(sock)
    sock.close()
    return written, answer


def _status_line(sock: socket.socket) -> str:
    try:
        sock.settimeout(120)
        data = sock.recv(4096)
    except OSError as exc:
        return type(exc).__name__
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def _measure(server: EmbeddedServer, label: str, size_mb: int) -> list[str]:
    pid = server.server_pid()
    lines = []
    for route_name, path in ROUTES.items():
        for chunked in (False, True):
            baseline = _rss_mb(pid)
            sampler = RssSampler(pid)
            sampler.start()
            started = time.perf_counter()
            written, answer = _send(server.port, path, size_mb * MB, chunked=chunked)
            elapsed = time.perf_counter() - started
            time.sleep(0.5)  # let a server that buffers finish swallowing what it got
            peak = sampler.stop()
            lines.append(
                f"{label:8} {size_mb:4d} MB {'chunked' if chunked else 'length ':8} "
                f"{route_name:13} RSS {baseline:7.1f} -> peak {peak:7.1f} MB "
                f"(+{peak - baseline:7.1f})  client wrote {written / MB:7.1f} MB in "
                f"{elapsed:5.1f} s  answer: {answer}"
            )
    return lines


def test_body_limit_memory():
    lines = []
    with EmbeddedServer() as server:
        lines += _measure(server, "uvicorn", BODY_MB)
    if DAPHNE_MB:
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-v", "0"]
        port = free_port()
        server = EmbeddedServer(
            server_argv=[*daphne, "-p", str(port), "config.asgi:application"], port=port
        )
        with server:
            lines += _measure(server, "daphne", DAPHNE_MB)
    print("\nServer RSS while an anonymous client sends a huge body:")
    for line in lines:
        print("  " + line)
