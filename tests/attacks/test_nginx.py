"""deploy/nginx.conf, as shipped, with Debian's nginx in front of a real ``idmint serve`` on
loopback: TLS, forwarded headers, and its limits answered in idmint's envelope."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import IDMINT, free_port, idmint_init, launch, stop, wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _certificate(directory: Path) -> None:
    """A self-signed certificate for 127.0.0.1, made with cryptography."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass
class Proxy:
    https: str
    http_port: int
    https_port: int
    api_key: str
    auth_token: str
    certificate: Path

    def tls(self) -> ssl.SSLContext:
        """Trusts this test's self-signed certificate, and nothing else."""
        return ssl.create_default_context(cafile=str(self.certificate))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed")
    tmp = tmp_path_factory.mktemp("nginx")
    upstream_port, http_port, https_port = free_port(), free_port(), free_port()
    env = {**os.environ, "IDMINT_DATA_DIR": str(tmp / "data")}
    env["IDMINT_PUBLIC_URL"] = f"https://127.0.0.1:{https_port}"
    env["IDMINT_TRUSTED_PROXIES"] = "127.0.0.1"
    created = idmint_init(env)
    log = tmp / "idmint.log"
    idmint = launch(
        [IDMINT, "serve", "--host", "127.0.0.1", "--port", str(upstream_port)], env, log
    )
    try:
        wait_ready(idmint, log, f"http://127.0.0.1:{upstream_port}/openapi.json")
        _certificate(tmp)
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (tmp / name).mkdir()
        # The shipped file, with loopback addresses, this test's certificate and its own
        # file locations: nothing else changes.
        conf = (
            (ROOT / "deploy" / "nginx.conf")
            .read_text()
            .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("/etc/ssl/idmint/", f"{tmp}/")
            .replace(
                "http {",
                "http {\n"
                f"    client_body_temp_path {tmp}/body;\n    proxy_temp_path {tmp}/proxy;\n"
                f"    fastcgi_temp_path {tmp}/fastcgi;\n    uwsgi_temp_path {tmp}/uwsgi;\n"
                f"    scgi_temp_path {tmp}/scgi;\n",
            )
            .replace("worker_processes auto;", "worker_processes 1;")
        )
        (tmp / "nginx.conf").write_text(conf)
        command = [
            NGINX,
            "-p",
            str(tmp),
            "-c",
            str(tmp / "nginx.conf"),
            "-g",
            f"daemon off; pid {tmp}/nginx.pid; error_log {tmp}/logs/error.log;"
            + (" user root;" if os.geteuid() == 0 else ""),
        ]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        nginx = launch(command, env, tmp / "nginx.out")
        try:
            base = f"https://127.0.0.1:{https_port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    ready = httpx.get(
                        base + "/openapi.json",
                        verify=ssl.create_default_context(cafile=str(tmp / "fullchain.pem")),
                        timeout=2,
                    )
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp / "logs" / "error.log").read_text()
                time.sleep(0.1)
            yield Proxy(
                base,
                http_port,
                https_port,
                created["apiKey"],
                created["authToken"],
                tmp / "fullchain.pem",
            )
        finally:
            stop(nginx)
    finally:
        stop(idmint)


def _client(proxy: Proxy) -> httpx.Client:
    return httpx.Client(base_url=proxy.https, verify=proxy.tls(), timeout=30)


def test_minting_and_identify_through_the_proxy(proxy: Proxy) -> None:
    with _client(proxy) as client:
        minted = client.post(
            "/v1/auth/token/get",
            json={
                "data": {
                    "apiKey": proxy.api_key,
                    "authToken": proxy.auth_token,
                    "userId": "u1",
                    "userProperties": {"organizationId": "o1"},
                }
            },
        )
        assert minted.status_code == 200, minted.text
        token = minted.json()["result"]["data"]["token"]
        identified = client.post(
            "/v1/identify",
            json={
                "apiKey": proxy.api_key,
                "authToken": token,
                "user": {"userId": "u1", "organizationId": "o1"},
            },
        )
        assert identified.status_code == 200, identified.text
        assert minted.headers["cache-control"] == "no-store"
        assert "server" not in {
            name.lower() for name in minted.headers
        } or "nginx/" not in minted.headers.get("server", "")


def test_plain_http_is_sent_to_https(proxy: Proxy) -> None:
    answer = httpx.get(f"http://127.0.0.1:{proxy.http_port}/openapi.json", timeout=10)
    assert answer.status_code == 301
    assert answer.headers["location"].startswith("https://")


def test_a_large_header_is_refused_in_the_envelope(proxy: Proxy) -> None:
    with _client(proxy) as client:
        answer = client.get("/openapi.json", headers={"X-Big": "a" * 20_000})
    assert answer.status_code == 431
    assert answer.json()["error"]["code"] == "request_headers_too_large"


def test_a_large_body_is_refused_in_the_envelope(proxy: Proxy) -> None:
    with _client(proxy) as client:
        answer = client.post(
            "/v1/identify",
            content=b"{" + b" " * 100_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"


def test_a_slow_client_is_dropped_within_the_header_timeout(proxy: Proxy) -> None:
    context = proxy.tls()
    with (
        socket.create_connection(("127.0.0.1", proxy.https_port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        started = time.monotonic()
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(20)
        try:
            while True:
                time.sleep(1)
                sock.sendall(b"X")
        except (OSError, ssl.SSLError):
            pass
        elapsed = time.monotonic() - started
    assert elapsed < 10 + 3


def test_idmint_sees_the_client_through_the_proxy(proxy: Proxy) -> None:
    with _client(proxy) as client:
        body = client.get(f"/w/{proxy.api_key}/.well-known/openid-configuration").json()
    assert body["issuer"] == f"{proxy.https}/w/{proxy.api_key}"
    assert json.dumps(body)
