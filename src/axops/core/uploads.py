"""Resumable uploads: one file sent in parts over many requests, resumable after a lost connection.

The protocol, the same for every domain that takes large files: the client declares the file's size,
then sends its bytes in order, each request one part (of any length) at the offset the server has
reached. A part at another offset is refused with 409 carrying `received`, the offset to resume from.
Once every byte has arrived the parts are joined (streamed, hashed on the way) and deleted.

The domain keeps the state (`Parts.state()`, in a row's JSON `progress`), checks who may send, audits,
and decides what completion means; this module stores, checks, joins and discards the parts.
It imports only core/ (and SQLAlchemy, to find stale uploads).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axops.core.errors import Conflict, Invalid
from axops.core.storage import ObjectStore, StoredObject

CHUNK = 1024 * 1024


@dataclass
class Parts:
    """One file arriving in parts: where its parts are stored (`prefix`), its declared `size`, the bytes
    `received` so far and each stored part's offset. `label` names the file in errors ("" when the
    upload has only one file)."""

    prefix: str
    size: int
    received: int = 0
    offsets: list[int] = field(default_factory=list)
    label: str = ""

    @classmethod
    def of(cls, prefix: str, state: dict[str, Any], label: str = "") -> Parts:
        """The parts recorded in `state` (a `state()` saved earlier, maybe with other keys)."""
        return cls(prefix, state.get("size", 0), state.get("received", 0), list(state.get("parts", [])), label)

    def state(self) -> dict[str, Any]:
        """What to save between requests (JSON)."""
        return {"size": self.size, "received": self.received, "parts": list(self.offsets)}

    def key(self, offset: int) -> str:
        return f"{self.prefix}/{offset:020d}"

    @property
    def complete(self) -> bool:
        return self.received == self.size

    def _say(self, sentence: str) -> str:
        return f"{self.label}: {sentence}" if self.label else sentence[:1].upper() + sentence[1:]


async def append(storage: ObjectStore, parts: Parts, offset: int, chunks: AsyncIterator[bytes]) -> StoredObject:
    """Store bytes [offset, offset + n) as the next part. Offsets must follow on: a client that lost
    an answer asks for `received` (or reads it from this 409) and resends from there."""
    if offset != parts.received:
        raise Conflict(
            parts._say(f"expected a chunk at offset {parts.received}, got {offset}; resume from there."),
            received=parts.received,
        )
    stored = await storage.put_stream(parts.key(offset), chunks)
    if stored.size == 0 or parts.received + stored.size > parts.size:
        await storage.delete(stored.path)
        raise Invalid(parts._say(f"the chunk is empty or runs past the declared size of {parts.size} bytes."))
    parts.received += stored.size
    parts.offsets.append(offset)
    return stored


async def joined(storage: ObjectStore, parts: Parts) -> AsyncIterator[bytes]:
    """The whole file, streamed part after part."""
    for offset in parts.offsets:
        async for chunk in storage.get_stream(parts.key(offset)):
            yield chunk


async def assemble(storage: ObjectStore, parts: Parts, key: str, single_part_sha256: str | None) -> StoredObject:
    """Store the whole file at `key`. A file sent in one part is moved, no bytes through Python (its
    checksum, `single_part_sha256`, was computed when it arrived); parts are joined and hashed."""
    if len(parts.offsets) == 1 and single_part_sha256:
        await storage.rename(parts.key(parts.offsets[0]), key)
        return StoredObject(path=key, size=parts.size, sha256=single_part_sha256)
    return await storage.put_stream(key, joined(storage, parts))


async def discard(storage: ObjectStore, parts: Parts) -> None:
    """Delete the parts (those already moved or deleted are skipped)."""
    for offset in parts.offsets:
        await storage.delete(parts.key(offset))


async def stale(session: AsyncSession, model: Any, expiry_hours: int, *where: Any) -> list[Any]:
    """Rows of `model` (with `status` and `updated_at`) still `uploading` that nobody has sent a part
    to within the expiry, locked; rows another transaction holds are left for the next sweep."""
    q = (
        select(model)
        .where(
            model.status == "uploading",
            model.updated_at < func.now() - func.make_interval(0, 0, 0, 0, expiry_hours),
            *where,
        )
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(q)).all())


async def write_file(chunks: AsyncIterator[bytes], path: Path) -> tuple[int, str]:
    """Write a stream to a local file; its size and sha256, computed on the way."""
    digest, size = hashlib.sha256(), 0
    async with await anyio.open_file(path, "wb") as f:
        async for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            await f.write(chunk)
    return size, digest.hexdigest()


async def file_chunks(
    path: Path, chunk_size: int = CHUNK, opener: Callable[[str, int], int] | None = None
) -> AsyncIterator[bytes]:
    """A local file as a stream (`opener`: as for `open`, e.g. to refuse a swapped-in symlink)."""
    async with await anyio.open_file(path, "rb", opener=opener) as f:
        while chunk := await f.read(chunk_size):
            yield chunk
