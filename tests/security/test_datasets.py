"""Attacks on datasets: report values leaking past the read policy, another team reviewing or
changing an organisation-visible dataset, and uploads built to keep the background analysis busy."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from tests.factories import make_account, run_tasks, upload_dataset

SECRET = "TOPSECRET-ALPHA-42"
NAMES = ["김민준", "이서연", "박지호"]
TICKET = "환불 요청합니다 주문번호 A-7781 배송이 너무 늦어요"


def tickets_csv(rows: int = 30) -> bytes:
    lines = ["id,고객명,문의,secret"]
    for i in range(rows):
        lines.append(f"{i},{NAMES[i % 3]},{TICKET},{SECRET}")
    return ("\n".join(lines) + "\n").encode()


def victim_dataset(api, victim, live_server, floor: str = "restricted") -> tuple[str, str]:
    r = upload_dataset(
        api, victim.headers, tickets_csv(), "tickets.csv", name="victim-tickets", visibility="organization"
    )
    assert r.status_code == 201, r.text
    dataset_id, version_id = r.json()["dataset_id"], r.json()["id"]
    assert (
        api.patch(f"/api/dataset/{dataset_id}", json={"sensitivity_floor": floor}, headers=victim.headers).status_code
        == 200
    )
    run_tasks(live_server)
    return dataset_id, version_id


def test_reports_of_restricted_data_keep_raw_values_from_those_who_may_not_read_rows(
    api, admin, victim, attacker, attacker_viewer, live_server
):
    dataset_id, version_id = victim_dataset(api, victim, live_server)
    victim_viewer = make_account(api, admin, "victim-viewer", "viewer", victim.team)

    # Who may read raw rows sees the report with its values (PII in them masked, names included).
    own = api.get(f"/api/dataset/version/{version_id}", headers=victim.headers).json()
    assert own["status"] == "ready" and own["values_hidden"] is None
    top = {c["name"]: [v["value"] for v in c["top_values"]] for c in own["quality"]["columns"]}
    assert top["secret"] == [SECRET] and not any(name in str(own) for name in NAMES)

    for reader in (attacker, attacker_viewer, victim_viewer):
        seen = []
        for path in (
            f"/api/dataset/{dataset_id}",
            f"/api/dataset/{dataset_id}/versions",
            f"/api/dataset/version/{version_id}",
            "/api/dataset?q=victim",
            f"/api/dataset/version/{version_id}/rows",
            f"/api/dataset/version/{version_id}/download",
            f"/api/dataset/{dataset_id}/diff?from={version_id}&to={version_id}",
        ):
            r = api.get(path, headers=reader.headers)
            assert r.status_code in (200, 403), (path, r.status_code, r.text)
            seen.append(r.text)
        text = "\n".join(seen)
        assert SECRET not in text and TICKET not in text and not any(name in text for name in NAMES), reader.username
        detail = api.get(f"/api/dataset/version/{version_id}", headers=reader.headers).json()
        assert "restricted" in detail["values_hidden"]
        columns = {c["name"]: c for c in detail["quality"]["columns"]}
        assert (
            columns["secret"]["top_values"] == []
            and columns["secret"]["distinct"] == 1
            and columns["secret"]["nulls"] == 0
        )
        assert columns["id"]["numeric"]["histogram"]["counts"] and detail["quality"]["rows"] == 30
        assert all(c["examples"] == [] for c in detail["pii"]["columns"].values())
        assert api.get(f"/api/dataset/version/{version_id}/rows", headers=reader.headers).status_code == 403


def test_another_team_cannot_review_or_change_an_organisation_visible_dataset(
    api, admin, victim, attacker, attacker_operator, live_server
):
    dataset_id, version_id = victim_dataset(api, victim, live_server, floor="internal")
    before = api.get(f"/api/dataset/version/{version_id}", headers=victim.headers).json()
    assert before["review_status"] == "scanned"

    for decision in ("approve", "reject"):
        r = api.post(
            f"/api/dataset/version/{version_id}/review", json={"decision": decision}, headers=attacker_operator.headers
        )
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
    writes = [
        ("PATCH", f"/api/dataset/{dataset_id}", {"json": {"visibility": "team"}}),
        ("DELETE", f"/api/dataset/{dataset_id}", {"json": {"confirm_name": "victim-tickets"}}),
        ("POST", f"/api/dataset/version/{version_id}/mask", {"json": {"entities": ["PERSON"]}}),
        ("POST", f"/api/dataset/version/{version_id}/split", {"json": {}}),
        ("POST", f"/api/dataset/{dataset_id}/scan/pii", {"json": {}}),
        ("POST", "/api/dataset/upload", {"data": {"dataset_id": dataset_id}, "files": {"file": ("x.csv", b"id\n1\n")}}),
    ]
    for method, path, kwargs in writes:
        r = api.request(method, path, headers=attacker.headers, **kwargs)
        assert r.status_code == 403, (method, path, r.status_code, r.text)

    after = api.get(f"/api/dataset/version/{version_id}", headers=victim.headers).json()
    assert after["review_status"] == "scanned" and after["reviewed_by"] is None
    assert [v["version"] for v in api.get(f"/api/dataset/{dataset_id}/versions", headers=victim.headers).json()] == [1]
    assert api.get(f"/api/dataset/{dataset_id}", headers=victim.headers).json()["visibility"] == "organization"
    for action in ("dataset.version_approved", "dataset.version_rejected"):
        assert api.get("/api/audit/logs", params={"action": action}, headers=admin).json()["items"] == []

    # The owning team's reviewer still can.
    reviewer = make_account(api, admin, "victim-op", "operator", victim.team)
    r = api.post(f"/api/dataset/version/{version_id}/review", json={"decision": "approve"}, headers=reviewer.headers)
    assert r.status_code == 200 and r.json()["review_status"] == "approved"


def _objects(settings) -> list[str]:
    root = settings.data_dir / "objects"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", row_group_size=1_000_000)
    return out.getvalue()


def test_uploads_that_would_keep_the_analysis_busy_are_refused_and_leave_nothing(api, victim, live_server, monkeypatch):
    settings = live_server.app.state.axops.settings
    existing = upload_dataset(api, victim.headers, b"id\n1\n", "small.csv", name="small")
    assert existing.status_code == 201
    dataset_id = existing.json()["dataset_id"]
    objects = _objects(settings)

    ten_million = _parquet(pa.table({"v": pa.chunked_array([pa.array(["same"] * 1_000_000)] * 10)}))
    assert len(ten_million) < 100_000
    huge = "x" * 1_000_000  # one 1 MB value repeated through a million rows: a terabyte of text in a few KB
    bomb = _parquet(
        pa.table({"v": pa.DictionaryArray.from_arrays(pa.array([0] * 1_000_000, pa.int32()), pa.array([huge]))})
    )
    assert len(bomb) < 100_000
    rows = 50_000  # the same inside a list: 5 GB of text
    chat = pa.ListArray.from_arrays(
        pa.array(range(rows + 1), pa.int32()),
        pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["y" * 100_000])),
    )
    nested = _parquet(pa.table({"messages": chat}))
    cases = [
        (ten_million, "rows.parquet", 5_000_000, "5,000,000"),
        (bomb, "bomb.parquet", 5_000_000, "compression bomb"),
        (nested, "nested.parquet", 5_000_000, "compression bomb"),
        (b"a\n" + b"1\n" * 101, "rows.csv", 100, "100"),
        (b'{"a": 1}\n' * 101, "rows.jsonl", 100, "100"),
    ]
    for content, filename, limit, named in cases:
        monkeypatch.setattr(settings, "dataset_max_rows", limit)
        for fields in ({"name": f"new-{filename}"}, {"dataset_id": dataset_id}):
            r = upload_dataset(api, victim.headers, content, filename, **fields)
            assert r.status_code == 422 and named in r.json()["detail"], (filename, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    monkeypatch.undo()

    assert [d["name"] for d in api.get("/api/dataset", headers=victim.headers).json()["items"]] == ["small"]
    assert [v["version"] for v in api.get(f"/api/dataset/{dataset_id}/versions", headers=victim.headers).json()] == [1]
    assert _objects(settings) == objects

    # Under the limit, the same shapes are fine.
    ok = upload_dataset(
        api, victim.headers, _parquet(pa.table({"v": ["same"] * 1000})), "ok.parquet", dataset_id=dataset_id
    )
    assert ok.status_code == 201 and ok.json()["row_count"] == 1000


def test_a_resumable_upload_over_the_row_limit_fails_without_data(api, victim, live_server, monkeypatch):
    settings = live_server.app.state.axops.settings
    monkeypatch.setattr(settings, "dataset_max_rows", 10)
    content = b"a\n" + b"1\n" * 11
    start = api.post(
        "/api/dataset/uploads",
        json={"dataset": {"name": "resumed"}, "filename": "r.csv", "size": len(content)},
        headers=victim.headers,
    )
    assert start.status_code == 201, start.text
    version_id = start.json()["id"]
    assert (
        api.put(
            f"/api/dataset/upload/{version_id}", params={"offset": 0}, content=content, headers=victim.headers
        ).status_code
        == 200
    )
    r = api.post(f"/api/dataset/version/{version_id}/complete", headers=victim.headers)
    assert r.status_code == 422 and "10" in r.json()["detail"]
    version = api.get(f"/api/dataset/version/{version_id}", headers=victim.headers).json()
    assert version["status"] == "failed" and version["row_count"] is None
