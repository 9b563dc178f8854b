"""Issue 12, finding 1: `POST /api/model/version/import` read any server path for any Developer
(the data directory's `secret_key` included, hence forged Admin tokens). Now: its own permission
(`models:import_server`, Admin), only inside AXOPS_IMPORT_ROOTS, every file resolved (symlinks
included), and never the data directory, the object store or the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.factories import register_model, run_tasks


@pytest.fixture
def roots(tmp_path, live_server, monkeypatch, demo_dirs) -> Path:
    """An import root holding a copy of the demo model; configured on the live server."""
    root = tmp_path / "import-root"
    shutil.copytree(demo_dirs[0], root / "demo")
    monkeypatch.setattr(live_server.app.state.axops.settings, "import_roots", f"{tmp_path / 'elsewhere'},{root}")
    return root


def _model(api, account) -> dict:
    return register_model(api, account.headers, f"import-target-{account.username}", team_id=account.team["id"])


def _nothing_written(api, admin, model, live_server) -> None:
    assert api.get(f"/api/model/{model['id']}/versions", headers=admin).json() == []
    objects = (
        Path(live_server.app.state.axops.settings.resolved_storage_url.removeprefix("file://")) / "models" / model["id"]
    )
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def _refused(r, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_developer_cannot_read_the_signing_key_through_an_import(api, admin, attacker, live_server, settings, roots):
    model = _model(api, attacker)
    body = {"model_id": model["id"], "path": str(settings.data_dir), "allow_patterns": ["secret_key"]}
    _refused(api.post("/api/model/version/import", json=body, headers=attacker.headers), 403)
    # Even the Admin cannot import the data directory, the object store or the key's directory.
    store = live_server.app.state.axops.settings.resolved_storage_url.removeprefix("file://")
    for path in (str(settings.data_dir), store, str(settings.data_dir / "objects" / "models")):
        _refused(api.post("/api/model/version/import", json={**body, "path": path}, headers=admin), 403)
    run_tasks(live_server)
    _nothing_written(api, admin, model, live_server)


def test_data_directory_inside_an_import_root_stays_closed(api, admin, attacker, live_server, settings, monkeypatch):
    model = _model(api, attacker)
    monkeypatch.setattr(live_server.app.state.axops.settings, "import_roots", str(settings.data_dir.parent))
    for path in (settings.data_dir.parent, settings.data_dir):  # a root holding the data dir, and the data dir itself
        r = api.post("/api/model/version/import", json={"model_id": model["id"], "path": str(path)}, headers=admin)
        _refused(r, 403)
    _nothing_written(api, admin, model, live_server)


def test_server_import_is_off_without_roots(api, admin, attacker, live_server, demo_dirs, monkeypatch):
    model = _model(api, attacker)
    monkeypatch.setattr(live_server.app.state.axops.settings, "import_roots", "")
    r = api.post("/api/model/version/import", json={"model_id": model["id"], "path": str(demo_dirs[0])}, headers=admin)
    _refused(r, 403)
    assert "AXOPS_IMPORT_ROOTS" in r.json()["detail"]
    _nothing_written(api, admin, model, live_server)


def test_paths_outside_the_roots_and_symlinks_out_of_them_are_refused(
    api, admin, attacker, live_server, settings, roots
):
    model = _model(api, attacker)
    (roots / "demo" / "leak.json").symlink_to(settings.data_dir / "secret_key")
    (roots / "escape").symlink_to(settings.data_dir, target_is_directory=True)
    cases = [
        str(roots / "demo"),  # the file symlinked out of the root
        str(roots / "escape"),  # a directory symlink out of the root
        str(roots / ".." / roots.name / "escape"),
        str(roots.parent),  # above the root
        "/etc",
    ]
    for path in cases:
        r = api.post("/api/model/version/import", json={"model_id": model["id"], "path": path}, headers=admin)
        _refused(r, 403)
    run_tasks(live_server)
    _nothing_written(api, admin, model, live_server)


def test_allow_patterns_stay_inside_the_directory(api, admin, attacker, live_server, roots):
    model = _model(api, attacker)
    for pattern in ("../*", "demo/../../secret_key", "/etc/passwd", "C:\\secret", "..\\x", "config\n.json"):
        body = {"model_id": model["id"], "path": str(roots / "demo"), "allow_patterns": [pattern]}
        _refused(api.post("/api/model/version/import", json=body, headers=admin), 422)
    _nothing_written(api, admin, model, live_server)


def test_worker_checks_the_directory_again(api, admin, attacker, live_server, settings, roots):
    """A symlink planted after the request is refused by the import itself; nothing is stored."""
    model = _model(api, attacker)
    r = api.post(
        "/api/model/version/import", json={"model_id": model["id"], "path": str(roots / "demo")}, headers=admin
    )
    assert r.status_code == 202, r.text
    (roots / "demo" / "leak.json").symlink_to(settings.data_dir / "secret_key")
    run_tasks(live_server)
    version = api.get(f"/api/model/version/{r.json()['id']}", headers=admin).json()
    assert version["status"] == "failed" and "leak.json" in version["error"], version
    assert version["files"] == []
    objects = (
        Path(live_server.app.state.axops.settings.resolved_storage_url.removeprefix("file://")) / "models" / model["id"]
    )
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_admin_imports_from_an_allowed_root(api, admin, attacker, live_server, roots):
    model = _model(api, attacker)
    r = api.post(
        "/api/model/version/import",
        json={"model_id": model["id"], "path": str(roots / "demo"), "allow_patterns": ["*.json", "*.safetensors"]},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    run_tasks(live_server)
    done = api.get(f"/api/model/version/{r.json()['id']}", headers=attacker.headers).json()
    assert done["status"] == "ready", done
    assert {f["path"] for f in done["files"]} >= {"config.json", "model.safetensors"}


def test_hugging_face_cache_import_through_a_root(api, admin, attacker, live_server, roots, demo_dirs):
    """A Hugging Face cache entry (snapshot files are symlinks into blobs/) imports when it lies in a root."""
    entry = roots / "hub" / "models--org--demo"
    snapshot = entry / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (entry / "blobs").mkdir()
    for f in ("config.json", "model.safetensors"):
        (entry / "blobs" / f"blob-{f}").write_bytes((demo_dirs[0] / f).read_bytes())
        (snapshot / f).symlink_to(Path("..") / ".." / "blobs" / f"blob-{f}")
    model = _model(api, attacker)
    r = api.post("/api/model/version/import", json={"model_id": model["id"], "path": str(entry)}, headers=admin)
    assert r.status_code == 202, r.text
    run_tasks(live_server)
    done = api.get(f"/api/model/version/{r.json()['id']}", headers=admin).json()
    assert done["status"] == "ready", done
    assert {f["path"] for f in done["files"]} == {"config.json", "model.safetensors"}
