"""Object store: a local directory by default, S3/MinIO with an s3:// URL (obstore underneath).

Everything is streamed: uploads are consumed chunk by chunk (hashing on the way), downloads are
async iterators. Large transfers can bypass the API process with signed URLs: presigned S3 URLs,
or for the local store HMAC-signed tokens served by `/api/storage/signed/{token}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlparse

import obstore
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store, from_url
from obstore.store import ObjectStore as Backend
from pydantic import BaseModel

from axops.core.errors import Invalid, NotFound
from axops.core.text import content_disposition


@dataclass
class StoredObject:
    path: str
    size: int
    sha256: str


class ObjectStore:
    def __init__(self, url: str, signing_key: str) -> None:
        self.url = url
        parsed = urlparse(url)
        self.is_local = parsed.scheme == "file"
        if self.is_local:
            Path(parsed.path).mkdir(parents=True, exist_ok=True)
            self.store: Backend = LocalStore(parsed.path, mkdir=True)
        else:
            self.store = from_url(url)
        self._key = hashlib.sha256(b"axops-storage:" + signing_key.encode()).digest()

    @staticmethod
    def _check(path: str) -> str:
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise Invalid(f"Invalid object path: {path!r}")
        return path

    async def put_stream(self, path: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        """Store a stream; return its size and sha256, computed while it passes through."""
        digest = hashlib.sha256()
        size = 0

        async def hashed() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                if chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

        await obstore.put_async(self.store, self._check(path), hashed())
        return StoredObject(path=path, size=size, sha256=digest.hexdigest())

    async def put_bytes(self, path: str, data: bytes) -> StoredObject:
        await obstore.put_async(self.store, self._check(path), data)
        return StoredObject(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    async def get_stream(self, path: str) -> AsyncIterator[bytes]:
        try:
            result = await obstore.get_async(self.store, self._check(path))
        except FileNotFoundError as exc:
            raise NotFound("The object does not exist.") from exc
        async for chunk in result.stream():
            yield bytes(chunk)

    async def get_bytes(self, path: str) -> bytes:
        return b"".join([c async for c in self.get_stream(path)])

    async def get_range(self, path: str, start: int, end: int) -> bytes:
        try:
            return bytes(await obstore.get_range_async(self.store, self._check(path), start=start, end=end))
        except FileNotFoundError as exc:
            raise NotFound("The object does not exist.") from exc

    async def size(self, path: str) -> int:
        try:
            return (await obstore.head_async(self.store, self._check(path)))["size"]
        except FileNotFoundError as exc:
            raise NotFound("The object does not exist.") from exc

    def local_path(self, path: str) -> Path | None:
        """The file behind an object in a local store (None for S3): tools like DuckDB read it in place."""
        return Path(urlparse(self.url).path) / self._check(path) if self.is_local else None

    async def rename(self, source: str, target: str) -> None:
        """Move an object (a rename on disk, a server-side copy on S3): no bytes through Python."""
        await obstore.rename_async(self.store, self._check(source), self._check(target))

    async def delete(self, path: str) -> None:
        try:
            await obstore.delete_async(self.store, self._check(path))
        except FileNotFoundError:
            pass

    async def signed_url(self, path: str, method: Literal["GET", "PUT"] = "GET", expires_in: int = 3600) -> str:
        """A URL that grants one object to whoever holds it, until it expires."""
        self._check(path)
        if not self.is_local:
            signing = cast(S3Store | GCSStore | AzureStore, self.store)  # an s3://, gs:// or az:// URL
            return await obstore.sign_async(signing, method, path, timedelta(seconds=expires_in))
        claims = orjson.dumps({"p": path, "m": method, "e": int(time.time()) + expires_in})
        body = base64.urlsafe_b64encode(claims).decode().rstrip("=")
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]
        return f"/api/storage/signed/{body}.{mac}"

    def verify_token(self, token: str, method: str) -> str:
        body, _, mac = token.rpartition(".")
        expected = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]
        if not body or not hmac.compare_digest(mac, expected):
            raise NotFound("The link is invalid.")
        claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if claims["m"] != method or claims["e"] < time.time():
            raise NotFound("The link has expired or does not allow this method.")
        return claims["p"]


class StoredObjectOut(BaseModel):
    path: str
    size: int
    sha256: str


router = APIRouter(tags=["storage"])


def _store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.axops.storage  # core.state imports this module: no State here
    return store


@router.get("/api/storage/signed/{token}", include_in_schema=False, response_class=StreamingResponse)
async def download_signed(token: str, request: Request) -> StreamingResponse:
    store = _store(request)
    path = store.verify_token(token, "GET")
    size = await store.size(path)
    return StreamingResponse(
        store.get_stream(path),
        media_type="application/octet-stream",
        headers={"content-length": str(size), "content-disposition": content_disposition(Path(path).name)},
    )


@router.put("/api/storage/signed/{token}", include_in_schema=False, status_code=201)
async def upload_signed(token: str, request: Request) -> StoredObjectOut:
    store = _store(request)
    path = store.verify_token(token, "PUT")
    stored = await store.put_stream(path, request.stream())
    return StoredObjectOut(path=stored.path, size=stored.size, sha256=stored.sha256)
