"""The HTTP edge against a real ``idmint serve``: oversized and countless headers, slow and
silent clients, more connections than a worker takes, and keep-alive past a balancer's idle
timeout.  Each refusal is the error envelope; the server's memory stays flat."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import IDMINT, free_port, idmint_init, launch, stop, wait_ready

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS = 20


@dataclass
class Edge:
    port: int
    pid: int

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def rss_kib(self) -> int:
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("edge")
    port = free_port()
    env = {
        **os.environ,
        "IDMINT_DATA_DIR": str(tmp / "data"),
        "IDMINT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "IDMINT_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "IDMINT_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    idmint_init(env)
    log = tmp / "server.log"
    process = launch([IDMINT, "serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    try:
        wait_ready(process, log, f"http://127.0.0.1:{port}/openapi.json")
        yield Edge(port, process.pid)
    finally:
        stop(process)


def _answer(sock: socket.socket, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Read one whole answer (or what came before the close)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, {k.lower(): v for k, v in headers.items()}, body


def _closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes the connection within ``timeout`` (reading what is left)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def _code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def test_a_large_header_is_431_and_the_connection_closed(edge: Edge) -> None:
    with edge.connect() as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(8):  # 8 MiB, a mebibyte at a time
                sock.sendall(b"a" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end: the answer is waiting
        status, headers, body = _answer(sock)
    assert status == 431
    assert _code(body) == "request_headers_too_large"
    assert headers["content-type"] == "application/json"


def test_too_many_header_lines_are_431(edge: Edge) -> None:
    many = b"".join(b"x%d: y\r\n" % n for n in range(150))
    with edge.connect() as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        status, _headers, body = _answer(sock)
    assert status == 431
    assert _code(body) == "request_headers_too_large"


def test_four_64_mib_headers_cost_no_memory(edge: Edge) -> None:
    before = edge.rss_kib()
    results: list[bool] = []

    def flood() -> None:
        with edge.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            sent = 0
            try:
                while sent < 64 << 20:
                    sock.sendall(b"a" * (1 << 20))
                    sent += 1 << 20
                results.append(False)  # the server took 64 MiB
            except (BrokenPipeError, ConnectionResetError):
                results.append(True)  # refused and closed early

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    after = edge.rss_kib()
    assert results == [True] * 4
    assert after - before < 20 * 1024, (before, after)


def test_a_slow_client_is_answered_408_within_the_header_timeout(edge: Edge) -> None:
    with edge.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\n")
        # One header byte a second: each within any per-read timeout, never done; until the
        # server answers.
        try:
            for _ in range(int(HEADER_TIMEOUT * 3)):
                sock.sendall(b"X")
                if select.select([sock], [], [], 1.0)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        elapsed = time.monotonic() - started
        status, _headers, body = _answer(sock, timeout=10)
    assert status == 408
    assert _code(body) == "request_timeout"
    assert elapsed < HEADER_TIMEOUT + 2


def test_a_silent_connection_is_closed_within_the_header_timeout(edge: Edge) -> None:
    with edge.connect() as sock:
        started = time.monotonic()
        assert _closed(sock, timeout=HEADER_TIMEOUT + 3)
        assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_a_body_that_never_comes_is_answered_408(edge: Edge) -> None:
    with edge.connect() as sock:
        sock.sendall(
            b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"api'
        )
        started = time.monotonic()
        status, _headers, body = _answer(sock, timeout=10)
    assert status == 408
    assert _code(body) == "request_timeout"
    assert time.monotonic() - started < BODY_TIMEOUT + 2


def test_a_connection_past_the_cap_is_503_with_retry_after(edge: Edge) -> None:
    held = [edge.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)
        with edge.connect() as extra:
            status, headers, body = _answer(extra, timeout=10)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert _code(body) == "server_busy"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with edge.connect() as again:  # room again once they are gone
        again.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(again)[0] == 200


def test_keep_alive_outlasts_a_balancers_idle_timeout(edge: Edge) -> None:
    with edge.connect() as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(sock)[0] == 200
        time.sleep(6)  # uvicorn's own default closed it after 5 s
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(sock)[0] == 200


def test_a_normal_request_with_a_body_is_served(edge: Edge) -> None:
    with edge.connect() as sock:
        body = b'{"username": "nobody@example.com"}'
        sock.sendall(
            b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        time.sleep(0.5)  # the body a moment later, well within the timeout
        sock.sendall(body)
        status, _headers, answer = _answer(sock)
    assert status in (400, 401)  # no credentials: refused, but served
    assert _code(answer) == "credentials_missing"
