"""The host side of a sandbox's network: an HTTP(S) proxy on a unix socket that admits only the
allowlisted hosts. CONNECT host:port for https, absolute-URI requests for plain http.

Allowlist entries are `host`, `host:port`, `*.example.com[:port]`, a literal IP (`127.0.0.1:8080`,
`[::1]:8080`); without a port, 80 and 443. The proxy resolves the name itself and connects to the
address it checked (no second lookup). Addresses that aren't public are refused unless the entry
is that literal IP, or an exact host name (an internal service named on purpose); a wildcard only
ever reaches public addresses, and link-local (cloud metadata) needs the literal IP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_HEADER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Entry:
    host: str  # lower case; "*.x.y" for a wildcard
    ports: tuple[int, ...]
    literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None


def parse_entry(text: str) -> Entry:
    text = text.strip().lower()
    if not text:
        raise ValueError("empty allowlist entry")
    port: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    ports = (int(port),) if port else (80, 443)
    if any(not 0 < p < 65536 for p in ports):
        raise ValueError(f"bad port in {text!r}")
    literal = None
    with contextlib.suppress(ValueError):
        literal = ipaddress.ip_address(host)
    if literal is None and ("*" in host.removeprefix("*.") or not host.strip("*.")):
        raise ValueError(f"bad host in {text!r}")
    return Entry(host, ports, literal)


def _matches(entry: Entry, host: str, port: int) -> bool:
    if port not in entry.ports:
        return False
    if entry.host.startswith("*."):
        return host.endswith(entry.host[1:]) and host != entry.host[2:]
    if entry.literal is not None:
        with contextlib.suppress(ValueError):
            return ipaddress.ip_address(host) == entry.literal
        return False
    return host == entry.host


class Refused(Exception):
    pass


class AllowlistProxy:
    def __init__(self, allow_hosts: Sequence[str]) -> None:
        # Exact names and IPs before wildcards: the most specific entry decides.
        self.entries = sorted((parse_entry(item) for item in allow_hosts), key=lambda e: e.host.startswith("*."))
        self.refused: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def resolve(self, host: str, port: int) -> str:
        """The address to connect to, or Refused."""
        host = host.lower().rstrip(".")
        entry = next((e for e in self.entries if _matches(e, host, port)), None)
        if entry is None:
            raise Refused(f"{host}:{port} is not in the allowlist")
        if entry.literal is not None:
            return str(entry.literal)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            infos = []
        if not infos:
            raise Refused(f"{host} does not resolve")
        address = ipaddress.ip_address(infos[0][4][0])
        if not address.is_global:
            wildcard = entry.host.startswith("*.")
            special = address.is_link_local or address.is_multicast or address.is_unspecified
            if wildcard or special:
                raise Refused(f"{host}:{port} resolves to a non-public address")
        return str(address)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEADER_LIMIT:
                raise Refused("request head too large")
            line, _, headers = head.decode("latin-1").partition("\r\n")
            method, target, version = line.split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                host, port_number = host.strip("[]"), int(port)
            else:
                url = urlsplit(target)
                if url.scheme != "http" or not url.hostname:
                    raise Refused("only absolute http:// URLs and CONNECT are proxied")
                host, port_number = url.hostname, url.port or 80
            try:
                address = await self.resolve(host, port_number)
            except Refused as exc:
                self.refused.append(str(exc))
                await _answer(writer, 403, str(exc))
                return
            try:
                up_reader, upstream_writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port_number), timeout=10
                )
            except (OSError, TimeoutError) as exc:
                await _answer(writer, 502, f"cannot connect to {host}:{port_number}: {type(exc).__name__}")
                return
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                path = url.path or "/"
                if url.query:
                    path += "?" + url.query
                dropped = ("proxy-", "connection:", "keep-alive:")
                kept = [h for h in headers.split("\r\n") if h and not h.lower().startswith(dropped)]
                kept.append("Connection: close")  # one request per connection: the next one is checked again
                upstream_writer.write(f"{method} {path} {version}\r\n".encode("latin-1"))
                upstream_writer.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(up_reader, writer))
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, Refused) as exc:
            with contextlib.suppress(OSError):
                await _answer(writer, 400, f"bad proxy request: {type(exc).__name__}")
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()
            if task is not None:
                self._tasks.discard(task)


async def _answer(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    body = (message + "\n").encode()
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        pass
