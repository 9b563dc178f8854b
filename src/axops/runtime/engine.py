"""Continuous batching over a Hugging Face causal LM.

One engine thread owns the model. Requests wait in a bounded priority queue; between decode
steps the engine admits waiting ones (up to `max_batch` running), prefills them together and
merges their key/value cache into the running batch, so sequences join and leave between steps:
whatever arrived while a step ran is gathered into the next one. `batch_window_s` (default 0)
makes an idle engine wait that long for company before a prefill: fewer prefill passes under
bursts, at the price of that much time to first token — and of the scheduler's wake-up latency
on a loaded machine, which measured here was far more than the window itself.

The running batch is left-padded: every layer's cache is `[batch, heads, length, head_dim]`,
with a `[batch, length]` attention mask marking the padding, and positions counted from the mask
(as `generate` does for left-padded batches). A finished or cancelled sequence is dropped from
the batch at the next step; columns that became padding for every row are trimmed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("axops.runtime")

QUEUE_DEPTH = Gauge("axops_runtime_queue_depth", "Requests waiting for a batch slot")
RUNNING = Gauge("axops_runtime_running", "Sequences in the running batch")
LOAD = Gauge("axops_runtime_load", "Queued + running requests: the autoscaling signal (HPA custom metric)")
BATCH_SIZE = Histogram("axops_runtime_batch_size", "Sequences per decode step", buckets=(1, 2, 4, 8, 16, 32, 64, 128))
FORWARD_PASSES = Counter("axops_runtime_forward_passes_total", "Model forward passes", ["kind"])
TTFT = Histogram(
    "axops_runtime_ttft_seconds",
    "Time from arrival to the first token",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TPOT = Histogram(
    "axops_runtime_time_per_output_token_seconds",
    "Time between output tokens of one sequence",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
TOKENS = Counter("axops_runtime_tokens_total", "Tokens processed", ["kind"])
ERRORS = Counter("axops_runtime_errors_total", "Requests that ended in an error", ["reason"])


class QueueFull(Exception):
    pass


class Draining(Exception):
    pass


@dataclass
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Event:
    """What a request's stream receives: text deltas, then one final event."""

    text: str = ""
    finish_reason: str | None = None  # stop | length | cancelled | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class Sequence:
    """One request inside the engine."""

    _ids = itertools.count()

    def __init__(
        self, prompt_ids: list[int], sampling: Sampling, priority: int, deliver: Callable[[Event], None]
    ) -> None:
        self.id = next(self._ids)
        self.prompt_ids = prompt_ids
        self.sampling = sampling
        self.priority = priority
        self.deliver = deliver
        self.arrived = time.perf_counter()
        self.last_token_at: float | None = None
        self.generated: list[int] = []
        self.cancelled = False
        self.finished: str | None = None
        self.generator = torch.Generator().manual_seed(sampling.seed) if sampling.seed is not None else None
        # incremental detokenising (byte-level BPE splits characters across tokens)
        self._prefix_offset = 0
        self._read_offset = 0
        self._text = ""
        self._sent = 0

    def cancel(self) -> None:
        self.cancelled = True


class Engine:
    def __init__(
        self,
        model,
        tokenizer,
        *,
        max_batch: int = 16,
        batch_window_s: float = 0.0,
        max_queue: int = 256,
        max_context: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self.max_queue = max_queue
        self.max_context = max_context or _context_of(model, tokenizer)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (min(self.eos_ids) if self.eos_ids else 0)
        )
        self.draining = False
        self.steps = 0  # decode steps with at least one sequence (what batching saves)
        self._waiting: list[tuple[int, int, Sequence]] = []
        self._running: list[Sequence] = []
        self._jobs: list[tuple[Callable[[], object], Future]] = []
        self._outbox: list[tuple[Callable[[Event], None], Event]] = []  # handed over once per step
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        # the running batch's state
        self._cache = None
        self._mask: torch.Tensor | None = None
        self._last: torch.Tensor | None = None

    # -- called from the server's event loop --------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="axops-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=10)

    def submit(self, seq: Sequence) -> None:
        with self._cv:
            if self.draining:
                raise Draining
            if len(self._waiting) >= self.max_queue:
                raise QueueFull
            heapq.heappush(self._waiting, (-seq.priority, seq.id, seq))
            QUEUE_DEPTH.set(len(self._waiting))
            LOAD.set(len(self._waiting) + len(self._running))
            self._cv.notify_all()

    def run_exclusive(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the engine thread between steps (embeddings share the model this way)."""
        future: Future = Future()
        with self._cv:
            self._jobs.append((fn, future))
            self._cv.notify_all()
        return future

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def idle(self) -> bool:
        return not self._waiting and not self._running and not self._jobs

    # -- the engine thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not (self._stop or self._waiting or self._running or self._jobs):
                    self._cv.wait()
                if self._stop:
                    return
                if self.batch_window_s and not self._running and self._waiting and len(self._waiting) < self.max_batch:
                    # idle: give concurrent arrivals a moment to share the first forward pass
                    self._cv.wait_for(
                        lambda: len(self._waiting) >= self.max_batch or self._stop, timeout=self.batch_window_s
                    )
                jobs, self._jobs = self._jobs, []
                room = self.max_batch - len(self._running)
                joining = [heapq.heappop(self._waiting)[2] for _ in range(min(room, len(self._waiting)))]
                QUEUE_DEPTH.set(len(self._waiting))
            for fn, future in jobs:
                try:
                    future.set_result(fn())
                except Exception as exc:
                    future.set_exception(exc)
            try:
                joining = [s for s in joining if not self._drop_if_cancelled(s)]
                if joining:
                    self._prefill(joining)
                if self._running:
                    self._decode()
            except Exception as exc:  # a failed step fails its batch, not the process
                log.exception("engine.step_failed")
                for seq in self._running + joining:
                    if not seq.finished:
                        self._finish(seq, "error", error=f"generation failed: {exc}")
                self._running, self._cache, self._mask, self._last = [], None, None, None
            self._flush()
            RUNNING.set(len(self._running))
            LOAD.set(len(self._waiting) + len(self._running))

    def _flush(self) -> None:
        """Hand a step's events over: one wake-up per event loop, not one per token."""
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for deliver, event in outbox:
            if isinstance(deliver, LoopQueue):
                by_loop.setdefault(deliver.loop, []).append((deliver.queue, event))
            else:
                deliver(event)
        for loop, items in by_loop.items():
            loop.call_soon_threadsafe(_put_all, items)

    def _drop_if_cancelled(self, seq: Sequence) -> bool:
        if seq.cancelled:
            self._finish(seq, "cancelled")
            return True
        return False

    @torch.inference_mode()
    def _prefill(self, seqs: list[Sequence]) -> None:
        from transformers import DynamicCache

        width = max(len(s.prompt_ids) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, width - len(s.prompt_ids) :] = torch.tensor(s.prompt_ids)
            mask[row, width - len(s.prompt_ids) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1
        )
        FORWARD_PASSES.labels("prefill").inc()
        TOKENS.labels("prompt").inc(int(mask.sum()))
        tokens = self._sample(out.logits[:, -1, :], seqs)
        self._merge(seqs, cache, mask, tokens)
        self._emit(seqs, tokens)

    def _merge(self, seqs: list[Sequence], cache, mask: torch.Tensor, tokens: torch.Tensor) -> None:
        """Append freshly prefilled sequences to the running batch (left-padding the shorter side)."""
        if self._cache is None:
            self._cache, self._mask, self._last, self._running = cache, mask, tokens, list(seqs)
            return
        old_len, new_len = self._mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)
        for mine, theirs in zip(self._cache.layers, cache.layers, strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, width, 2), _left_pad(theirs.keys, width, 2)], dim=0)
            mine.values = torch.cat([_left_pad(mine.values, width, 2), _left_pad(theirs.values, width, 2)], dim=0)
        self._mask = torch.cat([_left_pad(self._mask, width, 1), _left_pad(mask, width, 1)], dim=0)
        self._last = torch.cat([self._last, tokens], dim=0)
        self._running += seqs

    @torch.inference_mode()
    def _decode(self) -> None:
        # sequences that finished on their last token (or were cancelled) leave first
        keep = [i for i, s in enumerate(self._running) if not s.finished and not self._drop_if_cancelled(s)]
        if len(keep) < len(self._running):
            self._select(keep)
        if not self._running:
            return
        positions = self._mask.sum(-1, keepdim=True)
        self._mask = torch.cat(
            [self._mask, torch.ones((self._mask.shape[0], 1), dtype=self._mask.dtype, device=self.device)], dim=1
        )
        out = self.model(
            input_ids=self._last.view(-1, 1),
            attention_mask=self._mask,
            position_ids=positions,
            cache=self._cache,
            use_cache=True,
        )  # the cache grows in place
        self.steps += 1
        FORWARD_PASSES.labels("decode").inc()
        BATCH_SIZE.observe(len(self._running))
        tokens = self._sample(out.logits[:, -1, :], self._running)
        self._last = tokens
        self._emit(self._running, tokens)
        keep = [i for i, s in enumerate(self._running) if not s.finished]
        if len(keep) < len(self._running):
            self._select(keep)

    def _select(self, keep: list[int]) -> None:
        if not keep:
            self._running, self._cache, self._mask, self._last = [], None, None, None
            return
        index = torch.tensor(keep, device=self.device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        self._last = self._last[index]
        self._running = [self._running[i] for i in keep]
        used = self._mask.any(dim=0).nonzero()
        cut = int(used[0]) if len(used) else 0
        if cut:  # columns that are padding in every remaining row
            self._mask = self._mask[:, cut:]
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[:, :, cut:, :], layer.values[:, :, cut:, :]

    def _sample(self, logits: torch.Tensor, seqs: list[Sequence]) -> torch.Tensor:
        logits = logits.float()
        if not torch.isfinite(logits).all():  # broken weights: fail the requests rather than emit noise
            raise ValueError("the model produced non-finite logits (NaN or inf)")
        tokens = logits.argmax(dim=-1)
        for row, s in enumerate(seqs):
            if s.sampling.temperature <= 0:
                continue
            probs = torch.softmax(logits[row] / s.sampling.temperature, dim=-1)
            if s.sampling.top_p < 1.0:
                ordered, order = probs.sort(descending=True)
                outside = ordered.cumsum(-1) - ordered > s.sampling.top_p
                ordered[outside] = 0.0
                probs = torch.zeros_like(probs).scatter_(0, order, ordered)
            tokens[row] = torch.multinomial(probs.cpu(), 1, generator=s.generator).to(tokens.device)[0]
        return tokens

    def _emit(self, seqs: list[Sequence], tokens: torch.Tensor) -> None:
        now = time.perf_counter()
        for s, token in zip(seqs, tokens.tolist(), strict=True):
            if s.finished:
                continue
            if s.last_token_at is None:
                TTFT.observe(now - s.arrived)
            else:
                TPOT.observe(now - s.last_token_at)
            s.last_token_at = now
            if token in self.eos_ids:
                self._finish(s, "stop")
                continue
            s.generated.append(token)
            TOKENS.labels("completion").inc()
            delta, stopped = self._detokenize(s)
            if delta:
                self._outbox.append((s.deliver, Event(text=delta)))
            if stopped:
                self._finish(s, "stop", flush=False)
            elif len(s.generated) >= s.sampling.max_tokens or len(s.prompt_ids) + len(s.generated) >= self.max_context:
                self._finish(s, "length")

    def _detokenize(self, s: Sequence) -> tuple[str, bool]:
        """The text that became final with the last token, and whether a stop string was met.
        Text that could be the start of a stop string is held back until it can't be."""
        before = self.tokenizer.decode(s.generated[s._prefix_offset : s._read_offset], skip_special_tokens=True)
        now = self.tokenizer.decode(s.generated[s._prefix_offset :], skip_special_tokens=True)
        if len(now) > len(before) and not now.endswith("\ufffd"):
            s._text += now[len(before) :]
            s._prefix_offset, s._read_offset = s._read_offset, len(s.generated)
        for stop in s.sampling.stop:
            at = s._text.find(stop, max(0, s._sent - len(stop)))
            if at >= 0:
                s._text = s._text[:at]
                delta, s._sent = s._text[s._sent :], len(s._text)
                return delta, True
        hold = max((len(x) - 1 for x in s.sampling.stop), default=0)
        upto = max(s._sent, len(s._text) - hold)
        delta, s._sent = s._text[s._sent : upto], upto
        return delta, False

    def _finish(self, s: Sequence, reason: str, error: str | None = None, flush: bool = True) -> None:
        s.finished = reason
        tail = s._text[s._sent :] if flush and reason in ("stop", "length") else ""
        s._sent = len(s._text)
        if reason == "error":
            ERRORS.labels("generation").inc()
        self._outbox.append(
            (
                s.deliver,
                Event(
                    text=tail,
                    finish_reason=reason,
                    prompt_tokens=len(s.prompt_ids),
                    completion_tokens=len(s.generated),
                    error=error,
                ),
            )
        )


def _left_pad(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)


def _context_of(model, tokenizer) -> int:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else 2048


def _eos_ids(model, tokenizer) -> set[int]:
    ids = set()
    for value in (
        getattr(model.generation_config, "eos_token_id", None),
        getattr(model.config, "eos_token_id", None),
        tokenizer.eos_token_id,
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    return ids


class LoopQueue:
    """Where a sequence's events go: an asyncio queue on its event loop (the engine batches the hand-over)."""

    __slots__ = ("loop", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        self.loop, self.queue = loop, queue

    def __call__(self, event: Event) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)


def _put_all(items: list[tuple[asyncio.Queue, Event]]) -> None:
    for queue, event in items:
        queue.put_nowait(event)


def deliver_to(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> LoopQueue:
    return LoopQueue(loop, queue)
