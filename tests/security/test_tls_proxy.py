"""HSTS and the HTTPS view of a request come only from a real TLS connection or the operator's
`AXOPS_BEHIND_TLS_PROXY`: a client cannot claim HTTPS with a header, and the proxy setting does not
let a client pick its own address (login throttling keys on it)."""

from __future__ import annotations

import asyncio

from axops.core import context
from axops.core.middleware import RequestMiddleware


def _call(scheme: str, headers: list[tuple[bytes, bytes]], *, behind_tls_proxy: bool) -> tuple[dict, dict]:
    seen: dict = {}

    async def app(scope, receive, send):
        seen["scheme"] = scope["scheme"]
        seen["client_ip"] = context.current().client_ip
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/x",
        "scheme": scheme,
        "headers": headers,
        "client": ("203.0.113.7", 5000),
    }
    asyncio.run(RequestMiddleware(app, max_body_bytes=1024, behind_tls_proxy=behind_tls_proxy)(scope, receive, send))
    return seen, dict(sent[0]["headers"])


SPOOF = [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"10.0.0.1")]


def test_a_forwarded_proto_header_from_a_client_does_not_turn_on_hsts():
    seen, headers = _call("http", SPOOF, behind_tls_proxy=False)
    assert seen["scheme"] == "http"
    assert b"strict-transport-security" not in headers


def test_behind_a_tls_proxy_every_request_is_https_but_the_client_address_is_not_taken_from_headers():
    seen, headers = _call("http", SPOOF, behind_tls_proxy=True)
    assert seen == {"scheme": "https", "client_ip": "203.0.113.7"}
    assert headers[b"strict-transport-security"] == b"max-age=31536000"


def test_a_real_tls_connection_gets_hsts():
    _, headers = _call("https", [], behind_tls_proxy=False)
    assert headers[b"strict-transport-security"] == b"max-age=31536000"
