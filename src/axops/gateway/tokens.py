"""Token counts for answers whose upstream reported no `usage` (a non-streamed answer without it, a
stream that never sent a usage chunk).

Each target names its tokenizer (`tokenizer` in its spec), or one is guessed from the upstream's
model name: an OpenAI BPE encoding (`o200k_base`, `cl100k_base`, ...: the `bpe-openai` package,
whose tables are embedded, since tiktoken downloads its files on first use) or a `tokenizer.json`
of a model version in the registry (`name@alias`, `name:3`; the `tokenizers` library). Tokenizers
are loaded once per process, in the background when the route table loads; counting happens in a
worker thread, in batches, after the answer has gone to the client."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from axops.auth.scoping import SYSTEM
from axops.core.logging import event

log = logging.getLogger("axops.gateway")

ENCODINGS = ("o200k_base", "cl100k_base", "p50k_base", "p50k_edit", "r50k_base", "gpt2")
# `name@alias` (or `name@latest`) or `name:3` / `name:v3`: a model version in the registry.
REGISTRY_REF = re.compile(r"^(?P<name>.+?)(?:@(?P<alias>[a-z][a-z0-9_-]{0,63})|:v?(?P<version>\d+))$")
_O200K = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)([-.:_].*)?$")
_CL100K = re.compile(r"^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3-(small|large)|text-embedding-ada-002)([-.:_].*)?$")
_P50K = re.compile(r"^(text-davinci-00[23]|code-davinci-00[12]|code-cushman-00[12])$")
# Chat framing, as OpenAI documents it: every message costs 3 tokens beyond its fields (a name 1
# more), and every reply is primed with 3.
PER_MESSAGE, PER_NAME, PER_REPLY = 3, 1, 3


def guess(model: str) -> str | None:
    """The OpenAI encoding of an OpenAI-looking upstream model name (`gpt-4o-mini`, `openai/gpt-4`,
    `ft:gpt-4o:org::id`); None for anything else."""
    name = model.lower().rsplit("/", 1)[-1].removeprefix("ft:")
    if _O200K.match(name):
        return "o200k_base"
    if _CL100K.match(name):
        return "cl100k_base"
    if _P50K.match(name):
        return "p50k_base"
    return "gpt2" if name == "gpt2" else None


def parse_ref(spec: str) -> tuple[str, str] | None:
    """(model name, version reference for the registry's resolve) of `name@alias` / `name:3`."""
    m = REGISTRY_REF.match(spec)
    if m is None:
        return None
    return m["name"], m["alias"] or m["version"]


class _Bpe:
    def __init__(self, name: str) -> None:
        import bpe_openai

        self.encoding = bpe_openai.get_encoding(name)

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))


class _HuggingFace:
    def __init__(self, tokenizer_json: bytes) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer_json.decode())

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)


# --- counting (pure; runs in a worker thread) --------------------------------------------------


def _field(tok, key: str, value) -> int:
    """One field of a message: text; content parts (text counted, images and audio not estimated);
    tool calls and the like as the JSON the model sees."""
    if isinstance(value, str):
        return tok.count(value)
    if value is None or isinstance(value, (bool, int, float)):
        return 0
    if key == "content" and isinstance(value, list):
        return sum(tok.count(p["text"]) for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
    return tok.count(orjson.dumps(value).decode())


def _inputs(tok, value) -> int:
    """A completions prompt or an embeddings input: text, texts, token ids or lists of token ids."""
    if isinstance(value, str):
        return tok.count(value)
    if not isinstance(value, list):
        return 0
    return sum(
        tok.count(v) if isinstance(v, str) else len(v) if isinstance(v, list) else 1 if isinstance(v, int) else 0
        for v in value
    )


def count_prompt(tok, endpoint: str, body: dict) -> int:
    if endpoint != "chat":
        return _inputs(tok, body.get("prompt") if endpoint == "completions" else body.get("input"))
    n = PER_REPLY
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            n += PER_MESSAGE + sum(_field(tok, k, v) + (PER_NAME if k == "name" else 0) for k, v in message.items())
    if body.get("tools"):
        n += tok.count(orjson.dumps(body["tools"]).decode())
    return n


def _generated(choice: dict) -> tuple:
    """What a choice (or a stream's delta) generated: content, completion text, tool calls, function call."""
    message = choice.get("message") or choice.get("delta") or {}
    return message.get("content"), choice.get("text"), message.get("tool_calls"), message.get("function_call")


def count_completion(tok, endpoint: str, answer) -> int:
    """The completion of a JSON answer (a dict), or of a stream (its `data:` lines)."""
    if endpoint == "embeddings":
        return 0
    if isinstance(answer, dict):
        return sum(
            _field(tok, key, part)
            for choice in answer.get("choices") or ()
            for key, part in zip(("content", "text", "tool_calls", "function_call"), _generated(choice), strict=True)
        )
    texts: dict[int, list[str]] = {}  # per choice: the pieces joined before counting (BPE merges across them)
    calls: dict[int, list] = {}
    for line in answer:
        if not line.startswith(b"data: {"):
            continue
        try:
            chunk = orjson.loads(line[6:])
        except orjson.JSONDecodeError:
            continue
        for choice in chunk.get("choices") or ():
            content, text, tool_calls, function_call = _generated(choice)
            index = choice.get("index", 0)
            texts.setdefault(index, []).extend(p for p in (content, text) if isinstance(p, str))
            if tool_calls or function_call:
                calls.setdefault(index, []).append(tool_calls or function_call)
    return sum(tok.count("".join(parts)) for parts in texts.values()) + sum(
        _field(tok, "tool_calls", c) for c in calls.values()
    )


# --- loading and the counting worker -----------------------------------------------------------


class Tokenizers:
    """Tokenizers by spec, each loaded once per process in the background (a failed load is tried
    again when the route table next loads)."""

    def __init__(self, db, storage) -> None:
        self.db, self.storage = db, storage
        self._loads: dict[str, asyncio.Task] = {}

    def prepare(self, spec: str) -> None:
        task = self._loads.get(spec)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            self._loads[spec] = task = asyncio.create_task(self._load(spec))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # failures are logged in _load

    async def get(self, spec: str):
        """The loaded tokenizer, or None when it cannot be had (the reason was logged)."""
        self.prepare(spec)
        try:
            return await asyncio.shield(self._loads[spec])
        except Exception:
            return None

    async def _load(self, spec: str):
        try:
            if spec in ENCODINGS:
                return await asyncio.to_thread(_Bpe, spec)
            ref = parse_ref(spec)
            if ref is None:
                raise LookupError(f"not an encoding name nor a registry reference: {spec!r}")
            from axops.registry import service as registry

            async with self.db.sessionmaker() as session:
                _, version = await registry.resolve(session, SYSTEM, *ref)
                files = {f.path: f for f in await registry.version_files(session, version.id)}
            if "tokenizer.json" not in files:
                raise LookupError(f"{ref[0]} v{version.version} has no tokenizer.json")
            return await asyncio.to_thread(
                _HuggingFace, await self.storage.get_bytes(files["tokenizer.json"].storage_key)
            )
        except Exception as exc:
            event(
                log,
                "gateway.tokenizer_unavailable",
                logging.WARNING,
                tokenizer=spec,
                error=f"{type(exc).__name__}: {exc}",
            )
            raise


@dataclass
class _Job:
    spec: str
    endpoint: str
    body: dict
    answer: dict | list[bytes]
    done: Callable[[tuple[int, int] | None], None]


def _count_all(jobs: list[_Job], tokenizers: dict) -> list[tuple[int, int] | None]:
    out = []
    for job in jobs:
        tok = tokenizers.get(job.spec)
        try:
            out.append(
                (count_prompt(tok, job.endpoint, job.body), count_completion(tok, job.endpoint, job.answer))
                if tok
                else None
            )
        except Exception:  # a request we cannot make sense of is recorded without counts
            log.exception("gateway.token_count_failed")
            out.append(None)
    return out


class TokenCounter:
    """Calls waiting for their tokens to be counted, counted in batches in a worker thread; each
    job's `done` gets (prompt, completion), or None when no tokenizer could be had."""

    def __init__(self, tokenizers: Tokenizers) -> None:
        self.tokenizers = tokenizers
        self.jobs: list[_Job] = []
        self.pending = 0  # submitted and not done yet
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None

    def submit(
        self, spec: str, endpoint: str, body: dict, answer, done: Callable[[tuple[int, int] | None], None]
    ) -> None:
        self.jobs.append(_Job(spec, endpoint, body, answer, done))
        self.pending += 1
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Count what is queued, then end (the usage writer flushes after this)."""
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task

    async def _run(self) -> None:
        while not self._closing or self.jobs:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the worker keeps going
                log.exception("gateway.token_count_failed")

    async def drain(self) -> None:
        while self.jobs:
            jobs, self.jobs = self.jobs, []
            loaded = {spec: await self.tokenizers.get(spec) for spec in {j.spec for j in jobs}}
            for job, tokens in zip(jobs, await asyncio.to_thread(_count_all, jobs, loaded), strict=True):
                self.pending -= 1
                try:
                    job.done(tokens)
                except Exception:  # one bad record must not lose the others
                    log.exception("gateway.usage_record_failed")
