"""Datasets over real HTTP and PostgreSQL: upload (CP949 CSV, BOM, JSONL, Parquet; one request and
resumable), background quality report and PII scan, preview under the sensitivity policy, masked
version, diff, split, review for training — and the bad inputs the issue lists."""

from __future__ import annotations

import asyncio
import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.factories import make_account, make_team, run_tasks, upload_dataset


def rrn(birth: str = "900101", gender: str = "1", serial: str = "23456") -> str:
    digits = birth + gender + serial
    check = (11 - sum(int(d) * w for d, w in zip(digits, [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5], strict=True)) % 11) % 10
    return f"{birth}-{gender}{serial}{check}"


def customers_csv(n: int = 40) -> str:
    """Korean customer records: every 4th row carries a resident number, phones and e-mails throughout."""
    rng = random.Random(7)
    surnames, given = "김이박최정강조윤장임", ["민준", "서연", "지호", "하은", "도윤", "수아"]
    lines = ["id,고객명,메모,점수"]
    for i in range(1, n + 1):
        name = rng.choice(surnames) + rng.choice(given)
        memo = f"연락처 010-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}, 메일 user{i}@example.com"
        if i % 4 == 0:
            memo += f", 주민등록번호 {rrn(serial=f'{10000 + i:05d}')}"
        lines.append(f'{i},{name},"{memo}",{rng.randint(1, 100)}')
    return "\n".join(lines) + "\n"


@pytest.fixture
def world(api, admin):
    data, other = make_team(api, admin, "data"), make_team(api, admin, "other")
    return {
        "teams": [data, other],
        "admin": admin,
        "dev1": make_account(api, admin, "dev1", "developer", data).headers,
        "dev2": make_account(api, admin, "dev2", "developer", other).headers,
        "view1": make_account(api, admin, "view1", "viewer", data).headers,
        "ops1": make_account(api, admin, "ops1", "operator", data).headers,
    }


def test_dataset_journey(api, world, live_server):
    dev1, admin = world["dev1"], world["admin"]
    r = upload_dataset(
        api,
        dev1,
        customers_csv().encode("cp949"),
        "고객.csv",
        name="customers",
        key_column="id",
        description="고객 상담 기록",
    )
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["format"], v1["encoding"], v1["row_count"], v1["status"]) == ("csv", "cp949", 40, "processing")
    assert [c["name"] for c in v1["columns"]] == ["id", "고객명", "메모", "점수"]
    assert v1["columns"][0]["type"] == "int64" and len(v1["sha256"]) == 64
    dataset_id = v1["dataset_id"]

    run_tasks(live_server)
    v1 = api.get(f"/api/dataset/version/{v1['id']}", headers=dev1).json()
    assert v1["status"] == "ready" and v1["review_status"] == "scanned" and v1["error"] is None
    assert (
        v1["pii"]["entities"]["RRN"] == 10
        and v1["pii"]["entities"]["PHONE"] == 40
        and v1["pii"]["entities"]["EMAIL"] == 40
    )
    assert v1["sensitivity"] == "restricted"
    memo = v1["pii"]["columns"]["메모"]
    assert memo["rows_affected"] == 40 and all("*" in e["masked"] for e in memo["examples"])
    assert not any(rrn(serial=f"{10000 + i:05d}") in str(v1["pii"]) for i in range(4, 41, 4)), (
        "raw values leaked into the report"
    )
    quality = {c["name"]: c for c in v1["quality"]["columns"]}
    assert quality["id"]["unique_ratio"] == 1.0 and quality["점수"]["numeric"]["histogram"]["counts"]
    assert quality["메모"]["text"]["language"]["korean"] == 1.0
    assert api.get(f"/api/dataset/{dataset_id}", headers=dev1).json()["sensitivity"] == "restricted"

    # Raw rows of restricted data: the team's Developers yes (audited), its Viewer no, another team not even the dataset.
    rows = api.get(f"/api/dataset/version/{v1['id']}/rows", params={"limit": 5, "offset": 10}, headers=dev1).json()
    assert rows["total"] == 40 and [r["id"] for r in rows["rows"]] == [11, 12, 13, 14, 15]
    denied = api.get(f"/api/dataset/version/{v1['id']}/rows", headers=world["view1"])
    assert denied.status_code == 403 and "restricted" in denied.json()["detail"]
    assert api.get(f"/api/dataset/version/{v1['id']}/rows", headers=world["dev2"]).status_code == 404
    assert api.get(f"/api/dataset/{dataset_id}", headers=world["dev2"]).status_code == 404
    reads = api.get("/api/audit/logs", params={"action": "dataset.read_rows"}, headers=admin).json()["items"]
    assert len(reads) == 1 and reads[0]["summary"]["sensitivity"] == "restricted"
    original = api.get(f"/api/dataset/version/{v1['id']}/download", headers=dev1)
    assert original.content == customers_csv().encode("cp949")

    # Approval: not by the owner's role; not with unmasked resident numbers unless overridden by one who may.
    assert (
        api.post(f"/api/dataset/version/{v1['id']}/review", json={"decision": "approve"}, headers=dev1).status_code
        == 403
    )
    blocked = api.post(f"/api/dataset/version/{v1['id']}/review", json={"decision": "approve"}, headers=world["ops1"])
    assert blocked.status_code == 409 and "RRN" in blocked.json()["entities"]
    assert blocked.json()["type"].endswith("/high_risk_pii_unmasked")
    forbidden = api.post(
        f"/api/dataset/version/{v1['id']}/review",
        json={"decision": "approve", "override_pii": True},
        headers=world["ops1"],
    )
    assert forbidden.status_code == 403 and forbidden.json()["type"].endswith("/pii_override_forbidden")

    # A masked version, then its diff against the source: every row's memo changed, nothing else.
    bad = api.post(f"/api/dataset/version/{v1['id']}/mask", json={"entities": ["NOPE"]}, headers=dev1)
    assert bad.status_code == 422 and "NOPE" in bad.json()["detail"]
    masked = api.post(
        f"/api/dataset/version/{v1['id']}/mask",
        json={"entities": ["RRN", "PHONE", "EMAIL"], "mode": "mask"},
        headers=dev1,
    )
    assert masked.status_code == 202, masked.text
    v2 = masked.json()
    assert (v2["version"], v2["source"], v2["parent_version_id"]) == (2, "masked", v1["id"])
    run_tasks(live_server)
    v2 = api.get(f"/api/dataset/version/{v2['id']}", headers=dev1).json()
    assert v2["status"] == "ready", v2
    assert not ({"RRN", "PHONE", "EMAIL"} & set(v2["pii"]["entities"])) and v2["lineage"]["values_changed"] == 40
    assert v2["sensitivity"] in ("public", "internal", "confidential")
    text = str(api.get(f"/api/dataset/version/{v2['id']}/rows", params={"limit": 40}, headers=dev1).json()["rows"])
    assert "010-****-" in text and "@example.com" in text and rrn(serial="10004") not in text
    assert not any(f"user{i}@example.com" in text for i in range(1, 41))

    diff = api.get(
        f"/api/dataset/{dataset_id}/diff",
        params={"from": v1["id"], "to": v2["id"], "kind": "changed", "limit": 5},
        headers=dev1,
    ).json()
    assert diff["mode"] == "key" and diff["counts"] == {"added": 0, "removed": 0, "changed": 40}
    assert diff["schema"] == {"added": [], "removed": [], "retyped": []}
    assert all(s["changed_columns"] == ["메모"] for s in diff["samples"]) and len(diff["samples"]) == 5
    assert [s["key"] for s in diff["samples"]] == ["1", "2", "3", "4", "5"]  # in the key's own order, not as text
    page2 = api.get(
        f"/api/dataset/{dataset_id}/diff",
        params={"from": v1["id"], "to": v2["id"], "offset": 5, "limit": 5},
        headers=dev1,
    ).json()
    assert {s["key"] for s in page2["samples"]}.isdisjoint({s["key"] for s in diff["samples"]})

    approved = api.post(
        f"/api/dataset/version/{v2['id']}/review",
        json={"decision": "approve", "comment": "masked"},
        headers=world["ops1"],
    )
    assert approved.status_code == 200 and approved.json()["review_status"] == "approved"
    assert api.get("/api/audit/logs", params={"action": "dataset.version_approved"}, headers=admin).json()["items"]

    # Split: reproducible with the seed, stratified, rows add up.
    parts = api.post(
        f"/api/dataset/version/{v2['id']}/split",
        json={"train": 0.5, "validation": 0.25, "test": 0.25, "seed": 3},
        headers=dev1,
    )
    assert parts.status_code == 201, parts.text
    parts = parts.json()
    assert [p["label"] for p in parts] == ["train", "validation", "test"] and sum(p["row_count"] for p in parts) == 40
    assert parts[0]["row_count"] == 20 and all(p["parent_version_id"] == v2["id"] for p in parts)
    again = api.post(
        f"/api/dataset/version/{v2['id']}/split",
        json={"train": 0.5, "validation": 0.25, "test": 0.25, "seed": 3},
        headers=dev1,
    ).json()
    run_tasks(live_server)
    ids = [
        [
            r["id"]
            for r in api.get(f"/api/dataset/version/{p['id']}/rows", params={"limit": 40}, headers=dev1).json()["rows"]
        ]
        for p in (parts[0], again[0])
    ]
    assert sorted(ids[0]) == sorted(ids[1])
    assert (
        api.post(
            f"/api/dataset/version/{v2['id']}/split", json={"train": 0.5, "validation": 0.1, "test": 0.1}, headers=dev1
        ).status_code
        == 422
    )

    # Owner raises the sensitivity; deleting needs the exact name.
    assert (
        api.patch(f"/api/dataset/{dataset_id}", json={"sensitivity_floor": "restricted"}, headers=dev1).json()[
            "sensitivity"
        ]
        == "restricted"
    )
    assert (
        api.request("DELETE", f"/api/dataset/{dataset_id}", json={"confirm_name": "nope"}, headers=dev1).status_code
        == 422
    )
    assert (
        api.request(
            "DELETE", f"/api/dataset/{dataset_id}", json={"confirm_name": "customers"}, headers=dev1
        ).status_code
        == 204
    )
    assert api.get(f"/api/dataset/{dataset_id}", headers=dev1).status_code == 404


def test_formats_and_bad_input(api, world, live_server):
    dev1, dev2 = world["dev1"], world["dev2"]
    # UTF-8 with BOM, JSONL, Parquet; a column named like SQL is just a name.
    bom = upload_dataset(
        api, dev1, '\ufeffid,"name; DROP TABLE users;--"\n1,가\n2,나\n'.encode(), "bom.csv", name="bom"
    )
    assert bom.status_code == 201 and bom.json()["encoding"] == "utf-8-sig"
    assert bom.json()["columns"][1]["name"] == "name; DROP TABLE users;--"
    jsonl = upload_dataset(
        api, dev1, b'{"q": "hi", "a": 1}\n{"q": "\xec\x95\x88\xeb\x85\x95", "a": 2}\n', "qa.jsonl", name="qa"
    )
    assert jsonl.status_code == 201 and jsonl.json()["row_count"] == 2
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2, 3]}), buf)
    parquet = upload_dataset(api, dev1, buf.getvalue(), "x.parquet", dataset_id=jsonl.json()["dataset_id"])
    assert parquet.status_code == 201 and parquet.json()["version"] == 2 and parquet.json()["format"] == "parquet"
    bare = "id,주민번호\n" + "".join(f"{i},{rrn(serial=f'{20000 + i:05d}').replace('-', '')}\n" for i in range(5))
    bare = upload_dataset(api, dev1, bare.encode(), "ids.csv", name="bare-ids")
    run_tasks(live_server)
    # Bare 13-digit numbers count as resident numbers because the column's name says so; masking
    # them turns the column into text.
    assert api.get(f"/api/dataset/version/{bare.json()['id']}", headers=dev1).json()["pii"]["entities"] == {"RRN": 5}
    masked = api.post(
        f"/api/dataset/version/{bare.json()['id']}/mask", json={"entities": ["RRN"], "mode": "remove"}, headers=dev1
    )
    run_tasks(live_server)
    masked = api.get(f"/api/dataset/version/{masked.json()['id']}", headers=dev1).json()
    assert masked["columns"][1] == {"name": "주민번호", "type": "string"} and masked["pii"]["entities"] == {}
    rows = api.get(f"/api/dataset/version/{masked['id']}/rows", headers=dev1).json()["rows"]
    assert {r["주민번호"] for r in rows} == {"[RRN]"}
    # Leading zeros survive: such columns stay text.
    zeros = upload_dataset(
        api,
        dev1,
        b"id,phone,zip\n1,01012345678,01234\n2,01098765432,04524\n",
        "z.csv",
        dataset_id=bom.json()["dataset_id"],
    )
    assert [c["type"] for c in zeros.json()["columns"]] == ["int64", "string", "string"]
    sql_col = api.get(f"/api/dataset/version/{bom.json()['id']}", headers=dev1).json()
    assert sql_col["status"] == "ready" and sql_col["quality"]["columns"][1]["name"] == "name; DROP TABLE users;--"

    from axops.datasets.demo import demo_csv

    demo = upload_dataset(api, dev1, demo_csv(), "tickets.csv", name="demo-tickets")  # what `axops demo` registers
    assert demo.status_code == 201 and (demo.json()["encoding"], demo.json()["row_count"]) == ("cp949", 300)

    cases = {
        "ragged.csv": (b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", "Line 4"),
        "broken.jsonl": (b'{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n', "line 3"),
        "fake.parquet": (b"PAR1 this is not parquet", "not a valid Parquet"),
        "empty.csv": (b"", "empty"),
        "mixed.csv": ("a,b\n1,가\n".encode() + "2,나\n".encode("cp949"), "mix encodings"),
        "wide.csv": (
            (",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n").encode(),
            "10,000 columns",
        ),
        "model.bin": (b"\x00\x01", "Unsupported file type"),
    }
    for filename, (content, message) in cases.items():
        r = upload_dataset(api, dev1, content, filename, name=f"bad-{filename.replace('.', '-')}")
        assert r.status_code == 422, (filename, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert message.lower() in r.json()["detail"].lower(), (filename, r.json()["detail"])
    names = [d["name"] for d in api.get("/api/dataset", headers=dev1).json()["items"]]
    assert sorted(names) == ["bare-ids", "bom", "demo-tickets", "qa"], "a refused upload left a dataset behind"

    assert upload_dataset(api, dev1, b"a\n1\n", "a.csv", name="bom").status_code == 409
    assert upload_dataset(api, dev2, b"a\n1\n", "a.csv", dataset_id=bom.json()["dataset_id"]).status_code == 404
    assert upload_dataset(api, world["view1"], b"a\n1\n", "a.csv", name="viewer-data").status_code == 403
    assert upload_dataset(api, dev1, b"a\n1\n", "a.csv").status_code == 422
    assert (
        api.get(
            f"/api/dataset/{bom.json()['dataset_id']}/diff", params={"from": "x", "to": "y"}, headers=dev1
        ).status_code
        == 422
    )


def test_resumable_upload(api, world, live_server, admin):
    dev1 = world["dev1"]
    content = customers_csv(400).encode()
    start = api.post(
        "/api/dataset/uploads",
        json={"dataset": {"name": "big"}, "filename": "big.csv", "size": len(content)},
        headers=dev1,
    )
    assert start.status_code == 201, start.text
    vid = start.json()["id"]
    half = len(content) // 2
    assert (
        api.put(f"/api/dataset/upload/{vid}", params={"offset": 0}, content=content[:half], headers=dev1).json()[
            "received"
        ]
        == half
    )
    early = api.post(f"/api/dataset/version/{vid}/complete", headers=dev1)
    assert early.status_code == 409
    wrong = api.put(f"/api/dataset/upload/{vid}", params={"offset": 0}, content=content[:10], headers=dev1)
    assert wrong.status_code == 409 and wrong.json()["received"] == half
    assert (
        api.put(f"/api/dataset/upload/{vid}", params={"offset": half}, content=content[half:], headers=dev1).status_code
        == 200
    )
    done = api.post(f"/api/dataset/version/{vid}/complete", headers=dev1)
    assert done.status_code == 200 and done.json()["row_count"] == 400 and done.json()["status"] == "processing"
    assert api.get(f"/api/dataset/version/{vid}/download", headers=dev1).content == content

    # A file that does not parse: 422 naming the line, the version visibly failed, never ready.
    bad = b"a,b\n1,2\n3\n"
    start = api.post(
        "/api/dataset/uploads",
        json={"dataset_id": done.json()["dataset_id"], "filename": "b.csv", "size": len(bad)},
        headers=dev1,
    ).json()
    api.put(f"/api/dataset/upload/{start['id']}", params={"offset": 0}, content=bad, headers=dev1)
    failed = api.post(f"/api/dataset/version/{start['id']}/complete", headers=dev1)
    assert failed.status_code == 422 and "Line 3" in failed.json()["detail"]
    assert api.get(f"/api/dataset/version/{start['id']}", headers=dev1).json()["status"] == "failed"

    # Cancelled midway: discarded, nothing left.
    start = api.post(
        "/api/dataset/uploads",
        json={"dataset_id": done.json()["dataset_id"], "filename": "c.csv", "size": 100},
        headers=dev1,
    ).json()
    api.put(f"/api/dataset/upload/{start['id']}", params={"offset": 0}, content=b"x" * 50, headers=dev1)
    assert api.delete(f"/api/dataset/version/{start['id']}/upload", headers=world["dev2"]).status_code == 404
    assert api.delete(f"/api/dataset/version/{start['id']}/upload", headers=dev1).status_code == 204
    assert api.get(f"/api/dataset/version/{start['id']}", headers=dev1).status_code == 404
    assert api.post("/api/dataset/uploads", json={"filename": "x.csv", "size": 1}, headers=dev1).status_code == 422
    run_tasks(live_server)

    # One left alone past the expiry is discarded by the periodic sweep.
    from axops.datasets import uploads

    stale = api.post(
        "/api/dataset/uploads",
        json={"dataset_id": done.json()["dataset_id"], "filename": "d.csv", "size": 10},
        headers=dev1,
    ).json()
    state = live_server.app.state.axops

    async def sweep(hours: int) -> int:
        async with state.db.sessionmaker() as session:
            n = await uploads.discard_stale_uploads(session, state.storage, hours)
            await session.commit()
            return n

    assert asyncio.run_coroutine_threadsafe(sweep(1), live_server.server_loop).result(30) == 0
    assert asyncio.run_coroutine_threadsafe(sweep(-1), live_server.server_loop).result(30) == 1
    assert api.get(f"/api/dataset/version/{stale['id']}", headers=dev1).status_code == 404


def test_names_tags_and_key_columns_are_checked_as_the_upload_form_checks_them(api, world):
    """The upload form's rule is the API's: a name starts with a letter, digit or _ and holds only those, spaces,
    . and -; tags and the key column are one line. Refused bodies (register or upload) are 422 problem+json and
    leave no dataset behind; names are trimmed."""
    dev1 = world["dev1"]
    bad = [
        {"name": "bad name with spaces!!"},
        {"name": "-leading-dash"},
        {"name": "   "},
        {"name": "a/b"},
        {"name": "x" * 201},
        {"name": "ok", "tags": ["  "]},
        {"name": "ok", "tags": ["two\nlines"]},
        {"name": "ok", "key_column": "id\tname"},
    ]
    for body in bad:
        r = api.post("/api/dataset/register", json=body, headers=dev1)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), body
    for name in ("bad name with spaces!!", "-leading-dash", "a/b"):
        r = upload_dataset(api, dev1, b"a\n1\n", "a.csv", name=name)
        assert r.status_code == 422, (name, r.text)
    r = upload_dataset(api, dev1, b"a\n1\n", "a.csv", name="ok", key_column="a\nb")
    assert r.status_code == 422, r.text
    assert api.get("/api/dataset", headers=dev1).json()["items"] == []

    r = api.post("/api/dataset/register", json={"name": "  고객 문의 v2  ", "tags": [" faq "]}, headers=dev1)
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["tags"]) == ("고객 문의 v2", ["faq"])
    assert api.patch(f"/api/dataset/{r.json()['id']}", json={"tags": ["a\u2028b"]}, headers=dev1).status_code == 422
