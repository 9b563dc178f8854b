"""A run's MLflow logged models on its page: name, id, type and upload status; a click opens the model's files
among the run's artifacts."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import check_page, ui_login
from tests.factories import PASSWORD, make_account, new_run

ML = "/api/2.0/mlflow"


def test_run_page_lists_logged_models(api, admin, browser_page, live_server, tmp_path):
    h = make_account(api, admin, "lm-ui", new_team="lm-ui-team").headers
    run = new_run(api, h, experiment="lm-ui", name="with-model")
    run_hex = run["id"].replace("-", "")
    r = api.post(
        f"{ML}/logged-models", json={"source_run_id": run_hex, "name": "chatbot", "model_type": "llm"}, headers=h
    )
    assert r.status_code == 200, r.text
    info = r.json()["model"]["info"]
    folder = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert api.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{folder}/MLmodel", content=b"flavors: {}\n", headers=h
    ).is_success
    r = api.patch(f"{ML}/logged-models/{info['model_id']}", json={"status": "LOGGED_MODEL_READY"}, headers=h)
    assert r.status_code == 200, r.text

    page = browser_page
    ui_login(page, "lm-ui", PASSWORD)
    page.goto(f"/experiments/runs/{run['id']}")
    panel = page.get_by_test_id("run-logged-models")
    expect(panel).to_contain_text("기록된 모델", timeout=30_000)
    expect(panel).to_contain_text("chatbot")
    expect(panel).to_contain_text(info["model_id"])
    expect(panel).to_contain_text("준비됨")
    check_page(page, allow=("with-model", "lm-ui", "chatbot", "llm", info["model_id"], "MLmodel", "logged-models"))
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "run-logged-models.png"), full_page=True)
    panel.get_by_text("chatbot").click()
    expect(page.get_by_test_id("run-artifacts")).to_contain_text("MLmodel")
