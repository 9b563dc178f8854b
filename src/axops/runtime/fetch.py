"""A model version's files, fetched from the control plane into a local cache.

The runtime talks to the control plane only over HTTP with its scoped token, so the same code
runs in a local process and in a pod. Every file is checked against the registry's sha256 as it
arrives; a version already in the cache (same hashes, same sizes) is reused without a download.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

import httpx

MANIFEST = ".axops-verified.json"


class FetchError(Exception):
    """The version cannot be served as stored (missing, corrupt, not ready): not worth a retry."""


def version_info(control_url: str, token: str, version_id: str) -> dict:
    with httpx.Client(base_url=control_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        r = client.get(f"/api/model/version/{version_id}")
        if r.status_code == 404:
            raise FetchError(f"model version {version_id} does not exist or this deployment's key may not read it")
        r.raise_for_status()
        info = r.json()
    if info["status"] != "ready":
        raise FetchError(f"model version {info['version']} is {info['status']}, not ready")
    if info.get("artifacts_deleted_at"):
        raise FetchError(f"the files of model version {info['version']} were deleted after its archive retention")
    return info


def fetch_version(control_url: str, token: str, info: dict, cache_dir: Path) -> Path:
    """Replicas on one machine share the cache: one downloads while the others wait for its lock."""
    target = cache_dir / info["id"]
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_locked(client_args(control_url, token), info, target)


def client_args(control_url: str, token: str) -> dict:
    return {
        "base_url": control_url,
        "headers": {"Authorization": f"Bearer {token}"},
        "timeout": httpx.Timeout(60, read=300),
    }


def _fetch_locked(client_kwargs: dict, info: dict, target: Path) -> Path:
    manifest_path = target / MANIFEST
    verified = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    with httpx.Client(**client_kwargs) as client:
        for f in info["files"]:
            path = target / f["path"]
            if verified.get(f["path"]) == f["sha256"] and path.is_file() and path.stat().st_size == f["size"]:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            digest = hashlib.sha256()
            with client.stream("GET", f"/api/model/version/{info['id']}/files/{f['path']}") as r:
                if r.status_code != 200:
                    raise FetchError(f"{f['path']}: the control plane answered {r.status_code}")
                with partial.open("wb") as out:
                    for chunk in r.iter_bytes(1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
            if digest.hexdigest() != f["sha256"]:
                partial.unlink(missing_ok=True)
                raise FetchError(
                    f"{f['path']}: checksum mismatch (expected sha256 {f['sha256'][:12]}…, got {digest.hexdigest()[:12]}…)"
                )
            os.replace(partial, path)
            verified[f["path"]] = f["sha256"]
            manifest_path.write_text(json.dumps(verified))
    return target


def check_weights(directory: Path) -> None:
    """Fail fast, naming the file, on missing or corrupt weights (safetensors headers only)."""
    from safetensors import safe_open

    weights = sorted(directory.glob("*.safetensors")) + sorted(directory.glob("*.bin"))
    if not weights:
        raise FetchError("the version has no weights (no *.safetensors or *.bin file)")
    for path in weights:
        if path.suffix != ".safetensors":
            continue
        try:
            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
        except Exception as exc:
            raise FetchError(f"{path.name} is not a valid safetensors file: {exc}") from None
        if not keys:
            raise FetchError(f"{path.name} holds no tensors")
