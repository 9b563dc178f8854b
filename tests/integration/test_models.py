"""The model registry over real HTTP and PostgreSQL: register, upload, card, versions, compare,
lifecycle, import, download, search, access — and every bad input the issue lists."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

from axops.core.pagination import Page
from axops.registry.schemas import ModelOut
from tests.factories import dir_files, make_account, make_team, register_model, upload_model


@pytest.fixture
def world(api, admin):
    """Two teams, a Developer in each, and a Viewer in the first."""
    nlp, vision = make_team(api, admin, "nlp"), make_team(api, admin, "vision")
    return {
        "teams": [nlp, vision],
        "dev1": make_account(api, admin, "dev1", "developer", nlp).headers,
        "dev2": make_account(api, admin, "dev2", "developer", vision).headers,
        "view1": make_account(api, admin, "view1", "viewer", nlp).headers,
    }


def test_register_upload_card_versions_compare_and_lifecycle(api, world, demo_dirs, admin):
    from transformers import AutoModelForCausalLM

    dev1, view1 = world["dev1"], world["view1"]
    two, three = demo_dirs
    model = register_model(api, dev1, "ko-chat", description="한국어 대화 모델", tags=["chat"])
    assert model["team_name"] == "nlp" and model["latest_version"] is None

    r = upload_model(api, dev1, model["id"], dir_files(two))
    assert r.status_code == 201, r.text
    v1 = r.json()
    expected = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(two).parameters())
    assert v1["version"] == 1 and v1["status"] == "ready" and v1["stage"] == "draft"
    assert v1["card"]["parameter_count"] == expected
    assert v1["card"]["architecture"] == "GPT2LMHeadModel" and v1["card"]["context_length"] == 128
    assert v1["card"]["license"] == "apache-2.0" and v1["card"]["dtype"] == "F32"
    assert v1["card"]["has_chat_template"] is True and v1["card"]["vocab_size"] > 100
    assert "arch:gpt2" in v1["card"]["auto_tags"] and "size:<100M" in v1["card"]["auto_tags"]
    assert "| Parameters |" in v1["card_markdown"] and "model.safetensors" in v1["card_markdown"]
    weights = next(f for f in v1["files"] if f["path"] == "model.safetensors")
    assert weights["sha256"] == hashlib.sha256((two / "model.safetensors").read_bytes()).hexdigest()
    assert v1["total_size"] == sum(p.stat().st_size for p in dir_files(two).values())

    v2 = upload_model(api, dev1, model["id"], dir_files(three), base_version_id=v1["id"]).json()
    assert v2["version"] == 2 and v2["base_version_id"] == v1["id"]
    assert v2["card"]["parameter_count"] > v1["card"]["parameter_count"]

    got = api.get(f"/api/model/{model['id']}", headers=view1).json()
    assert got["latest_version"] == 2 and got["architecture"] == "GPT2LMHeadModel" and "arch:gpt2" in got["tags"]
    versions = api.get(f"/api/model/{model['id']}/versions", headers=view1).json()
    assert [v["version"] for v in versions] == [2, 1]

    cmp = api.post(f"/api/model/{model['id']}/compare", json={"version_ids": [v1["id"], v2["id"]]}, headers=view1)
    assert cmp.status_code == 200, cmp.text
    body = cmp.json()
    assert [c["version"] for c in body["versions"]] == [1, 2]
    assert "parameter_count" in body["differing_facts"] and "architecture" not in body["differing_facts"]
    assert {"key": "n_layer", "values": [2, 3]} in body["config_diff"]

    # Stages and aliases; other capabilities resolve `name@alias`.
    assert (
        api.post(f"/api/model/version/{v2['id']}/stage", json={"stage": "production"}, headers=dev1).json()["stage"]
        == "production"
    )
    assert (
        api.put(f"/api/model/{model['id']}/aliases/production", json={"version_id": v2["id"]}, headers=dev1).status_code
        == 204
    )
    assert api.get(f"/api/model/{model['id']}", headers=dev1).json()["aliases"] == {"production": 2}
    # The list skips FastAPI's response validation (a fast path): it still answers the declared schema.
    listed = api.get("/api/model", headers=dev1)
    assert Page[ModelOut].model_validate_json(listed.content).items
    item = next(m for m in listed.json()["items"] if m["id"] == model["id"])
    assert set(item) == set(ModelOut.model_fields)
    detail = api.get(f"/api/model/{model['id']}", headers=dev1).json()
    assert ModelOut.model_validate(item) == ModelOut.model_validate(detail)
    assert (
        api.put(f"/api/model/{model['id']}/aliases/Bad Name", json={"version_id": v2["id"]}, headers=dev1).status_code
        == 422
    )

    # Card edits by the owner; Viewers read only.
    card = api.put(f"/api/model/version/{v2['id']}/card", json={"card_markdown": "# 새 카드\n설명"}, headers=dev1)
    assert card.status_code == 200 and card.json()["card_markdown"].startswith("# 새 카드")
    assert api.put(f"/api/model/version/{v2['id']}/card", json={"card_markdown": "x"}, headers=view1).status_code == 403
    assert api.post("/api/model/register", json={"name": "nope"}, headers=view1).status_code == 403

    # Downloads: a file, and the whole version as a tar.
    f = api.get(f"/api/model/version/{v1['id']}/files/config.json", headers=view1)
    assert f.status_code == 200 and json.loads(f.content)["n_layer"] == 2
    tar = api.get(f"/api/model/version/{v1['id']}/download", headers=view1)
    assert tar.status_code == 200 and int(tar.headers["content-length"]) == len(tar.content)
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as t:
        names = t.getnames()
        assert "ko-chat-v1/model.safetensors" in names
        assert t.extractfile("ko-chat-v1/model.safetensors").read() == (two / "model.safetensors").read_bytes()

    # Archive a version, restore it; once its files are purged it cannot come back.
    assert api.post(f"/api/model/version/{v1['id']}/stage", json={"stage": "archived"}, headers=dev1).json()[
        "archived_at"
    ]
    assert (
        api.post(f"/api/model/version/{v1['id']}/stage", json={"stage": "staging"}, headers=dev1).json()["stage"]
        == "staging"
    )

    actions = [
        e["action"]
        for e in api.get("/api/audit/logs", params={"resource_type": "model", "limit": 200}, headers=admin).json()[
            "items"
        ]
    ]
    for expected_action in (
        "model.register",
        "model.version_upload",
        "model.view",
        "model.download",
        "model.alias_set",
        "model.version_stage",
        "model.version_restore",
        "model.card_update",
    ):
        assert expected_action in actions, expected_action

    # Deleting asks for the name again, then removes everything.
    assert (
        api.request("DELETE", f"/api/model/{model['id']}", json={"confirm_name": "ko-chaT"}, headers=dev1).status_code
        == 422
    )
    assert (
        api.request("DELETE", f"/api/model/{model['id']}", json={"confirm_name": "ko-chat"}, headers=dev1).status_code
        == 204
    )
    assert api.get(f"/api/model/{model['id']}", headers=dev1).status_code == 404
    assert api.get(f"/api/model/version/{v1['id']}/files/config.json", headers=dev1).status_code == 404


def test_archive_retention_purges_files(api, world, demo_dirs, live_server):
    import asyncio

    from axops.registry import files

    dev1 = world["dev1"]
    model = register_model(api, dev1, "old-model")
    v1 = upload_model(api, dev1, model["id"], dir_files(demo_dirs[0])).json()
    api.post(f"/api/model/version/{v1['id']}/stage", json={"stage": "archived"}, headers=dev1)
    state = live_server.app.state.axops

    async def purge():
        async with state.db.sessionmaker() as session:
            n = await files.purge_archived_artifacts(session, state.storage, retention_days=-1)
            await session.commit()
            return n

    assert asyncio.run_coroutine_threadsafe(purge(), live_server.server_loop).result(30) == 1
    v = api.get(f"/api/model/version/{v1['id']}", headers=dev1).json()
    assert v["artifacts_deleted_at"] and v["stage"] == "archived"
    restore = api.post(f"/api/model/version/{v1['id']}/stage", json={"stage": "draft"}, headers=dev1)
    assert restore.status_code == 409 and "cannot be restored" in restore.json()["detail"]
    assert api.get(f"/api/model/version/{v1['id']}/download", headers=dev1).status_code == 409


def test_search_and_filters(api, world, demo_dirs):
    dev1, dev2 = world["dev1"], world["dev2"]
    register_model(api, dev1, "embedder-ko", description="문장 임베딩 모델", task="embedding", tags=["retrieval"])
    chat = register_model(api, dev1, "chat-small", description="small chat model", tags=["chat"])
    upload_model(api, dev1, chat["id"], dir_files(demo_dirs[0]))
    register_model(api, dev2, "vision-private", description="team only")
    register_model(api, dev2, "vision-public", description="shared", visibility="organization")

    def names(headers, **params):
        r = api.get("/api/model", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return sorted(m["name"] for m in r.json()["items"])

    assert names(dev1) == ["chat-small", "embedder-ko", "vision-public"]  # not another team's private model
    assert names(dev1, q="임베딩") == ["embedder-ko"]
    assert names(dev1, q="chat") == ["chat-small"]
    assert names(dev1, task="embedding") == ["embedder-ko"]
    assert names(dev1, tag="retrieval") == ["embedder-ko"]
    assert names(dev1, architecture="GPT2LMHeadModel") == ["chat-small"]
    assert names(dev1, min_params=1000, max_params=10_000_000) == ["chat-small"]
    assert names(dev1, min_params=10_000_000) == []
    page = api.get("/api/model", params={"limit": 2}, headers=dev1).json()
    rest = api.get("/api/model", params={"limit": 2, "cursor": page["next_cursor"]}, headers=dev1).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_bad_uploads_are_refused_and_leave_nothing(api, world, demo_dirs, live_server, admin, monkeypatch):
    dev1, dev2 = world["dev1"], world["dev2"]
    two = demo_dirs[0]
    model = register_model(api, dev1, "strict")
    assert api.post("/api/model/register", json={"name": "STRICT"}, headers=dev1).status_code == 409
    weights = (two / "model.safetensors").read_bytes()

    cases = {
        "truncated safetensors": ({"model.safetensors": weights[:-100]}, "model.safetensors"),
        "garbage safetensors": (
            {"model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"},
            "model.safetensors",
        ),
        "config not JSON": ({"config.json": b"{not: json", "model.safetensors": weights}, "config.json"),
        "empty file": ({"README.md": b"", "model.safetensors": weights}, "README.md"),
        "parent path": ({"../evil.json": b"{}"}, "../evil.json"),
        "absolute path": ({"/etc/passwd": b"x"}, "/etc/passwd"),
    }
    for label, (files, culprit) in cases.items():
        r = upload_model(api, dev1, model["id"], files)
        assert r.status_code == 422, (label, r.text)
        assert culprit in r.json()["detail"], (label, r.json()["detail"])
    assert upload_model(api, dev1, model["id"], {}).status_code == 422
    assert api.get(f"/api/model/{model['id']}/versions", headers=dev1).json() == []
    objects = (
        Path(live_server.app.state.axops.settings.resolved_storage_url.removeprefix("file://")) / "models" / model["id"]
    )
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))  # no orphan files

    # Another team's model: not found, for uploads and reads alike.
    assert upload_model(api, dev2, model["id"], {"model.safetensors": weights}).status_code == 404
    assert api.get(f"/api/model/{model['id']}", headers=dev2).status_code == 404
    # Importing from the server needs its own permission (Admin), and a directory inside AXOPS_IMPORT_ROOTS.
    assert (
        api.post(
            "/api/model/version/import", json={"model_id": model["id"], "path": str(two)}, headers=dev2
        ).status_code
        == 403
    )
    monkeypatch.setattr(live_server.app.state.axops.settings, "import_roots", str(two.parent))
    missing = str(two.parent / "no-such-dir")
    r = api.post("/api/model/version/import", json={"model_id": model["id"], "path": missing}, headers=admin)
    assert r.status_code == 422 and missing in r.json()["detail"]  # fails at once


def test_local_import_runs_in_the_background_with_progress(api, world, demo_dirs, live_server, admin, monkeypatch):
    import asyncio

    dev1 = world["dev1"]
    model = register_model(api, dev1, "imported")
    monkeypatch.setattr(live_server.app.state.axops.settings, "import_roots", str(demo_dirs[0].parent))
    r = api.post(
        "/api/model/version/import",
        json={"model_id": model["id"], "path": str(demo_dirs[0]), "allow_patterns": ["*.json", "*.safetensors"]},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["status"] == "importing" and pending["source"] == "local"
    state = live_server.app.state.axops
    run = state.tasks.run_worker_async(wait=False, install_signal_handlers=False, additional_context={"axops": state})
    asyncio.run_coroutine_threadsafe(run, live_server.server_loop).result(120)
    done = api.get(f"/api/model/version/{pending['id']}", headers=dev1).json()
    assert done["status"] == "ready", done
    assert done["progress"]["files_done"] == done["progress"]["files_total"] == done["file_count"]
    assert {f["path"] for f in done["files"]} >= {"config.json", "model.safetensors"}
    assert "README.md" not in {f["path"] for f in done["files"]}  # filtered by allow_patterns


def test_large_upload_streams_with_bounded_memory(api, world, tmp_path):
    dev1 = world["dev1"]
    model = register_model(api, dev1, "big")
    big = tmp_path / "weights.bin"
    size = 300 * 1024 * 1024
    with big.open("wb") as f:
        block = bytes(range(256)) * 4096
        for _ in range(size // len(block)):
            f.write(block)
    # The server runs in this process: sample its resident memory while the upload streams through.
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        return int(Path("/proc/self/statm").read_text().split()[1]) * page

    baseline, peak, stop = rss(), [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with big.open("rb") as f:
            r = api.post(
                "/api/model/version/upload",
                data={"model_id": model["id"]},
                files=[("files", ("weights.bin", f))],
                headers=dev1,
                timeout=300,
            )
    finally:
        stop.set()
        sampler.join()
    grown_mib = (peak[0] - baseline) / 2**20
    assert r.status_code == 201, r.text
    assert r.json()["total_size"] == size
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB for a 300 MiB upload"


def test_resumable_chunked_upload(api, world, demo_dirs):
    dev1 = world["dev1"]
    two = demo_dirs[0]
    model = register_model(api, dev1, "chunked")
    files = dir_files(two)
    declared = [
        {"path": n, "size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for n, p in files.items()
    ]
    started = api.post(f"/api/model/{model['id']}/uploads", json={"files": declared}, headers=dev1)
    assert started.status_code == 201, started.text
    vid = started.json()["id"]
    assert started.json()["status"] == "uploading"

    weights = files.pop("model.safetensors").read_bytes()
    half = len(weights) // 2
    r = api.put(
        f"/api/model/upload/{vid}/model.safetensors", params={"offset": 0}, content=weights[:half], headers=dev1
    )
    assert r.status_code == 200 and r.json()["received"] == half
    # Completing early is refused and names what is missing; the version stays `uploading`, not ready.
    early = api.post(f"/api/model/version/{vid}/complete", headers=dev1)
    assert early.status_code == 409 and "model.safetensors" in early.json()["detail"]
    assert api.get(f"/api/model/{model['id']}/versions", headers=dev1).json()[0]["status"] == "uploading"
    # A client that lost track resends from 0: told where to resume.
    wrong = api.put(
        f"/api/model/upload/{vid}/model.safetensors", params={"offset": 0}, content=weights[:10], headers=dev1
    )
    assert wrong.status_code == 409 and wrong.json()["received"] == half
    assert api.put(
        f"/api/model/upload/{vid}/model.safetensors", params={"offset": half}, content=weights[half:], headers=dev1
    ).json()["received"] == len(weights)
    for name, p in files.items():
        assert (
            api.put(
                f"/api/model/upload/{vid}/{name}", params={"offset": 0}, content=p.read_bytes(), headers=dev1
            ).status_code
            == 200
        )
    done = api.post(f"/api/model/version/{vid}/complete", headers=dev1)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready" and done.json()["card"]["parameter_count"] > 0
    assert api.get(f"/api/model/version/{vid}/files/model.safetensors", headers=dev1).content == weights
    # What is stored hashes as declared, whether a file came in one part (moved) or several (joined).
    assert {f["path"]: f["sha256"] for f in done.json()["files"]} == {d["path"]: d["sha256"] for d in declared}

    # A checksum mismatch fails the version, visibly.
    bad = api.post(
        f"/api/model/{model['id']}/uploads",
        json={"files": [{"path": "config.json", "size": 2, "sha256": "0" * 64}]},
        headers=dev1,
    ).json()
    api.put(f"/api/model/upload/{bad['id']}/config.json", params={"offset": 0}, content=b"{}", headers=dev1)
    failed = api.post(f"/api/model/version/{bad['id']}/complete", headers=dev1)
    assert failed.status_code == 422 and "sha256" in failed.json()["detail"]
    assert api.get(f"/api/model/version/{bad['id']}", headers=dev1).json()["status"] == "failed"
    assert (
        api.post(
            f"/api/model/{model['id']}/uploads", json={"files": [{"path": "../x", "size": 1}]}, headers=dev1
        ).status_code
        == 422
    )


def test_abandoned_uploads_are_discarded(api, world, live_server, admin):
    import asyncio

    from axops.registry import uploads

    dev1, dev2 = world["dev1"], world["dev2"]
    model = register_model(api, dev1, "abandoned")
    declared = {"files": [{"path": "model.safetensors", "size": 100}]}
    first = api.post(f"/api/model/{model['id']}/uploads", json=declared, headers=dev1).json()
    api.put(f"/api/model/upload/{first['id']}/model.safetensors", params={"offset": 0}, content=b"x" * 40, headers=dev1)
    storage_root = Path(live_server.app.state.axops.storage.url.removeprefix("file://"))
    assert list((storage_root / "staging" / first["id"]).rglob("*"))

    # Another team's Developer cannot see it; the owner can give it up, which deletes its chunks.
    assert api.delete(f"/api/model/version/{first['id']}/upload", headers=dev2).status_code == 404
    assert api.delete(f"/api/model/version/{first['id']}/upload", headers=dev1).status_code == 204
    assert api.get(f"/api/model/version/{first['id']}", headers=dev1).status_code == 404
    assert not [p for p in (storage_root / "staging" / first["id"]).rglob("*") if p.is_file()]
    events = api.get("/api/audit/logs", params={"action": "model.version_upload_abort"}, headers=admin).json()["items"]
    assert [e["summary"]["bytes_received"] for e in events] == [40]

    # One left alone past the expiry is discarded by the periodic task's service call; a ready one is not.
    second = api.post(f"/api/model/{model['id']}/uploads", json=declared, headers=dev1).json()
    state = live_server.app.state.axops

    async def discard(hours: int) -> int:
        async with state.db.sessionmaker() as session:
            n = await uploads.discard_stale_uploads(session, state.storage, expiry_hours=hours)
            await session.commit()
            return n

    assert asyncio.run_coroutine_threadsafe(discard(1), live_server.server_loop).result(30) == 0
    assert asyncio.run_coroutine_threadsafe(discard(-1), live_server.server_loop).result(30) == 1
    assert api.get(f"/api/model/version/{second['id']}", headers=dev1).status_code == 404
    assert api.delete(f"/api/model/version/{second['id']}/upload", headers=dev1).status_code == 404


def test_hugging_face_import_explains_failures(api, world, live_server, monkeypatch, admin, database_url):
    """No test reaches a hub: an unreachable mirror, and a mirror that answers 'repository not found'."""
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def _answer(self):
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b'{"error": "Repository not found"}')

        do_GET = do_HEAD = _answer

        def log_message(self, *args):
            pass

    mirror = HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=mirror.serve_forever, daemon=True).start()
    dev1 = world["dev1"]
    model = register_model(api, dev1, "from-hub")
    state = live_server.app.state.axops

    def run_import(endpoint: str) -> dict:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        r = api.post(
            "/api/model/version/import/huggingface",
            json={"model_id": model["id"], "repo_id": "org/no-such-model", "token": "hf_secret_token"},
            headers=dev1,
        )
        assert r.status_code == 202, r.text
        assert r.json()["source"] == "huggingface" and r.json()["status"] == "importing"
        run = state.tasks.run_worker_async(
            wait=False, install_signal_handlers=False, additional_context={"axops": state}
        )
        asyncio.run_coroutine_threadsafe(run, live_server.server_loop).result(120)
        return api.get(f"/api/model/version/{r.json()['id']}", headers=dev1).json()

    try:
        missing = run_import(f"http://127.0.0.1:{mirror.server_address[1]}")
        assert missing["status"] == "failed" and "was not found" in missing["error"], missing["error"]
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        offline = run_import(f"http://127.0.0.1:{closed_port}")
        assert offline["status"] == "failed" and "Cannot reach" in offline["error"], offline["error"]
    finally:
        mirror.shutdown()
    # The token was used, never stored: not in the audit log, not in the job queue.
    audit_page = api.get("/api/audit/logs", params={"limit": 500}, headers=admin)
    assert audit_page.status_code == 200 and "hf_secret_token" not in audit_page.text
    import psycopg

    from axops.core.db import libpq_url

    with psycopg.connect(libpq_url(database_url)) as conn:
        jobs = conn.execute("SELECT args::text FROM procrastinate_jobs").fetchall()
    assert jobs and not any("hf_secret_token" in j[0] for j in jobs)
    assert (
        api.post(
            "/api/model/version/import/huggingface", json={"model_id": model["id"], "repo_id": "../etc"}, headers=dev1
        ).status_code
        == 422
    )
