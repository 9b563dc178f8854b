"""Access policies on the `/v1` path (axops.policy): a call rule refusing the route answers 403
`policy_denied`; requests that may not leave the organisation — the team or key has external
transfer forbidden, or the prompt carries personal data — skip external providers' targets and are
served by an internal one, or refused with 403 `external_transfer_refused` when the route has none.

The prompt is scanned only when an external target is about to be used (and once per request):
routes served internally never pay for it. The policy snapshot is held in memory (policy/cache.py),
so this adds no database round trip."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple
from urllib.parse import urlsplit

from axops import pii
from axops.pii.scanner import RESTRICTED_ENTITIES
from axops.policy import cache as policy_cache

# What must not leak: the identifiers, contact data, addresses — and person names (issue 18: any
# personal data keeps a request internal). Names need the name detector, which is why the scan runs
# only when an external target is about to be used.
_ENTITIES = frozenset(RESTRICTED_ENTITIES | {pii.PHONE, pii.EMAIL, pii.ADDRESS_KR, pii.PERSON})


_INTERNAL_SUFFIXES = (".local", ".internal", ".lan", ".svc", ".localdomain")


def internal_address(base_url: str) -> bool:
    """A provider's default `external` flag when the admin gives none: a loopback, private or
    link-local address, `localhost`, a single-label or .local/.internal/.lan/.svc host is internal."""
    host = (urlsplit(base_url).hostname or "").lower()
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(_INTERNAL_SUFFIXES)
    return ip.is_private or ip.is_loopback or ip.is_link_local


class Refusal(NamedTuple):
    status: int
    message: str
    code: str


def _texts(body: dict, endpoint: str):
    if endpoint == "chat":
        for message in body.get("messages") or ():
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                yield content
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield part["text"]
    else:
        value = body.get("prompt" if endpoint == "completions" else "input")
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, str):
                yield item


def carries_pii(body: dict, endpoint: str) -> bool:
    return any(pii.scan(t, _ENTITIES) for t in _texts(body, endpoint) if t)


class Guard:
    """Whether this request may go to an external target, decided on first need (once)."""

    __slots__ = ("_ok", "principal", "skipped", "snapshot")

    def __init__(self, snapshot: policy_cache.Snapshot, principal) -> None:
        self.snapshot, self.principal = snapshot, principal
        self._ok: bool | None = None
        self.skipped = 0  # external targets passed over

    def external_ok(self, body: dict, endpoint: str) -> bool:
        if self._ok is None:
            self._ok = not self.snapshot.no_external(self.principal) and not carries_pii(body, endpoint)
        if not self._ok:
            self.skipped += 1
        return self._ok


async def admit(gw, principal, route) -> Refusal | Guard:
    snapshot = await policy_cache.policies.get(gw.db.sessionmaker)
    if snapshot.denied_by(principal, "call", route.model_name) is not None:
        return Refusal(403, f"An access policy does not let you call '{route.model_name}'.", "policy_denied")
    return Guard(snapshot, principal)


async def admit_internal(gw, principal) -> Guard:
    """The transfer guard alone, for calls the gateway makes on a caller's behalf (guard models)."""
    return Guard(await policy_cache.policies.get(gw.db.sessionmaker), principal)


async def callable_names(gw, principal, names: list[str]) -> list[str]:
    """The route names an access policy lets this caller call (for /v1/models)."""
    snapshot = await policy_cache.policies.get(gw.db.sessionmaker)
    return [n for n in names if snapshot.denied_by(principal, "call", n) is None]


def refused_transfer(model: str) -> Refusal:
    """Every target the request could use is external and it may not leave the organisation."""
    return Refusal(
        403,
        f"This request may not be sent outside the organisation, and '{model}' has no internal target that "
        "could answer (personal data in the prompt, or external transfer is forbidden for your team or key).",
        "external_transfer_refused",
    )
