"""HTTPS served by `axops up` itself (TLS 1.2 minimum, Secure cookies, HSTS), the same behind a
TLS-terminating proxy, and clear start-up errors for a bad certificate or key."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from axops.core import tls
from tests.factories import ADMIN_PASSWORD, login
from tests.live import axops_process

AXOPS = str(Path(sys.executable).parent / "axops")


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, its key, and an unrelated key."""
    root = tmp_path_factory.mktemp("tls")
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "axops test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = {"cert": root / "cert.pem", "key": root / "key.pem", "other_key": root / "other.pem"}
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(_key_pem(key))
    paths["other_key"].write_bytes(_key_pem(other))
    for p in paths.values():
        p.chmod(0o600)
    return paths


def _client_context(cert: Path, *, highest: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    if highest is not None:
        context.maximum_version = highest
        if highest < ssl.TLSVersion.TLSv1_2:
            # Let this client really offer the old protocol (the system default forbids it), so that a
            # failure is the server's refusal, not the client's.
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _handshake(port: int, context: ssl.SSLContext) -> str:
    import socket

    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        return conn.version() or ""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.0/1.1 named on purpose
def test_https_with_tls_1_2_minimum_hsts_and_secure_cookies(api, database_url, settings, certs, tmp_path):
    args = ("--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"]))
    with axops_process(database_url, settings, tmp_path / "tls", args=args, handle=True) as server:
        assert server.url.startswith("https://")
        with httpx.Client(base_url=server.url, verify=_client_context(certs["cert"]), timeout=30) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.headers["strict-transport-security"] == "max-age=31536000"
            r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            assert r.status_code == 200, r.text
            cookie = r.headers["set-cookie"].lower()
            assert "axops_refresh=" in cookie and "; secure" in cookie and "httponly" in cookie
            assert r.headers["strict-transport-security"] == "max-age=31536000"

        assert _handshake(server.port, _client_context(certs["cert"])) == "TLSv1.3"
        assert _handshake(server.port, _client_context(certs["cert"], highest=ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
        for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            with pytest.raises(ssl.SSLError) as refused:
                _handshake(server.port, _client_context(certs["cert"], highest=old))
            assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)  # the client did offer it

        # Plain HTTP to the HTTPS port is not served.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=5).raise_for_status()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_old_protocol_client_really_speaks_tls_1_1(certs):
    """Without this, refusing it above could be the client's doing."""
    import socket
    import threading

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(certs["cert"], certs["key"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert _handshake(port, _client_context(certs["cert"], highest=ssl.TLSVersion.TLSv1_1)) == "TLSv1.1"
    finally:
        thread.join(10)
        listener.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_harden_raises_a_lowered_minimum():
    """The server context is TLS 1.2+ whatever the system's OpenSSL configuration allows."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1
    tls.harden(context)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert all(c["protocol"] in ("TLSv1.2", "TLSv1.3") for c in context.get_ciphers())
    assert all("CBC" not in c["name"] and "SHA1" not in c["description"] for c in context.get_ciphers())


def test_plain_http_has_no_hsts_and_no_secure_cookie(api):
    r = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    assert "strict-transport-security" not in r.headers
    assert "secure" not in r.headers["set-cookie"].lower()


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(api, database_url, settings, tmp_path):
    env = {"AXOPS_BEHIND_TLS_PROXY": "true"}
    with axops_process(database_url, settings, tmp_path / "proxied", env=env) as url, httpx.Client(base_url=url) as c:
        session = login(c, "admin", ADMIN_PASSWORD)
        assert session["access_token"]
        r = c.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert "; secure" in r.headers["set-cookie"].lower()
        assert r.headers["strict-transport-security"] == "max-age=31536000"


def _up(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # No database is reachable: the certificate check must fail before anything else is tried.
    base = {"PATH": "/usr/bin:/bin", "AXOPS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    return subprocess.run(
        [AXOPS, "up", "--no-worker", *args], env={**base, **(env or {})}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("missing_cert", "TLS certificate file not found"),
        ("missing_key", "TLS key file not found"),
        ("mismatch", "does not match the certificate"),
        ("only_cert", "give both a TLS certificate and its key"),
        ("garbage", "cannot use TLS certificate"),
    ],
)
def test_bad_certificate_or_key_is_one_clear_line_and_a_failed_start(certs, tmp_path, which, expected):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cert, key = str(certs["cert"]), str(certs["key"])
    args = {
        "missing_cert": ("--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", key),
        "missing_key": ("--tls-cert", cert, "--tls-key", str(tmp_path / "nope.key")),
        "mismatch": ("--tls-cert", cert, "--tls-key", str(certs["other_key"])),
        "only_cert": ("--tls-cert", cert),
        "garbage": ("--tls-cert", str(garbage), "--tls-key", key),
    }[which]
    done = _up(*args)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert "BEGIN" not in done.stderr  # no key material in errors


def test_tls_from_the_environment_is_checked_too(certs, tmp_path):
    done = _up(env={"AXOPS_TLS_CERT": str(certs["cert"]), "AXOPS_TLS_KEY": str(certs["other_key"])})
    assert done.returncode == 2 and "does not match the certificate" in done.stderr, done.stderr
