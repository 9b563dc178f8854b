"""Deleted models and datasets: another team can neither see them in its Deleted list, nor restore
or purge them, nor learn that they exist (404 like a missing id); a Viewer of the owning team cannot
restore; a non-Admin cannot purge; a deleted organisation-wide model no longer resolves by name for
anyone; its files are not downloadable."""

from __future__ import annotations

from tests.factories import corpus_csv, dir_files, make_account, make_team, register_model, upload_dataset, upload_model


def _delete(api, path: str, name: str, headers: dict, **params):
    return api.request("DELETE", path, json={"confirm_name": name}, params=params, headers=headers)


def test_other_teams_cannot_see_restore_or_purge_deleted_items(api, admin, demo_dirs):
    nlp, vision = make_team(api, admin, "nlp"), make_team(api, admin, "vision")
    dev1 = make_account(api, admin, "dev1", "developer", nlp).headers
    view1 = make_account(api, admin, "view1", "viewer", nlp).headers
    dev2 = make_account(api, admin, "dev2", "developer", vision).headers

    model = register_model(api, dev1, "shared-secret", visibility="organization")
    upload_model(api, dev1, model["id"], dir_files(demo_dirs[0]))
    ds = upload_dataset(api, dev1, corpus_csv(), "c.csv", name="secret-rows", visibility="organization").json()
    assert _delete(api, f"/api/model/{model['id']}", "shared-secret", dev1).status_code == 204
    assert _delete(api, f"/api/dataset/{ds['dataset_id']}", "secret-rows", dev1).status_code == 204

    for headers in (dev2,):
        assert api.get("/api/model/deleted", headers=headers).json() == []
        assert api.get("/api/dataset/deleted", headers=headers).json() == []
        for path in (f"/api/model/{model['id']}/restore", f"/api/dataset/{ds['dataset_id']}/restore"):
            r = api.post(path, headers=headers)
            assert r.status_code == 404, r.text
        # The same answer as for an id that never existed.
        ghost = api.post("/api/model/00000000-0000-0000-0000-00000000dead/restore", headers=headers)
        assert ghost.status_code == 404 and ghost.json()["type"] == r.json()["type"].replace("dataset", "model")
        # Deleting it again or reading it by its old (organisation-wide) visibility: gone.
        assert _delete(api, f"/api/model/{model['id']}", "shared-secret", headers).status_code == 404
        assert api.get(f"/api/model/{model['id']}", headers=headers).status_code == 404
        assert api.get("/api/model", params={"q": "shared-secret"}, headers=headers).json()["items"] == []

    # The owning team's Viewer sees the list but may not restore; nobody but an Admin purges.
    assert [m["name"] for m in api.get("/api/model/deleted", headers=view1).json()] == ["shared-secret"]
    assert api.post(f"/api/model/{model['id']}/restore", headers=view1).status_code == 403
    refused = _delete(api, f"/api/model/{model['id']}", "shared-secret", dev1, purge="true")
    assert refused.status_code == 403 and refused.json()["type"].endswith("/purge_admin_only")
    refused = _delete(api, f"/api/dataset/{ds['dataset_id']}", "secret-rows", dev1, purge="true")
    assert refused.status_code == 403
    # Still restorable by its team after all that.
    assert api.post(f"/api/model/{model['id']}/restore", headers=dev1).status_code == 200
    assert api.post(f"/api/dataset/{ds['dataset_id']}/restore", headers=dev1).status_code == 200
    audit = api.get("/api/audit/logs", params={"limit": 200}, headers=admin).json()["items"]
    assert [e["actor_name"] for e in audit if e["action"] in ("model.restore", "dataset.restore")] == ["dev1", "dev1"]


def test_a_deleted_model_stops_resolving_by_name(api, admin, demo_dirs, live_server):
    import asyncio

    from axops.auth.scoping import SYSTEM
    from axops.core.errors import NotFound
    from axops.registry import service

    team = make_team(api, admin, "nlp")
    dev1 = make_account(api, admin, "dev1", "developer", team).headers
    model = register_model(api, dev1, "resolver-target", visibility="organization")
    upload_model(api, dev1, model["id"], dir_files(demo_dirs[0]))
    state = live_server.app.state.axops

    async def resolve() -> str:
        async with state.db.sessionmaker() as session:
            try:
                await service.resolve(session, SYSTEM, "resolver-target", "latest")
                return "found"
            except NotFound:
                return "missing"

    run = lambda: asyncio.run_coroutine_threadsafe(resolve(), live_server.server_loop).result(30)  # noqa: E731
    assert run() == "found"
    assert _delete(api, f"/api/model/{model['id']}", "resolver-target", dev1).status_code == 204
    assert run() == "missing"  # the gateway (as the system) no longer reaches it either
