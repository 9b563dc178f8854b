"""Issue 14: model names are validated as the register form validates them (web/src/rules.ts
`modelName`): letters of any script and digits, then also '.', '_' and '-'. "bad name with spaces!!"
used to be accepted. A model can be renamed (same rule, unique per team) and a person's card edit is
marked, so the UI shows it instead of the facts it renders in the reader's language."""

from __future__ import annotations

import pytest

from tests.factories import dir_files, make_account, make_team, register_model, upload_model

BAD = ["bad name with spaces!!", " lead", "-dash-first", "a/b", "name@prod", "semi;colon", "tab\tname", "", "x" * 201]
GOOD = ["demo-gpt2", "Qwen2.5_7B", "한국어-모델", "STRICT", "v2"]


@pytest.fixture
def dev(api, admin):
    return make_account(api, admin, "names.dev", "developer", make_team(api, admin, "names")).headers


def test_bad_names_are_refused_with_422_and_nothing_is_written(api, dev):
    for name in BAD:
        r = api.post("/api/model/register", json={"name": name}, headers=dev)
        assert r.status_code == 422, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert api.get("/api/model", headers=dev).json()["items"] == []
    for name in GOOD:
        register_model(api, dev, name)
    names = sorted(m["name"] for m in api.get("/api/model", headers=dev).json()["items"])
    assert names == sorted(GOOD)


def test_rename_follows_the_same_rule_and_stays_unique_per_team(api, dev, admin):
    model = register_model(api, dev, "old-name")
    register_model(api, dev, "taken")
    for name in BAD:
        r = api.patch(f"/api/model/{model['id']}", json={"name": name}, headers=dev)
        assert r.status_code == 422, (name, r.text)
    r = api.patch(f"/api/model/{model['id']}", json={"name": "TAKEN"}, headers=dev)
    assert r.status_code == 409, r.text
    assert api.get(f"/api/model/{model['id']}", headers=dev).json()["name"] == "old-name"

    r = api.patch(f"/api/model/{model['id']}", json={"name": "new-name"}, headers=dev)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "new-name"
    assert [m["name"] for m in api.get("/api/model", params={"q": "new-name"}, headers=dev).json()["items"]] == [
        "new-name"
    ]
    events = api.get("/api/audit/logs", params={"action": "model.update"}, headers=admin).json()["items"]
    assert any(e["summary"].get("name") == ["old-name", "new-name"] for e in events), events
    # Another team's user cannot rename it (404, as if it did not exist).
    other = make_account(api, admin, "names.other", "developer", make_team(api, admin, "others")).headers
    assert api.patch(f"/api/model/{model['id']}", json={"name": "mine"}, headers=other).status_code == 404


def test_an_edited_card_is_marked(api, dev, demo_dirs):
    model = register_model(api, dev, "carded")
    version = upload_model(api, dev, model["id"], dir_files(demo_dirs[0])).json()
    assert "edited" not in version["card"]
    r = api.put(f"/api/model/version/{version['id']}/card", json={"card_markdown": "# 우리 모델"}, headers=dev)
    assert r.status_code == 200, r.text
    assert r.json()["card"]["edited"] is True and r.json()["card"]["architecture"] == "GPT2LMHeadModel"
