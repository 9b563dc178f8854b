"""Semantic cache lookup at scale (issue 17 target: p50 <= 2 ms at 100k cached entries).

Fills one partition (the worst case: every entry of a route in one team's partition) of the gateway's
own index (axops.gateway.semantic_cache.SemanticCache: exact numpy search up to CROSSOVER entries, then
a usearch HNSW graph) with N unit vectors, then times lookups of near-duplicates of stored prompts (what
a paraphrase looks like) and of unrelated prompts (misses). Baseline: exact numpy search over the same
matrix. Also measures where HNSW overtakes exact search (the CROSSOVER constant) and recall@1.

    .venv/bin/python bench/monitoring/semantic_cache.py [--entries 100000] [--dim 384] [--queries 2000]

Prints the figures and one JSON line (for the README)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from axops.gateway import semantic_cache as sc


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit_rows(rng, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def timed(fn, queries) -> list[float]:
    out = []
    for q in queries:
        started = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - started) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def crossover(rng, dim: int) -> list[dict]:
    """Per partition size: exact numpy search vs the HNSW graph, p50 of 300 lookups each."""
    from usearch.index import Index

    rows = []
    for n in (512, 1024, 2048, 4096, 8192, 16384):
        data = unit_rows(rng, n, dim)
        queries = data[rng.integers(0, n, 300)]
        graph = Index(ndim=dim, metric="ip", dtype="f32", connectivity=16, expansion_add=64, expansion_search=48)
        graph.add(np.arange(n), data)
        exact = statistics.median(timed(lambda q, m=data: int(np.argmax(m @ q)), queries))
        hnsw = statistics.median(timed(lambda q, g=graph: g.search(q, 1), queries))
        rows.append({"entries": n, "exact_p50_ms": round(exact, 4), "hnsw_p50_ms": round(hnsw, 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--inserts", type=int, default=2_000, help="inserts timed through store() at full size")
    args = parser.parse_args()
    rng = np.random.default_rng(17)
    n, dim = args.entries, args.dim
    data = unit_rows(rng, n, dim)
    entry = {
        "content": "cached answer",
        "finish_reason": "stop",
        "cost": 0.001,
        "prompt_tokens": 20,
        "completion_tokens": 50,
    }

    before = rss_mb()
    cache = sc.SemanticCache()
    # The first entries through store() (exact search, then the switch to the graph); the bulk of the fill is
    # added in one batch (as store() would leave it, only faster); the insert rate is then measured through
    # store() at full size.
    measured = min(args.inserts, n // 2)
    bulk_until = n - measured
    for i in range(sc.CROSSOVER + 1):
        cache.store("route", "partition", data[i], entry, 3600, n)
    part = cache.partitions["partition"]
    first_id = next(cache._ids)
    ids = np.arange(first_id, first_id + bulk_until - sc.CROSSOVER - 1)
    part.graph.add(ids, data[sc.CROSSOVER + 1 : bulk_until])
    expires = time.monotonic() + 3600
    for entry_id in ids.tolist():
        cache.entries[entry_id] = (expires, "route", "partition", entry)
        cache.lru["route"][entry_id] = None
    cache._ids = iter(range(int(ids[-1]) + 1, 1 << 62))
    started = time.perf_counter()
    for i in range(bulk_until, n):
        cache.store("route", "partition", data[i], entry, 3600, n)
    insert_s = time.perf_counter() - started
    memory = rss_mb() - before

    # Hits: a stored prompt's vector nudged (cosine ~0.98); misses: fresh random vectors.
    picks = rng.integers(0, n, args.queries)
    noise = unit_rows(rng, args.queries, dim) * 0.2
    near = data[picks] + noise
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    far = unit_rows(rng, args.queries, dim)
    found = []
    hit_ms = timed(lambda q: found.append(cache.search("partition", q, 0.95)), near)
    miss_ms = timed(lambda q: cache.search("partition", q, 0.95), far)
    exact_ms = timed(lambda q: int(np.argmax(data @ q)), near[:500])
    hits = sum(f is not None for f in found)
    exact_best = np.argmax(near @ data.T, axis=1)
    graph = cache.partitions["partition"].graph
    recall = float(
        np.mean([int(graph.search(q, 1).keys[0]) - 1 == int(b) for q, b in zip(near, exact_best, strict=True)])
    )

    figures = {
        "entries": n,
        "dim": dim,
        "insert_per_s": round(measured / insert_s),
        "memory_mb": round(memory, 1),
        "hit_p50_ms": round(pct(hit_ms, 50), 4),
        "hit_p99_ms": round(pct(hit_ms, 99), 4),
        "miss_p50_ms": round(pct(miss_ms, 50), 4),
        "miss_p99_ms": round(pct(miss_ms, 99), 4),
        "exact_numpy_p50_ms": round(pct(exact_ms, 50), 4),
        "exact_numpy_p99_ms": round(pct(exact_ms, 99), 4),
        "speedup_vs_exact_p50": round(pct(exact_ms, 50) / pct(hit_ms, 50), 1),
        "hit_rate_of_near_duplicates": round(hits / len(near), 4),
        "recall_at_1": round(recall, 4),
        "crossover": crossover(rng, dim),
    }
    print(
        f"semantic cache, {n:,} entries of dim {dim} in one partition (CROSSOVER={sc.CROSSOVER}; inserts timed: {measured:,})"
    )
    print(f"  insert: {figures['insert_per_s']:,}/s  memory: {figures['memory_mb']} MB (RSS growth)")
    print(f"  lookup (hit):  p50 {figures['hit_p50_ms']} ms  p99 {figures['hit_p99_ms']} ms  [target p50 <= 2 ms]")
    print(f"  lookup (miss): p50 {figures['miss_p50_ms']} ms  p99 {figures['miss_p99_ms']} ms")
    print(
        f"  exact numpy:   p50 {figures['exact_numpy_p50_ms']} ms  p99 {figures['exact_numpy_p99_ms']} ms  "
        f"({figures['speedup_vs_exact_p50']}x slower than the index)"
    )
    print(
        f"  near-duplicates found: {figures['hit_rate_of_near_duplicates']:.2%}  recall@1: {figures['recall_at_1']:.2%}"
    )
    for row in figures["crossover"]:
        print(f"  {row['entries']:>6} entries: exact {row['exact_p50_ms']} ms  hnsw {row['hnsw_p50_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
