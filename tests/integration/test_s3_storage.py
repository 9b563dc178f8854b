"""Object storage on S3 for real: an `axops up` process whose store is s3://bucket/axops on moto's
standalone S3 server (its own process), reached through a small proxy that can answer 503 — a
flaky or dead S3 — so that retries and failures are seen through the API, not assumed."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import obstore
import pytest
from obstore.store import S3Store

from tests import s3server
from tests.factories import (
    free_port,
    make_account,
    new_run,
    register_model,
    upload_dataset,
    upload_model,
)
from tests.live import axops_process
from tests.s3server import moto_server

BUCKET, PREFIX = "axops-objects", "axops"
AWS = s3server.CREDENTIALS
TTL_S = 120


class FaultyS3:
    """Forwards every request to the real S3 server, except that it answers 503 to the next
    `fail_next` requests, or to all of them while `down`."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.fail_next, self.down, self.refused = upstream, 0, False, 0
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    refuse = proxy.down or proxy.fail_next > 0
                    proxy.fail_next = max(0, proxy.fail_next - 1)
                    proxy.refused += refuse
                if refuse:
                    self._answer(503, {}, b"<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>")
                    return
                skip = ("content-length", "transfer-encoding", "connection", "accept-encoding")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                r = proxy.client.request(self.command, proxy.upstream + self.path, headers=headers, content=body)
                kept = {k: v for k, v in r.headers.items() if k.lower() not in (*skip, "content-encoding")}
                if self.command == "HEAD":
                    kept["content-length"] = r.headers.get("content-length", "0")
                self._answer(r.status_code, kept, r.content)

            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "content-length" not in headers:
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.client.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server (a process) with the bucket, and the faulty proxy in front of it."""
    with moto_server(tmp_path_factory.mktemp("moto"), BUCKET) as upstream:
        proxy = FaultyS3(upstream)
        yield {"upstream": upstream, "proxy": proxy}
        proxy.close()


@pytest.fixture(scope="module")
def s3_axops(s3, database_url, settings, tmp_path_factory, live_server):
    """`axops up` storing in s3://axops-objects/axops through the proxy, retrying twice within 5 s."""
    env = {
        "AXOPS_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}",
        **s3server.environment(s3["proxy"].url),
        "AXOPS_STORAGE_RETRIES": "2",
        "AXOPS_STORAGE_RETRY_TIMEOUT_S": "5",
        "AXOPS_STORAGE_SIGNED_URL_TTL_S": str(TTL_S),
    }
    with axops_process(database_url, settings, tmp_path_factory.mktemp("s3-axops"), env=env, handle=True) as process:
        yield process


@pytest.fixture
def s3_api(api, s3_axops, s3):
    """A clean database (the suite's `api` resets it) and a client of the S3-backed process."""
    s3["proxy"].fail_next, s3["proxy"].down = 0, False
    with httpx.Client(base_url=s3_axops.url, timeout=60) as client:
        yield client


def bucket_keys(s3) -> list[str]:
    store = S3Store(BUCKET, endpoint=s3["upstream"], client_options={"allow_http": True}, **_creds())
    return sorted(meta["path"] for batch in obstore.list(store) for meta in batch)


def _creds() -> dict:
    return {
        "access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
        "region": AWS["AWS_REGION"],
    }


def unavailable(r: httpx.Response) -> bool:
    return r.status_code == 503 and r.json()["type"].endswith("/storage_unavailable")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_models_datasets_and_artifacts_live_in_s3(s3_api, admin, s3, demo_dirs):
    dev = make_account(s3_api, admin, "s3dev", new_team="s3team").headers
    demo = {p.name: p.read_bytes() for p in sorted(demo_dirs[0].iterdir()) if p.is_file()}
    model = register_model(s3_api, dev, "s3-model")

    # A version in one request: every file is in the bucket, under the prefix, and comes back whole.
    r = upload_model(s3_api, dev, model["id"], demo)
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert v1["status"] == "ready" and {f["path"]: f["sha256"] for f in v1["files"]} == {
        n: sha(b) for n, b in demo.items()
    }
    keys = bucket_keys(s3)
    for name in demo:
        assert f"{PREFIX}/models/{model['id']}/{v1['id']}/{name}" in keys
    weights = max(demo, key=lambda n: len(demo[n]))
    got = s3_api.get(f"/api/model/version/{v1['id']}/files/{weights}", headers=dev)
    assert got.status_code == 200 and sha(got.content) == got.headers["x-checksum-sha256"] == sha(demo[weights])

    # A signed URL: a presigned S3 URL, fetched with no credentials, short-lived.
    signed = s3_api.get(f"/api/model/version/{v1['id']}/file-url/{weights}", headers=dev).json()
    assert (
        signed["url"].startswith(f"{s3['proxy'].url}/{BUCKET}/{PREFIX}/models/") and "X-Amz-Signature=" in signed["url"]
    )
    assert signed["expires_in"] == TTL_S and f"X-Amz-Expires={TTL_S}" in signed["url"]
    plain = httpx.get(signed["url"])
    assert plain.status_code == 200 and sha(plain.content) == signed["sha256"] == sha(demo[weights])
    other = make_account(s3_api, admin, "s3outsider", new_team="elsewhere").headers
    assert s3_api.get(f"/api/model/version/{v1['id']}/file-url/{weights}", headers=other).status_code == 404

    # Resumable: declare, send half, a part at the wrong offset is refused with where to resume, finish.
    blob = os.urandom(3 * 1024 * 1024 + 17)
    declared = [{"path": n, "size": len(b), "sha256": sha(b)} for n, b in demo.items() if n != weights]
    declared.append({"path": weights, "size": len(demo[weights]), "sha256": sha(demo[weights])})
    declared.append({"path": "extra/blob.bin", "size": len(blob), "sha256": sha(blob)})
    started = s3_api.post(f"/api/model/{model['id']}/uploads", json={"files": declared}, headers=dev)
    assert started.status_code == 201, started.text
    vid = started.json()["id"]
    half = len(blob) // 2
    put = s3_api.put(f"/api/model/upload/{vid}/extra/blob.bin", params={"offset": 0}, content=blob[:half], headers=dev)
    assert put.json()["received"] == half
    assert f"{PREFIX}/staging/{vid}/extra/blob.bin/{0:020d}" in bucket_keys(s3)
    # The connection dropped and the client lost the answer: it resends from 0 and is told `received`.
    again = s3_api.put(f"/api/model/upload/{vid}/extra/blob.bin", params={"offset": 0}, content=blob[:10], headers=dev)
    assert again.status_code == 409 and again.json()["received"] == half
    rest = s3_api.put(
        f"/api/model/upload/{vid}/extra/blob.bin", params={"offset": half}, content=blob[half:], headers=dev
    )
    assert rest.json()["received"] == len(blob)
    for name, data in demo.items():
        s3_api.put(f"/api/model/upload/{vid}/{name}", params={"offset": 0}, content=data, headers=dev)
    done = s3_api.post(f"/api/model/version/{vid}/complete", headers=dev)
    assert done.status_code == 200 and done.json()["status"] == "ready", done.text
    back = s3_api.get(f"/api/model/version/{vid}/files/extra/blob.bin", headers=dev)
    assert sha(back.content) == sha(blob)
    keys = bucket_keys(s3)
    assert not [k for k in keys if k.startswith(f"{PREFIX}/staging/{vid}/")]  # parts joined, then deleted
    assert f"{PREFIX}/models/{model['id']}/{vid}/extra/blob.bin" in keys

    # A dataset: stored in S3, previewed (Parquet read back from S3) and downloaded as sent.
    csv = b"question,answer\n" + b"".join(f"q{i},a{i}\n".encode() for i in range(30))
    ds = upload_dataset(s3_api, dev, csv, "qa.csv", name="s3-qa")
    assert ds.status_code == 201, ds.text
    dsv = ds.json()
    rows = s3_api.get(f"/api/dataset/version/{dsv['id']}/rows", params={"limit": 5}, headers=dev).json()
    assert rows["total"] == 30 and rows["rows"][0] == {"question": "q0", "answer": "a0"}
    assert s3_api.get(f"/api/dataset/version/{dsv['id']}/download", headers=dev).content == csv
    assert any(k.startswith(f"{PREFIX}/") and dsv["id"] in k for k in bucket_keys(s3))

    # A run artifact (what training checkpoints and outputs go through: the same store) written and read.
    run = new_run(s3_api, dev, experiment="s3-exp")
    checkpoint = os.urandom(256 * 1024)
    art = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['id']}/artifacts/checkpoint-10/state.bin"
    assert s3_api.put(art, content=checkpoint, headers=dev).status_code == 200
    assert sha(
        s3_api.get(f"/api/experiments/runs/{run['id']}/artifacts/checkpoint-10/state.bin", headers=dev).content
    ) == sha(checkpoint)

    # Deleting the model, then purging it (an Admin; with recoverable deletion the files stay until then),
    # removes its objects from the bucket.
    gone = s3_api.request("DELETE", f"/api/model/{model['id']}", json={"confirm_name": "s3-model"}, headers=dev)
    assert gone.status_code == 204, gone.text
    purge = s3_api.request(
        "DELETE",
        f"/api/model/{model['id']}",
        params={"purge": "true"},
        json={"confirm_name": "s3-model"},
        headers=admin,
    )
    assert purge.status_code in (204, 404), purge.text  # 404: deletion was already for good
    deadline = time.monotonic() + 10
    while any(k.startswith(f"{PREFIX}/models/{model['id']}/") for k in bucket_keys(s3)):
        assert time.monotonic() < deadline, "the model's objects were not deleted"
        time.sleep(0.1)
    assert all(k.startswith(f"{PREFIX}/") for k in bucket_keys(s3))


def test_s3_failures_are_retried_then_a_clear_503_with_nothing_half_written(s3_api, s3_axops, admin, s3, demo_dirs):
    proxy = s3["proxy"]
    dev = make_account(s3_api, admin, "s3flaky", new_team="flaky").headers
    demo = {p.name: p.read_bytes() for p in sorted(demo_dirs[0].iterdir()) if p.is_file()}
    model = register_model(s3_api, dev, "flaky-model")

    # Two 503s in a row: obstore's retries absorb them, the upload succeeds.
    proxy.refused, proxy.fail_next = 0, 2
    r = upload_model(s3_api, dev, model["id"], demo)
    assert r.status_code == 201 and r.json()["status"] == "ready", r.text
    assert proxy.refused == 2

    # S3 down: a 503 problem naming the store, no stack, and no version left behind.
    proxy.down = True
    r = upload_model(s3_api, dev, model["id"], demo)
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    assert unavailable(r) and "Traceback" not in r.text and "127.0.0.1" not in r.text
    assert "object store failed" in s3_axops.log_path.read_text()  # the cause is in the log, for operators
    versions = s3_api.get(f"/api/model/{model['id']}/versions", headers=dev).json()
    assert [v["version"] for v in versions] == [1]

    # A resumable upload survives the outage: the refused part is resent, completing is retried.
    proxy.down = False

    declared = [{"path": n, "size": len(b), "sha256": sha(b)} for n, b in demo.items()]
    vid = s3_api.post(f"/api/model/{model['id']}/uploads", json={"files": declared}, headers=dev).json()["id"]
    first = next(iter(demo.items()))
    proxy.down = True
    refused = s3_api.put(f"/api/model/upload/{vid}/{first[0]}", params={"offset": 0}, content=first[1], headers=dev)
    assert refused.status_code == 503 and unavailable(refused)
    proxy.down = False
    for name, content in demo.items():
        ok = s3_api.put(f"/api/model/upload/{vid}/{name}", params={"offset": 0}, content=content, headers=dev)
        assert ok.status_code == 200, ok.text
    proxy.down = True
    failed = s3_api.post(f"/api/model/version/{vid}/complete", headers=dev)
    assert failed.status_code == 503 and unavailable(failed)
    assert s3_api.get(f"/api/model/version/{vid}", headers=dev).json()["status"] == "uploading"  # not ready
    proxy.down = False
    done = s3_api.post(f"/api/model/version/{vid}/complete", headers=dev)
    assert done.status_code == 200 and done.json()["status"] == "ready", done.text
    name, content = max(demo.items(), key=lambda kv: len(kv[1]))
    assert sha(s3_api.get(f"/api/model/version/{vid}/files/{name}", headers=dev).content) == sha(content)

    # A download while S3 is down: a 503 problem, not a 200 whose stream breaks.
    proxy.down = True
    r = s3_api.get(f"/api/model/version/{vid}/files/{name}", headers=dev)
    assert unavailable(r), r.text
    proxy.down = False

    # A resumable dataset upload whose completion meets the outage completes once S3 is back.
    csv = b"a,b\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(100))
    body = {"filename": "big.csv", "size": len(csv), "dataset": {"name": "resumed-ds"}}
    started = s3_api.post("/api/dataset/uploads", json=body, headers=dev)
    assert started.status_code == 201, started.text
    dvid = started.json()["id"]
    assert s3_api.put(f"/api/dataset/upload/{dvid}", params={"offset": 0}, content=csv, headers=dev).status_code == 200
    proxy.down = True
    assert unavailable(s3_api.post(f"/api/dataset/version/{dvid}/complete", headers=dev))
    proxy.down = False
    done = s3_api.post(f"/api/dataset/version/{dvid}/complete", headers=dev)
    assert done.status_code == 200 and done.json()["row_count"] == 100, done.text
    assert s3_api.get(f"/api/dataset/version/{dvid}/download", headers=dev).content == csv

    # A dataset upload while S3 is down: 503 and no dataset version.
    proxy.down = True
    r = upload_dataset(s3_api, dev, b"a,b\n1,2\n", "t.csv", name="flaky-ds")
    assert r.status_code == 503 and unavailable(r), r.text
    proxy.down = False
    assert [d["name"] for d in s3_api.get("/api/dataset", headers=dev).json()["items"]] == ["resumed-ds"]


def test_a_missing_bucket_is_a_503_not_a_500(s3, monkeypatch):
    """A wrong bucket name (a typo in AXOPS_STORAGE_URL): writes are refused as unavailable."""
    import asyncio

    from axops.core.errors import StorageUnavailable
    from axops.core.storage import ObjectStore, Retries

    for k, v in {**AWS, "AWS_ENDPOINT_URL": s3["upstream"], "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(k, v)
    store = ObjectStore("s3://no-such-bucket/axops", "k" * 32, retries=Retries(1, 2))
    with pytest.raises(StorageUnavailable):
        asyncio.run(store.put_bytes("x/y", b"1"))


def test_object_keys_cannot_leave_the_prefix(s3_api, admin, s3):
    dev = make_account(s3_api, admin, "s3evil", new_team="evil").headers
    model = register_model(s3_api, dev, "evil-model")
    before = bucket_keys(s3)
    for name in ("../../escape.bin", "/etc/passwd", "a/../../b.bin", "..\\..\\win.bin", "C:/x.bin"):
        r = upload_model(s3_api, dev, model["id"], {name: b"x" * 10})
        assert r.status_code == 422, (name, r.text)
        r = s3_api.post(f"/api/model/{model['id']}/uploads", json={"files": [{"path": name, "size": 1}]}, headers=dev)
        assert r.status_code == 422, (name, r.text)
    run = new_run(s3_api, dev, experiment="evil-exp")
    base = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id']}/{run['id']}/artifacts/"
    for name in ("../../../escape.bin", "a/../../../../escape.bin", "%2e%2e/%2e%2e/escape.bin"):
        assert s3_api.put(base + name, content=b"x", headers=dev).status_code >= 400, name
    # A dataset's file name is reduced to its last part, under the version's own folder.
    ds = upload_dataset(s3_api, dev, b"a,b\n1,2\n", "../../../escape.csv", name="evil-ds")
    assert ds.status_code == 201, ds.text
    after = bucket_keys(s3)
    assert all(k.startswith(f"{PREFIX}/") for k in after)
    assert [k.split("/")[:2] + k.split("/")[3:] for k in after if "escape" in k and k not in before] == [
        [PREFIX, "datasets", ds.json()["id"], "original", "escape.csv"]
    ]


def test_file_url_on_the_local_store(api, admin, demo_dirs, live_server):
    """The suite's own server (a local directory): the URL is the API's HMAC-signed link, refused once altered."""
    dev = make_account(api, admin, "localdev", new_team="local").headers
    demo = {p.name: p.read_bytes() for p in sorted(demo_dirs[0].iterdir()) if p.is_file()}
    version = upload_model(api, dev, register_model(api, dev, "local-model")["id"], demo).json()
    name = max(demo, key=lambda n: len(demo[n]))
    signed = api.get(f"/api/model/version/{version['id']}/file-url/{name}", headers=dev).json()
    assert signed["url"].startswith("/api/storage/signed/") and signed["expires_in"] == 300
    got = httpx.get(live_server.url + signed["url"])  # no credentials
    assert got.status_code == 200 and sha(got.content) == signed["sha256"] == sha(demo[name])
    body, mac = signed["url"].rsplit(".", 1)
    tampered = httpx.get(live_server.url + body + "." + ("0" if mac[0] != "0" else "1") + mac[1:])
    assert tampered.status_code == 404
    assert api.get(f"/api/model/version/{version['id']}/file-url/nope.bin", headers=dev).status_code == 404
