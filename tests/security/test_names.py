"""Issue 12, the registry's names: registering a model or dataset named like another team's private
one answered 409 "exists" (an existence oracle) — names are now unique per team, and a name
resolves to the caller's own team's model first. Control characters are refused in names and file
paths, and every download name is sent as an ASCII fallback plus `filename*=UTF-8''…`."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import unquote

import pytest

from axops.auth.deps import Principal
from axops.core.errors import Conflict, Invalid
from axops.core.text import content_disposition
from axops.experiments.artifacts import artifact_path
from axops.registry import service as registry
from tests.factories import dir_files, upload_model


def _register(api, account, name: str, **extra):
    return api.post(
        "/api/model/register", json={"name": name, "team_id": account.team["id"], **extra}, headers=account.headers
    )


def _released(api, account, name: str, demo_dir, **extra) -> tuple[dict, dict]:
    """A model of the account's team with one version aliased `production`."""
    r = _register(api, account, name, **extra)
    assert r.status_code == 201, r.text
    model = r.json()
    version = upload_model(api, account.headers, model["id"], dir_files(demo_dir))
    assert version.status_code == 201, version.text
    alias = api.put(
        f"/api/model/{model['id']}/aliases/production",
        json={"version_id": version.json()["id"]},
        headers=account.headers,
    )
    assert alias.status_code == 204, alias.text
    return model, version.json()


def _resolve(live_server, principal: Principal, name: str, ref: str):
    """registry.resolve — what serving, training and the gateway call with a `name@ref` — on the server's loop."""
    state = live_server.app.state.axops

    async def run():
        async with state.db.sessionmaker() as session:
            model, version = await registry.resolve(session, principal, name, ref)
            return str(model.id), str(version.id)

    return asyncio.run_coroutine_threadsafe(run(), live_server.server_loop).result(30)


def _principal(account, role: str = "developer") -> Principal:
    return Principal(
        user_id=uuid.UUID(account.user_id),
        username=account.username,
        role=role,
        permissions=frozenset({"models:read"}),
        team_ids=frozenset({uuid.UUID(account.team["id"])}),
    )


def test_same_names_in_two_teams_no_oracle_and_each_resolves_its_own(
    api, admin, victim, attacker, live_server, demo_dirs
):
    victims_model, victims_version = _released(api, victim, "secret-llm", demo_dirs[0])
    r = api.post(
        "/api/dataset/register", json={"name": "secret-data", "team_id": victim.team["id"]}, headers=victim.headers
    )
    assert r.status_code == 201, r.text

    # The attacker learns nothing: the same names are free in their own team.
    attackers_model, attackers_version = _released(api, attacker, "secret-llm", demo_dirs[1])
    r = api.post(
        "/api/dataset/register", json={"name": "secret-data", "team_id": attacker.team["id"]}, headers=attacker.headers
    )
    assert r.status_code == 201, r.text
    # Within one team a name is still taken (case-insensitively for models).
    assert _register(api, attacker, "SECRET-LLM").status_code == 409
    again = api.post(
        "/api/dataset/register", json={"name": "secret-data", "team_id": attacker.team["id"]}, headers=attacker.headers
    )
    assert again.status_code == 409

    assert _resolve(live_server, _principal(victim), "secret-llm", "production") == (
        victims_model["id"],
        victims_version["id"],
    )
    assert _resolve(live_server, _principal(attacker), "secret-llm", "production") == (
        attackers_model["id"],
        attackers_version["id"],
    )


def test_an_ambiguous_name_answers_409_naming_the_ids(api, admin, victim, attacker, live_server, demo_dirs):
    victims, _ = _released(api, victim, "shared-llm", demo_dirs[0], visibility="organization")
    attackers, own = _released(api, attacker, "shared-llm", demo_dirs[1], visibility="organization")
    # The attacker sees both; their own team's wins.
    assert _resolve(live_server, _principal(attacker), "shared-llm", "production")[1] == own["id"]
    # An Admin of neither team cannot tell which is meant: 409 with both ids.
    outsider = Principal(user_id=uuid.uuid4(), username="root", role="admin", permissions=frozenset({"models:read"}))
    with pytest.raises(Conflict) as refused:
        _resolve(live_server, outsider, "shared-llm", "production")
    assert victims["id"] in refused.value.detail and attackers["id"] in refused.value.detail


BAD_NAMES = [
    "evil\r\nSet-Cookie: x=1",
    "tab\tname",
    "nul\x00",
    "del\x7f",
    "c1\x85name",
    "line\u2028sep",
    "para\u2029sep",
]


def test_control_characters_refused_in_model_names_and_file_paths(api, victim, demo_dirs, live_server):
    for name in BAD_NAMES:
        r = _register(api, victim, name)
        assert r.status_code == 422, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    model = _register(api, victim, "clean-name").json()
    for name in BAD_NAMES:
        r = api.post(
            f"/api/model/{model['id']}/uploads", json={"files": [{"path": name, "size": 3}]}, headers=victim.headers
        )
        assert r.status_code == 422, (name, r.text)
    # Multipart file names (httpx percent-encodes C0 in them; DEL, C1 and separators arrive as sent).
    weights = (demo_dirs[0] / "model.safetensors").read_bytes()
    for name in ("del\x7f.json", "c1\x85.json", "line\u2028sep.json"):
        r = upload_model(api, victim.headers, model["id"], {"model.safetensors": weights, name: b"{}"})
        assert r.status_code == 422, (name, r.text)
    assert api.get(f"/api/model/{model['id']}/versions", headers=victim.headers).json() == []
    for path in ("plots/a\nb.png", "x\u2028y", "c1\x85"):
        with pytest.raises(Invalid):
            artifact_path(path)


def test_control_characters_refused_in_dataset_file_names(api, victim):
    for name in ("data\x85.csv", "line\u2028.csv", "del\x7f.csv"):
        r = api.post(
            "/api/dataset/upload",
            data={"name": "tickets", "team_id": victim.team["id"]},
            files={"file": (name, b"a,b\n1,2\n")},
            headers=victim.headers,
        )
        assert r.status_code == 422, (name, r.text)
        r = api.post(
            "/api/dataset/uploads",
            json={"dataset": {"name": "tickets"}, "filename": name, "size": 8},
            headers=victim.headers,
        )
        assert r.status_code == 422, (name, r.text)
    assert api.get("/api/dataset", headers=victim.headers).json()["items"] == []


def test_download_names_use_an_ascii_fallback_and_rfc5987(api, victim, demo_dirs):
    model = _register(api, victim, "한국어-모델").json()
    files = {**dir_files(demo_dirs[0]), "메모 초안.txt": b"hello"}
    version = upload_model(api, victim.headers, model["id"], files)
    assert version.status_code == 201, version.text
    vid = version.json()["id"]

    r = api.get(f"/api/model/version/{vid}/files/메모 초안.txt", headers=victim.headers)
    assert r.status_code == 200 and r.content == b"hello"
    header = r.headers["content-disposition"]
    assert header.isascii()
    fallback, encoded = header.split("; filename=", 1)[1].split("; filename*=UTF-8''")
    assert fallback == '"__ __.txt"'
    assert unquote(encoded) == "메모 초안.txt"

    tar = api.get(f"/api/model/version/{vid}/download", headers=victim.headers)
    assert tar.status_code == 200
    assert unquote(tar.headers["content-disposition"].split("filename*=UTF-8''")[1]) == "한국어-모델-v1.tar"


def test_content_disposition_strips_what_breaks_headers():
    header = content_disposition('a\r\nb"c\\d\x85e\u2028f.txt')
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.startswith("attachment; filename=\"ab_c_def.txt\"; filename*=UTF-8''")
    assert unquote(header.split("filename*=UTF-8''")[1]) == 'ab"c_def.txt'
