"""The MLflow registry door must not open another team's models: MLflow names are flat, axops names are per team.
Another team's private model answers as absent for every read and change, its files do not download through
the registry artifact paths, and a name clash is refused without saying who holds the name."""

from __future__ import annotations

from tests.factories import make_key, register_model, upload_model

BASE = "/api/2.0/mlflow"
SCOPES = ["models:read", "models:write", "training:read", "training:write"]


def _key(api, account, scopes=SCOPES) -> dict:
    return {"Authorization": f"Bearer {make_key(api, account.headers, 'mlflow', scopes=scopes)['key']}"}


def _code(r) -> tuple[int, str]:
    return r.status_code, r.json().get("error_code")


def test_another_teams_model_is_absent_through_mlflow(api, victim, attacker, victim_team):
    model = register_model(api, victim.headers, "hidden-model")
    assert upload_model(api, victim.headers, model["id"], {"config.json": b"{}", "w.bin": b"secret"}).status_code == 201
    h = _key(api, attacker)
    name = {"name": "hidden-model"}
    for method, path, body in [
        ("GET", "/registered-models/get", name),
        ("GET", "/model-versions/get", {**name, "version": "1"}),
        ("GET", "/model-versions/get-download-uri", {**name, "version": "1"}),
        ("GET", "/registered-models/alias", {**name, "alias": "champion"}),
        ("POST", "/registered-models/alias", {**name, "alias": "mine", "version": "1"}),
        ("POST", "/registered-models/rename", {**name, "new_name": "stolen"}),
        ("PATCH", "/registered-models/update", {**name, "description": "pwned"}),
        ("POST", "/registered-models/set-tag", {**name, "key": "k", "value": "v"}),
        ("POST", "/model-versions/transition-stage", {**name, "version": "1", "stage": "Production"}),
        ("POST", "/model-versions/create", {**name, "source": "runs:/0123456789abcdef0123456789abcdef/m"}),
        ("DELETE", "/model-versions/delete", {**name, "version": "1"}),
        ("DELETE", "/registered-models/delete", name),
    ]:
        r = api.request(method, BASE + path, **({"params": body} if method == "GET" else {"json": body}), headers=h)
        assert _code(r) == (404, "RESOURCE_DOES_NOT_EXIST"), (path, r.text)
        assert victim_team["name"] not in r.text
    r = api.get(BASE + "/registered-models/search", params={"filter": "name LIKE 'hidden%'"}, headers=h)
    assert r.json().get("registered_models", []) == []
    assert api.get(BASE + "/model-versions/search", headers=h).json().get("model_versions", []) == []
    # the files, by the path get-download-uri would have answered
    hex_id = model["id"].replace("-", "")
    r = api.get(f"/api/2.0/mlflow-artifacts/artifacts/registry/{hex_id}/1/w.bin", headers=h)
    assert _code(r) == (404, "RESOURCE_DOES_NOT_EXIST") and b"secret" not in r.content
    r = api.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": f"registry/{hex_id}/1"}, headers=h)
    assert _code(r) == (404, "RESOURCE_DOES_NOT_EXIST")
    # the clash: refused like MLflow's, without the holder
    r = api.post(BASE + "/registered-models/create", json=name, headers=h)
    assert _code(r) == (400, "RESOURCE_ALREADY_EXISTS")
    assert victim_team["name"] not in r.text and model["id"] not in r.text and hex_id not in r.text
    # nothing changed for the owner
    mine = api.get(f"/api/model/{model['id']}", headers=victim.headers).json()
    assert mine["name"] == "hidden-model" and mine["description"] == "" and mine["aliases"] == {}


def test_a_key_without_models_write_cannot_change_the_registry(api, victim):
    register_model(api, victim.headers, "read-only-target")
    h = _key(api, victim, ["models:read"])
    r = api.post(BASE + "/registered-models/create", json={"name": "sneaky"}, headers=h)
    assert _code(r) == (403, "PERMISSION_DENIED")
    r = api.post(BASE + "/registered-models/set-tag", json={"name": "read-only-target", "key": "k"}, headers=h)
    assert _code(r) == (403, "PERMISSION_DENIED")
    assert api.get(BASE + "/registered-models/get", params={"name": "read-only-target"}, headers=h).status_code == 200
    tracking_only = _key(api, victim, ["training:read", "training:write"])
    r = api.get(BASE + "/registered-models/get", params={"name": "read-only-target"}, headers=tracking_only)
    assert _code(r) == (403, "PERMISSION_DENIED")
