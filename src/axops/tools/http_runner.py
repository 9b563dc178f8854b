"""Running an HTTP tool: the URL built from the version's spec and the arguments, the credential put
where the spec says, and the SSRF rules (docs/SECURITY.md): the host must be on the tool's allowlist
(default: the base URL's host); a name resolving to a private, loopback, link-local or otherwise
non-public address is refused unless that host (or host:port) is named in the allowlist itself; the
connection goes to the addresses checked (no second DNS answer); redirects are followed only on the
same origin; the answer is read up to a cap."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from axops.tools.outcome import ToolOutcome

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
PARAM_PLACES = ("path", "query", "header", "body", "body_raw")


class Refused(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def check_spec(spec: dict) -> dict:
    """The stored form of an HTTP spec, or ValueError saying what is wrong."""
    method = str(spec.get("method", "GET")).upper()
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    base_url = spec.get("base_url")
    if not isinstance(base_url, str) or not base_url:
        raise ValueError("base_url is required")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("base_url must carry no user, password, query or fragment")
    path = spec.get("path", "")
    if not isinstance(path, str) or (path and not path.startswith("/")) or "://" in path:
        raise ValueError("path must start with '/'")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    for name, p in params.items():
        if not isinstance(p, dict) or p.get("in") not in PARAM_PLACES:
            raise ValueError(f"params.{name}.in must be one of {', '.join(PARAM_PLACES)}")
    auth = spec.get("auth") or {"type": "none"}
    if auth.get("type") not in ("none", "bearer", "header", "query"):
        raise ValueError("auth.type must be none, bearer, header or query")
    if auth["type"] in ("header", "query") and not auth.get("name"):
        raise ValueError("auth.name is required for header and query credentials")
    return {
        "method": method,
        "base_url": base_url.rstrip("/"),
        "path": path,
        "params": {k: {"in": v["in"]} for k, v in params.items()},
        "auth": {"type": auth["type"], **({"name": auth["name"]} if auth.get("name") else {})},
    }


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _path_value(name: str, value: Any) -> str:
    text = _scalar(value)
    if ".." in text or text.startswith("/") or "\\" in text or "://" in text or not text:
        raise Refused(
            "invalid_arguments", f"The path parameter '{name}' may not be empty or contain '..', '/', '\\' or a URL."
        )
    return quote(text, safe="")


def build_request(spec: dict, arguments: dict, credential: str | None) -> dict:
    """method, url, query, headers, json for the call (Refused for smuggled paths)."""
    path = spec["path"]
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    body: dict | None = None
    raw_body: Any = None
    has_raw = False
    for name, p in spec["params"].items():
        if name not in arguments or arguments[name] is None:
            continue
        value, place = arguments[name], p["in"]
        if place == "path":
            path = path.replace("{" + name + "}", _path_value(name, value))
        elif place == "query":
            for v in value if isinstance(value, list) else [value]:
                query.append((name, _scalar(v)))
        elif place == "header":
            text = _scalar(value)
            if "\r" in text or "\n" in text:
                raise Refused("invalid_arguments", f"The header parameter '{name}' may not contain line breaks.")
            headers[name] = text
        elif place == "body":
            body = body or {}
            body[name] = value
        else:
            raw_body, has_raw = value, True
    if "{" in path:
        raise Refused("invalid_arguments", "A path parameter is missing.")
    auth = spec.get("auth") or {"type": "none"}
    if credential and auth["type"] == "bearer":
        headers["Authorization"] = f"Bearer {credential}"
    elif credential and auth["type"] == "header":
        headers[auth["name"]] = credential
    elif credential and auth["type"] == "query":
        query.append((auth["name"], credential))
    return {
        "method": spec["method"],
        "url": spec["base_url"] + path,
        "params": query,
        "headers": headers,
        "json": raw_body if has_raw else body,
        "has_body": has_raw or body is not None,
    }


def _listed(host: str, port: int, entries: list[str]) -> bool:
    host = host.lower().strip("[]")
    for e in entries:
        e = e.lower()
        if e.startswith("["):  # [::1]:8080 or [::1]
            h, _, rest = e[1:].partition("]")
            p = rest[1:] if rest.startswith(":") else ""
        elif e.count(":") == 1:
            h, p = e.split(":")
        else:
            h, p = e, ""
        if h == host and (not p or p == str(port)):
            return True
    return False


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def vet(url: str, allow_hosts: list[str], default_host: str) -> tuple[str, int, list[dict]]:
    """The host, port and checked addresses of `url`, or Refused(network_refused)."""
    parts = urlsplit(url)
    host, port = (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme not in ("http", "https") or not host:
        raise Refused("network_refused", "Only http(s) URLs are called.")
    explicit = _listed(host, port, allow_hosts)
    if not explicit and not (not allow_hosts and host == default_host):
        raise Refused("network_refused", f"The host '{host}' is not on this tool's allowlist.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise Refused("unavailable", f"The host '{host}' could not be resolved.") from None
    addresses = []
    for family, _, proto, _, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not _public(ip) and not explicit and not _listed(str(ip), port, allow_hosts):
            raise Refused(
                "network_refused",
                f"The host '{host}' resolves to a private, loopback or link-local address; "
                "name it in the tool's allow_hosts to reach it.",
            )
        addresses.append(
            {
                "hostname": host,
                "host": str(ip),
                "port": port,
                "family": family,
                "proto": proto,
                "flags": socket.AI_NUMERICHOST,
            }
        )
    return host, port, addresses


class _Pinned(AbstractResolver):
    """Answers with the addresses already checked, so the connection cannot go elsewhere."""

    def __init__(self, addresses: list[dict]):
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [a for a in self.addresses if a["hostname"] == host.lower()] or self.addresses

    async def close(self) -> None:
        return None


def _redact(text: str, credential: str | None) -> str:
    return text.replace(credential, "***") if credential and len(credential) >= 4 else text


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def run(
    spec: dict,
    arguments: dict,
    *,
    credential: str | None,
    allow_hosts: list[str],
    timeout_s: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> ToolOutcome:
    started = time.perf_counter()

    def done(**kw) -> ToolOutcome:
        return ToolOutcome(latency_ms=round((time.perf_counter() - started) * 1000, 3), **kw)

    try:
        req = build_request(spec, arguments, credential)
        default_host = (urlsplit(spec["base_url"]).hostname or "").lower()
        async with asyncio.timeout(timeout_s):
            url, method = req["url"], req["method"]
            origin = urlsplit(url)[:2]
            for _ in range(MAX_REDIRECTS + 1):
                host, _port, addresses = await vet(url, allow_hosts, default_host)
                connector = aiohttp.TCPConnector(resolver=_Pinned(addresses), force_close=True)
                async with aiohttp.ClientSession(connector=connector, trust_env=False) as http:
                    kwargs: dict[str, Any] = {
                        "params": req["params"],
                        "headers": req["headers"],
                        "allow_redirects": False,
                    }
                    if req["has_body"] and method not in ("GET", "HEAD"):
                        kwargs["json"] = req["json"]
                    async with http.request(method, url, **kwargs) as resp:
                        if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
                            target = str(resp.url.join(URL(resp.headers["location"])))
                            if urlsplit(target)[:2] != origin:
                                return done(
                                    ok=False,
                                    error_kind="network_refused",
                                    error="The server redirected to another host; redirects are followed on the same host only.",
                                    detail={"status": resp.status},
                                )
                            url, req["params"] = target, []
                            if resp.status == 303:
                                method = "GET"
                            continue
                        raw = await _read_capped(resp, max_bytes)
                        if raw is None:
                            return done(
                                ok=False,
                                error_kind="output_too_large",
                                error=f"The answer is larger than {max_bytes} bytes.",
                                detail={"status": resp.status, "limit_bytes": max_bytes},
                            )
                        text = _redact(raw.decode(resp.charset or "utf-8", errors="replace"), credential)
                        output: Any = text
                        if "json" in (resp.content_type or ""):
                            try:
                                output = json.loads(text)
                            except ValueError:
                                pass
                        detail = {"status": resp.status, "method": method, "host": host}
                        if resp.status >= 400:
                            return done(
                                ok=False,
                                error_kind="tool_error",
                                error=f"HTTP {resp.status}: {text[:500]}",
                                output=output,
                                detail=detail,
                            )
                        return done(ok=True, output=output, detail=detail)
            return done(ok=False, error_kind="tool_error", error="Too many redirects.")
    except Refused as exc:
        return done(ok=False, error_kind=exc.kind, error=exc.message)
    except TimeoutError:
        return done(ok=False, error_kind="timeout", error=f"No answer within {timeout_s:g} s.")
    except (aiohttp.ClientError, OSError) as exc:
        return done(
            ok=False, error_kind="unavailable", error=f"The server could not be reached ({type(exc).__name__})."
        )
