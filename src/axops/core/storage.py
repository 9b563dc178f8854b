"""Object store: a local directory by default, S3/MinIO with an s3:// URL (obstore underneath).

Everything is streamed: uploads are consumed chunk by chunk (hashing on the way), downloads are
async iterators. Large transfers can bypass the API process with signed URLs: presigned S3 URLs,
or for the local store HMAC-signed tokens served by `/api/storage/signed/{token}`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlparse

import obstore
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from obstore.exceptions import BaseError as BackendError
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store, from_url
from obstore.store import ObjectStore as Backend
from pydantic import BaseModel

from axops.core.errors import Invalid, NotFound, StorageUnavailable
from axops.core.text import content_disposition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retries:
    """How hard a remote store (S3, MinIO, GCS, Azure) is tried before a request gets a 503: failed
    requests (connection errors, 5xx, throttling) are retried with exponential backoff (0.1 s doubling
    up to 5 s), at most `max_retries` times and within `total_s` seconds. Client options (timeouts,
    allow_http) stay obstore's, read from AWS_* variables: passing any would drop those."""

    max_retries: int = 4
    total_s: float = 30.0

    def options(self) -> dict:
        backoff = {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=5), "base": 2}
        return {
            "retry_config": {
                "max_retries": self.max_retries,
                "retry_timeout": timedelta(seconds=self.total_s),
                "backoff": backoff,
            }
        }


@contextlib.contextmanager
def _available(path: str, writing: bool = False) -> Iterator[None]:
    """Backend failures (after obstore's retries) as a 503 problem without the store's address or
    response. On a write, "not found" means the bucket itself is missing: also a 503, not a 500."""
    try:
        yield
    except FileNotFoundError as exc:
        if not writing:
            raise NotFound("The object does not exist.") from exc
        logger.warning("object store refused writing %s (missing bucket?): %s", path, str(exc)[:500])
        raise StorageUnavailable("The object store refused the write; try again shortly.") from exc
    except BackendError as exc:
        logger.warning("object store failed on %s: %s", path, str(exc)[:500])
        raise StorageUnavailable("The object store did not answer; try again shortly.") from exc


@dataclass
class StoredObject:
    path: str
    size: int
    sha256: str


class ObjectStore:
    def __init__(
        self, url: str, signing_key: str, *, retries: Retries | None = None, signed_url_ttl_s: int = 300
    ) -> None:
        """`url`: file:///dir or s3://bucket/prefix (endpoint, region and credentials from the usual
        AWS_* variables: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        AWS_ALLOW_HTTP for a plain-HTTP MinIO). Every key is relative to the URL's prefix."""
        self.url = url
        self.signed_url_ttl_s = signed_url_ttl_s
        parsed = urlparse(url)
        self.is_local = parsed.scheme == "file"
        if self.is_local:
            Path(parsed.path).mkdir(parents=True, exist_ok=True)
            self.store: Backend = LocalStore(parsed.path, mkdir=True)
        else:
            self.store = from_url(url, **(retries or Retries()).options())
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

        with _available(path, writing=True):
            await obstore.put_async(self.store, self._check(path), hashed())
        return StoredObject(path=path, size=size, sha256=digest.hexdigest())

    async def put_bytes(self, path: str, data: bytes) -> StoredObject:
        with _available(path, writing=True):
            await obstore.put_async(self.store, self._check(path), data)
        return StoredObject(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    async def get_stream(self, path: str) -> AsyncIterator[bytes]:
        with _available(path):
            result = await obstore.get_async(self.store, self._check(path))
        async for chunk in result.stream():
            yield bytes(chunk)

    async def open_stream(self, path: str) -> AsyncIterator[bytes]:
        """`get_stream`, but the object is asked for now: a missing object or a failing store is raised
        here (404, 503) before a response has started, not as a broken stream."""
        with _available(path):
            result = await obstore.get_async(self.store, self._check(path))

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in result.stream():
                yield bytes(chunk)

        return chunks()

    async def get_bytes(self, path: str) -> bytes:
        return b"".join([c async for c in self.get_stream(path)])

    async def get_range(self, path: str, start: int, end: int) -> bytes:
        with _available(path):
            return bytes(await obstore.get_range_async(self.store, self._check(path), start=start, end=end))

    async def size(self, path: str) -> int:
        with _available(path):
            return (await obstore.head_async(self.store, self._check(path)))["size"]

    def local_path(self, path: str) -> Path | None:
        """The file behind an object in a local store (None for S3): tools like DuckDB read it in place."""
        return Path(urlparse(self.url).path) / self._check(path) if self.is_local else None

    async def rename(self, source: str, target: str) -> None:
        """Move an object (a rename on disk, a server-side copy on S3): no bytes through Python."""
        with _available(source):
            await obstore.rename_async(self.store, self._check(source), self._check(target))

    async def delete(self, path: str) -> None:
        with contextlib.suppress(NotFound), _available(path):
            await obstore.delete_async(self.store, self._check(path))

    async def signed_url(self, path: str, method: Literal["GET", "PUT"] = "GET", expires_in: int | None = None) -> str:
        """A URL that grants one object to whoever holds it, until it expires (AXOPS_STORAGE_SIGNED_URL_TTL_S)."""
        self._check(path)
        expires_in = expires_in or self.signed_url_ttl_s
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
