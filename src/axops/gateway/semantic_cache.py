"""Semantic answer cache: a chat request that misses the exact cache (cache.py) may still reuse the
answer to an earlier request whose prompt means the same — cosine similarity of their embeddings
(from the route's configured embeddings route) at or above the route's threshold.

Isolation: answers are kept per *partition*, and a lookup only searches its own partition. The key
is a hash of the route, who may share (scope "team": callers with the same set of teams; scope
"key": the API key itself, or the user for a session), the embeddings route, the system prompt and
every request parameter except the messages and `stream`/`stream_options`/`user`. Different teams,
keys, temperatures or system prompts therefore never share an answer.

What is kept is what the exact cache keeps (`cache.entry_from_answer`: the answer text, finish reason,
token counts and cost) plus the prompt's vector; never the prompt text. In process only: every replica
keeps its own index (documented in docs/MONITORING.md). Entries expire after the route's TTL and each
route keeps at most `max_entries` (least recently used evicted).

Index: exact numpy search while a partition is small; past CROSSOVER entries it moves to a usearch
HNSW graph (bench/monitoring/semantic_cache.py measures both)."""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

import aiohttp
import numpy as np
import orjson
from prometheus_client import Counter
from starlette.responses import Response, StreamingResponse

from axops.gateway import cache, transfer
from axops.gateway.call import Call
from axops.gateway.table import RouteEntry, plan

log = logging.getLogger("axops.gateway")

DEFAULTS = {"enabled": False, "embeddings_route": None, "threshold": 0.95, "ttl_s": 3600, "scope": "team"}
DEFAULT_MAX_ENTRIES = 10_000
MAX_TEXT_CHARS = 8_000  # longer prompts are not looked up (embedding models' context; a long prompt rarely repeats)
# Partition size past which the HNSW graph replaces exact search. Unloaded, both take ~0.1 ms at 4k entries of
# dim 384; on a busy machine numpy's multi-threaded BLAS degrades first, so the switch comes early
# (bench/monitoring/semantic_cache.py prints both per size).
CROSSOVER = 1_024
EMBED_TIMEOUT_S = 10.0
_IGNORED = ("messages", "stream", "stream_options", "user")

LOOKUPS = Counter("axops_gateway_semantic_cache_lookups_total", "Semantic cache lookups", ["result"])
HITS, MISSES, ERRORS = LOOKUPS.labels("hit"), LOOKUPS.labels("miss"), LOOKUPS.labels("error")


def settings_of(raw: dict | None) -> dict | None:
    """A route's settings with defaults filled in, or None when the semantic cache is off."""
    if not raw or not raw.get("enabled") or not raw.get("embeddings_route"):
        return None
    return {**DEFAULTS, "max_entries": DEFAULT_MAX_ENTRIES, **raw}


def eligible(body: dict) -> bool:
    """Beyond the exact cache's rules (`cache.cacheable`): no tools, so an answer is plain text."""
    return not (body.get("tools") or body.get("functions") or body.get("tool_choice"))


def _text(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(str(p.get("text", "")) for p in content)
    return None  # images, audio ...: not comparable by a text embedding


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def prompt_of(body: dict) -> tuple[str, str] | None:
    """(the conversation's text to embed, the system prompt) — None when it can't be compared as text."""
    system, turns = [], []
    for m in body.get("messages") or []:
        if (
            not isinstance(m, dict)
            or m.get("tool_calls")
            or m.get("role") not in ("system", "developer", "user", "assistant")
        ):
            return None
        text = _text(m.get("content"))
        if text is None:
            return None
        (system if m["role"] in ("system", "developer") else turns).append(f"{m['role']}: {_normal(text)}")
    joined = "\n".join(turns)
    if not turns or len(joined) > MAX_TEXT_CHARS:
        return None
    return joined, "\n".join(system)


def partition_of(route: RouteEntry, settings: dict, principal, body: dict, system: str) -> str:
    if settings["scope"] == "key" and principal.api_key_id is not None:
        who = f"key:{principal.api_key_id}"
    elif settings["scope"] == "key" or not principal.team_ids:
        who = f"user:{principal.user_id}"
    else:
        who = "teams:" + ",".join(sorted(str(t) for t in principal.team_ids))
    params = {k: v for k, v in body.items() if k not in _IGNORED}
    material = [route.id, who, settings["embeddings_route"], system, params]
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Partition:
    """Unit vectors of one partition: a numpy matrix searched exactly, or an HNSW graph once large."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.matrix = np.empty((16, dim), dtype=np.float32)
        self.ids = np.empty(16, dtype=np.int64)
        self.rows: dict[int, int] = {}  # entry id -> row of the matrix
        self.graph = None  # usearch Index past CROSSOVER

    def __len__(self) -> int:
        return len(self.graph) if self.graph is not None else len(self.rows)

    def add(self, entry_id: int, vector: np.ndarray) -> None:
        if self.graph is not None:
            self.graph.add(entry_id, vector, threads=1)  # one lookup at a time: no thread pool per call
            return
        n = len(self.rows)
        if n == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.empty_like(self.matrix)])
            self.ids = np.concatenate([self.ids, np.empty_like(self.ids)])
        self.matrix[n], self.ids[n], self.rows[entry_id] = vector, entry_id, n
        if n + 1 > CROSSOVER:
            self._to_graph()

    def _to_graph(self) -> None:
        from usearch.index import Index

        n = len(self.rows)
        self.graph = Index(
            ndim=self.dim, metric="ip", dtype="f32", connectivity=16, expansion_add=64, expansion_search=48
        )
        self.graph.add(self.ids[:n].copy(), self.matrix[:n].copy())
        self.matrix, self.ids, self.rows = np.empty((0, self.dim), np.float32), np.empty(0, np.int64), {}

    def remove(self, entry_id: int) -> None:
        if self.graph is not None:
            self.graph.remove(entry_id)
            return
        row = self.rows.pop(entry_id, None)
        if row is None:
            return
        last = len(self.rows)  # the last row moves into the hole
        if row != last:
            moved = int(self.ids[last])
            self.matrix[row], self.ids[row], self.rows[moved] = self.matrix[last], moved, row

    def nearest(self, vector: np.ndarray) -> tuple[int, float] | None:
        if self.graph is not None:
            if not len(self.graph):
                return None
            found = self.graph.search(vector, 1, threads=1)
            if not len(found.keys):
                return None
            return int(found.keys[0]), 1.0 - float(found.distances[0])
        n = len(self.rows)
        if not n:
            return None
        scores = self.matrix[:n] @ vector
        best = int(np.argmax(scores))
        return int(self.ids[best]), float(scores[best])


@dataclass
class Lookup:
    """A lookup's outcome: the hit (entry and similarity) or, on a miss, what storing the answer needs."""

    route_id: str
    partition: str
    vector: np.ndarray
    ttl_s: int
    max_entries: int
    entry: dict | None = None
    similarity: float = 0.0


class SemanticCache:
    """The in-process index: partitions of unit vectors, entries with expiry and a per-route LRU."""

    def __init__(self) -> None:
        self.partitions: dict[str, Partition] = {}
        self.entries: dict[int, tuple[float, str, str, dict]] = {}  # id -> (expires, route, partition, entry)
        self.lru: dict[str, OrderedDict[int, None]] = {}  # route id -> its entry ids, least recent first
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, partition: str, vector: np.ndarray, threshold: float) -> tuple[dict, float] | None:
        part = self.partitions.get(partition)
        if part is None or part.dim != len(vector):
            return None
        now = time.monotonic()
        for _ in range(8):  # expired neighbours are dropped and the search runs again
            found = part.nearest(vector)
            if found is None:
                return None
            entry_id, similarity = found
            item = self.entries.get(entry_id)
            if item is None or item[0] < now:
                self._drop(entry_id, part)
                continue
            if similarity < threshold:
                return None
            self.lru[item[1]].move_to_end(entry_id)
            return item[3], similarity
        return None

    def store(
        self, route_id: str, partition: str, vector: np.ndarray, entry: dict, ttl_s: int, max_entries: int
    ) -> None:
        part = self.partitions.get(partition)
        if part is None or part.dim != len(vector):  # new, or the embeddings model changed its dimension
            if part is not None:
                for entry_id in [i for i, e in self.entries.items() if e[2] == partition]:
                    self._drop(entry_id, part)
            part = self.partitions[partition] = Partition(len(vector))
        entry_id = next(self._ids)
        self.entries[entry_id] = (time.monotonic() + ttl_s, route_id, partition, entry)
        part.add(entry_id, vector)
        order = self.lru.setdefault(route_id, OrderedDict())
        order[entry_id] = None
        now = time.monotonic()
        while order:
            oldest = next(iter(order))
            if len(order) <= max_entries and self.entries[oldest][0] >= now:
                break
            self._drop(oldest)

    def _drop(self, entry_id: int, part: Partition | None = None) -> None:
        item = self.entries.pop(entry_id, None)
        if item is None:
            if part is not None:
                part.remove(entry_id)
            return
        _, route_id, partition, _ = item
        self.lru.get(route_id, {}).pop(entry_id, None)
        part = part or self.partitions.get(partition)
        if part is not None:
            part.remove(entry_id)
            if not len(part):
                self.partitions.pop(partition, None)

    def clear_route(self, route_id: str) -> None:
        for entry_id in list(self.lru.pop(route_id, {})):
            self._drop(entry_id)


def unit(vector) -> np.ndarray | None:
    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if v.ndim == 1 and norm > 0 and np.isfinite(norm) else None


async def embed(gw, principal, route_name: str, text: str) -> np.ndarray | None:
    """The prompt's unit vector from the embeddings route, called like a client's /v1/embeddings (its
    targets in order, one pass, a short deadline) and recorded as the caller's usage. None if it fails."""
    route = gw.table.routes.get(route_name)
    if route is None:
        return None
    access = await transfer.admit(gw, principal, route)  # access policies: as a client's own call
    if isinstance(access, transfer.Refusal):
        return None
    body = {"model": route_name, "input": text}
    call = Call(gw, principal, "embeddings", route_name, False, [], 0, body)
    last = "no upstream serves embeddings for this route"
    for target in plan(route):
        up = target.upstream
        if up.external and not access.external_ok(body, "embeddings"):  # the prompt may not leave
            continue
        url = up.urls.get("embeddings")
        if url is None:
            continue
        call.attempts += 1
        call.target = target
        up.in_flight += 1
        try:
            timeout = aiohttp.ClientTimeout(total=min(up.timeout_s, EMBED_TIMEOUT_S))
            async with gw.client.post(
                url, data=orjson.dumps(up.adapter.body(body, up)), headers=up.headers, timeout=timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    if response.status >= 500:
                        up.failed("status", response.status)
                    last = f"{up.key} answered {response.status}"
                    continue
            data = orjson.loads(raw)
            vector = unit(data["data"][0]["embedding"])
            if vector is None:
                raise ValueError("not a vector")
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError, KeyError, IndexError) as exc:
            up.failed(
                "invalid_answer" if isinstance(exc, ValueError | TypeError | KeyError | IndexError) else "connect"
            )
            last = f"{up.key}: {type(exc).__name__}"
            continue
        finally:
            up.in_flight -= 1
        up.succeeded(call.elapsed_ms())
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        call.record(200, None, (int(usage.get("prompt_tokens") or 0), 0))
        return vector
    call.record(502, last)
    return None


async def lookup(gw, principal, route: RouteEntry, body: dict) -> Lookup | None:
    """On an enabled route for an eligible request: the embedding and the nearest neighbour in the
    caller's partition. None when the semantic cache does not apply or the embedding failed."""
    settings = settings_of(route.semantic)
    if settings is None or not eligible(body):
        return None
    prompt = prompt_of(body)
    if prompt is None:
        return None
    vector = await embed(gw, principal, settings["embeddings_route"], prompt[0])
    if vector is None:
        ERRORS.inc()
        return None
    found = Lookup(
        route.id,
        partition_of(route, settings, principal, body, prompt[1]),
        vector,
        int(settings["ttl_s"]),
        int(settings["max_entries"]),
    )
    hit = gw.semantic.search(found.partition, vector, float(settings["threshold"]))
    if hit is not None:
        HITS.inc()
        found.entry, found.similarity = hit
    else:
        MISSES.inc()
    return found


def remember(gw, found: Lookup | None, entry: dict | None) -> None:
    """Keep an upstream's answer for later lookups (entry as `cache.entry_from_answer` makes it)."""
    if found is not None and entry is not None:
        gw.semantic.store(found.route_id, found.partition, found.vector, entry, found.ttl_s, found.max_entries)


def replay(call: Call, found: Lookup) -> Response:
    """A hit: the earlier answer, as JSON or as a stream like an exact hit, recorded as `semantic`."""
    hit, body = found.entry, call.body
    call.record(
        200,
        None,
        (hit["prompt_tokens"], hit["completion_tokens"]),
        cache="semantic",
        saved_cost=hit["cost"],
        text=hit["content"],
    )
    headers = {
        "x-axops-cache": "semantic-hit",
        "x-axops-cache-similarity": f"{found.similarity:.4f}",
        "x-axops-cost": "0.0",
    }
    if call.stream:
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = cache.as_stream(hit, call.model, with_usage)
        return StreamingResponse(iter(chunks), media_type="text/event-stream", headers=headers)
    return Response(cache.as_answer(hit, call.model), media_type="application/json", headers=headers)
