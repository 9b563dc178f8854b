"""Serving on the local executor, end to end: the demo model deployed from the registry, called
through the gateway with the `openai` SDK, a replica killed and restarted, a failing canary rolled
back automatically, and the bad inputs (no weights, corrupt weights, too little memory)."""

from __future__ import annotations

import os
import signal
import threading
import time

import openai
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.factories import (
    admin_headers,
    dir_files,
    make_account,
    register_model,
    upload_model,
    wait_deployment,
)


@pytest.fixture
def dev(api, admin):
    """A Developer of team "serving", with an API key that calls the gateway and reads deployments."""
    return make_account(api, admin, "dev1", new_team="serving", key_scopes=["gateway:invoke", "deployments:read"])


def pids_alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


def test_deploy_call_through_gateway_survive_a_killed_replica_and_undeploy(api, dev, demo_dirs, live_server):
    h = dev.headers
    model = register_model(api, h, "tiny-chat")
    assert upload_model(api, h, model["id"], dir_files(demo_dirs[0])).status_code == 201
    r = api.post(
        "/api/serving/deploy",
        json={
            "model": "tiny-chat",
            "ref": "latest",
            "replicas_min": 2,
            "replicas_max": 2,
            "resources": {"memory_gb": 1},
            "pricing": {"gpu_hour_price": 3.6, "throughput_tokens_per_s": 1},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["name"] == "tiny-chat" and d["status"] == "pending" and d["version"] == 1
    d = wait_deployment(
        api, h, d["id"], lambda x: x["status"] == "ready" and sum(r["state"] == "ready" for r in x["replicas"]) == 2
    )
    assert d["ready_seconds"] is not None and d["ready_seconds"] < 120

    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=dev.key, max_retries=0)
    assert "tiny-chat" in [m.id for m in client.models.list().data]
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "안녕하세요"}], max_tokens=12, temperature=0
    )
    assert answer.model == "tiny-chat" and answer.usage.completion_tokens >= 1
    assert answer.usage.prompt_tokens > 3 and answer.choices[0].finish_reason in ("stop", "length")
    chunks = list(
        client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": "hello"}],
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage.completion_tokens >= 1 and isinstance(text, str)
    # priced by GPU time: 3.6 an hour at 1 token/s is 1,000 per 1M tokens
    deadline = time.monotonic() + 10
    while not (totals := api.get("/api/metrics/usage", headers=h).json()["totals"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    spent = sum(t["cost"] for t in totals)
    tokens = sum(t["prompt_tokens"] + t["completion_tokens"] for t in totals)
    assert tokens > 0 and spent == pytest.approx(tokens / 1000, rel=1e-6)
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.chat.completions.create(
            model="tiny-chat", messages=[{"role": "user", "content": "토큰 " * 400}], max_tokens=8
        )
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "hi"}], temperature=7)

    # kill one replica while traffic flows: every call still succeeds, and the replica comes back
    victim = next(r for r in d["replicas"] if r["index"] == 0)
    failures, done = [], threading.Event()

    def traffic():
        while not done.is_set():
            try:
                client.chat.completions.create(
                    model="tiny-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=4
                )
            except openai.OpenAIError as exc:
                failures.append(exc)

    worker = threading.Thread(target=traffic)
    worker.start()
    time.sleep(0.5)
    os.kill(victim["pid"], signal.SIGKILL)
    d = wait_deployment(
        api,
        h,
        d["id"],
        lambda x: any(
            r["index"] == 0 and r["restarts"] == victim["restarts"] + 1 and r["state"] == "ready" for r in x["replicas"]
        ),
    )
    done.set()
    worker.join()
    assert not failures, failures[:3]
    restarted = next(r for r in d["replicas"] if r["index"] == 0)
    assert "SIGKILL" in restarted["last_exit"] and restarted["pid"] != victim["pid"]
    assert any(e["kind"] == "degraded" or "SIGKILL" in e["message"] for e in d["events"]) or d["status"] == "ready"

    logs = api.get(f"/api/serving/deployments/{d['id']}/logs", params={"replica": 1}, headers=h).json()
    assert any("runtime.ready" in line for line in logs["lines"])

    # another team sees nothing; a viewer-less key cannot deploy
    pids = [r["pid"] for r in d["replicas"]]
    r = api.delete(f"/api/serving/deployments/{d['id']}", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "stopped"
    deadline = time.monotonic() + 30
    while pids_alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pids_alive(pids)
    assert "tiny-chat" not in [m.id for m in client.models.list().data]
    actions = [
        e["action"]
        for e in api.get("/api/audit/logs", params={"limit": 200}, headers=admin_headers(api)).json()["items"]
    ]
    assert {"deployment.create", "model.deploy", "deployment.delete", "gateway.route_create"} <= set(actions)


def test_a_failing_canary_is_rolled_back_automatically(api, dev, demo_dirs, live_server, tmp_path):
    h = dev.headers
    model = register_model(api, h, "canary-chat")
    v1 = upload_model(api, h, model["id"], dir_files(demo_dirs[0])).json()
    broken = tmp_path / "broken"
    broken.mkdir()
    for p in demo_dirs[0].iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    tensors = load_file(broken / "model.safetensors")
    tensors = {k: torch.full_like(v, float("nan")) if "wte" in k else v for k, v in tensors.items()}
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    v2 = upload_model(api, h, model["id"], dir_files(broken)).json()
    stable = api.post(
        "/api/serving/deploy", json={"version_id": v1["id"], "resources": {"memory_gb": 1}}, headers=h
    ).json()
    wait_deployment(api, h, stable["id"], lambda x: x["status"] == "ready")
    r = api.post(
        "/api/serving/deploy",
        json={
            "version_id": v2["id"],
            "canary_of": stable["id"],
            "canary_weight": 50,
            "resources": {"memory_gb": 1},
            "rollback": {"max_error_rate": 0.2, "window_s": 60, "min_requests": 20},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    canary = wait_deployment(api, h, r.json()["id"], lambda x: x["status"] == "ready")
    assert canary["name"] == "canary-chat-canary"
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=dev.key, max_retries=0)
    # clients never see the canary's errors: the gateway retries them on the stable replicas
    for _ in range(24):  # about half go to the canary first; three failures there are enough to judge it
        out = client.chat.completions.create(
            model="canary-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        assert out.choices[0].message.content is not None
    canary = wait_deployment(api, h, canary["id"], lambda x: x["status"] == "stopped", timeout=30)
    assert "rolled back: error rate" in canary["status_reason"]
    audit = api.get("/api/audit/logs", params={"action": "deployment.rollback"}, headers=admin_headers(api)).json()[
        "items"
    ]
    assert audit and audit[0]["summary"]["automatic"] is True and audit[0]["actor_name"] == "system"
    stable = api.get(f"/api/serving/deployments/{stable['id']}", headers=h).json()
    assert stable["status"] == "ready"
    api.delete(f"/api/serving/deployments/{stable['id']}", headers=h)


def test_bad_deployments_fail_fast_and_register_nothing(api, dev, demo_dirs, live_server, tmp_path, admin):
    h = dev.headers
    model = register_model(api, h, "bad-weights")
    files = dir_files(demo_dirs[0])
    no_weights = {k: v for k, v in files.items() if not k.endswith(".safetensors")}
    v1 = upload_model(api, h, model["id"], no_weights).json()
    r = api.post("/api/serving/deploy", json={"version_id": v1["id"]}, headers=h)
    assert r.status_code == 422 and "no weights" in r.json()["detail"]
    ok = upload_model(api, h, model["id"], files).json()
    r = api.post("/api/serving/deploy", json={"version_id": ok["id"], "resources": {"memory_gb": 0.0001}}, headers=h)
    assert r.status_code == 422 and "GiB" in r.json()["detail"] and r.json()["needed_gb"] > 0
    assert r.json()["type"].endswith("/replica_memory_too_small") and r.json()["memory_gb"] > 0
    r = api.post("/api/serving/deploy", json={"version_id": ok["id"], "resources": {"gpu": 1}}, headers=h)
    assert r.status_code == 422 and "GPU" in r.json()["detail"]
    r = api.post("/api/serving/deploy", json={"version_id": ok["id"], "replicas_min": 3, "replicas_max": 2}, headers=h)
    assert r.status_code == 422
    r = api.post("/api/serving/deploy", json={"version_id": ok["id"], "name": "DROP TABLE x;"}, headers=h)
    assert r.status_code == 422

    # weights whose bytes were damaged after upload: the runtime refuses them, naming the file
    state = live_server.app.state.axops
    key = f"models/{model['id']}/{ok['id']}/model.safetensors"
    path = state.storage.local_path(key)
    r = api.post(
        "/api/serving/deploy",
        json={"version_id": ok["id"], "name": "bad-weights", "resources": {"memory_gb": 1}},
        headers=h,
    )
    assert r.status_code == 201
    d = r.json()
    if path is not None and path.exists():
        path.write_bytes(b"\x00" * path.stat().st_size)  # bit rot in the store: same size, other bytes
        d = wait_deployment(api, h, d["id"], lambda x: x["status"] == "failed", timeout=60)
        assert "model.safetensors" in d["status_reason"]
        routes = [x["model_name"] for x in api.get("/api/gateway/routes", headers=admin).json()]
        assert "bad-weights" not in routes
    api.delete(f"/api/serving/deployments/{d['id']}", headers=h)
    # someone else's deployment is not there for another team
    h2 = make_account(api, admin, "dev2", new_team="other").headers
    assert api.get(f"/api/serving/deployments/{d['id']}", headers=h2).status_code == 404
    assert api.post(f"/api/serving/deployments/{d['id']}/restart", headers=h2).status_code == 404


def test_scale_restart_canary_weight_and_promote(api, dev, demo_dirs, live_server, admin):
    h = dev.headers
    model = register_model(api, h, "promo-chat")
    v1 = upload_model(api, h, model["id"], dir_files(demo_dirs[0])).json()
    v2 = upload_model(api, h, model["id"], dir_files(demo_dirs[1])).json()
    stable = api.post(
        "/api/serving/deploy", json={"version_id": v1["id"], "resources": {"memory_gb": 1}}, headers=h
    ).json()
    stable = wait_deployment(api, h, stable["id"], lambda x: x["status"] == "ready")

    r = api.post(
        f"/api/serving/deployments/{stable['id']}/scale", json={"replicas_min": 2, "replicas_max": 2}, headers=h
    )
    assert r.status_code == 200 and r.json()["replicas_desired"] == 2
    stable = wait_deployment(api, h, stable["id"], lambda x: sum(r["state"] == "ready" for r in x["replicas"]) == 2)
    before = {r["pid"] for r in stable["replicas"]}
    assert api.post(f"/api/serving/deployments/{stable['id']}/restart", headers=h).status_code == 200
    stable = wait_deployment(
        api,
        h,
        stable["id"],
        lambda x: (
            len(x["replicas"]) == 2
            and all(r["state"] == "ready" for r in x["replicas"])
            and not ({r["pid"] for r in x["replicas"]} & before)
        ),
        timeout=120,
    )

    canary = api.post(
        "/api/serving/deploy",
        json={"version_id": v2["id"], "canary_of": stable["id"], "canary_weight": 30, "resources": {"memory_gb": 1}},
        headers=h,
    ).json()
    assert (
        api.post(
            "/api/serving/deploy",
            json={"version_id": v2["id"], "canary_of": stable["id"], "resources": {"memory_gb": 1}},
            headers=h,
        ).status_code
        == 409
    )  # one canary at a time
    canary = wait_deployment(api, h, canary["id"], lambda x: x["status"] == "ready")
    routes = {x["model_name"]: x for x in api.get("/api/gateway/routes", headers=admin).json()}
    weights = sorted(t["weight"] for t in routes["promo-chat"]["targets"])
    assert weights == [30.0, 35.0, 35.0] and routes["promo-chat"]["strategy"] == "weighted"
    assert (
        api.patch(
            f"/api/gateway/routes/{routes['promo-chat']['id']}", json={"description": "mine"}, headers=admin
        ).status_code
        == 409
    )

    assert (
        api.put(f"/api/serving/deployments/{canary['id']}/canary/weight", json={"weight": 60}, headers=h).status_code
        == 200
    )
    routes = {x["model_name"]: x for x in api.get("/api/gateway/routes", headers=admin).json()}
    assert sorted(t["weight"] for t in routes["promo-chat"]["targets"]) == [20.0, 20.0, 60.0]

    r = api.post(f"/api/serving/deployments/{canary['id']}/promote", headers=h)
    assert r.status_code == 200, r.text
    promoted = r.json()
    assert promoted["name"] == "promo-chat" and promoted["canary_of"] is None and promoted["version"] == 2
    assert api.get(f"/api/serving/deployments/{stable['id']}", headers=h).json()["status"] == "stopped"
    routes = {x["model_name"]: x for x in api.get("/api/gateway/routes", headers=admin).json()}
    assert len(routes["promo-chat"]["targets"]) == 1 and routes["promo-chat"]["strategy"] == "least_inflight"
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=dev.key, max_retries=0)
    answer = client.chat.completions.create(
        model="promo-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    assert answer.model == "promo-chat"
    assert api.delete(f"/api/serving/deployments/{promoted['id']}", headers=h).json()["status"] == "stopped"
