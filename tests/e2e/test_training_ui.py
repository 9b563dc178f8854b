"""Fine-tuning in the browser: a researcher creates a LoRA job from the UI, watches its logs and
loss chart fill in, and finds the trained model registered as a new version."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from axops.registry.demo import CORPUS
from tests.conftest import bearer, login, run_tasks
from tests.e2e.conftest import field, pick, ui_login
from tests.integration.test_models import dir_files, register, upload

PASSWORD = "training-ui-pass-123"


def training_lab(
    api, admin, demo_dirs, live_server, username: str, password: str, model_name: str, dataset_name: str
) -> dict:
    """A developer of team "lab" with the demo model registered and an approved corpus dataset: their headers."""
    team = api.post("/api/teams", json={"name": "lab"}, headers=admin).json()
    assert (
        api.post(
            "/api/users",
            json={"username": username, "password": password, "role": "developer", "team_ids": [team["id"]]},
            headers=admin,
        ).status_code
        == 201
    )
    dev = bearer(login(api, username, password)["access_token"])
    model = register(api, dev, model_name)
    assert upload(api, dev, model["id"], dir_files(demo_dirs[0])).status_code == 201
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    csv = "text\n" + "".join('"' + line.replace('"', '""') + '"\n' for line in lines)
    dv = api.post(
        "/api/dataset/upload", data={"name": dataset_name}, files={"file": ("c.csv", csv.encode())}, headers=dev
    ).json()
    run_tasks(live_server)
    assert (
        api.post(f"/api/dataset/version/{dv['id']}/review", json={"decision": "approve"}, headers=admin).status_code
        == 200
    )
    return dev


def test_create_a_job_watch_it_and_find_the_new_version(browser_page: Page, api, admin, demo_dirs, live_server):
    training_lab(api, admin, demo_dirs, live_server, "res.kim", PASSWORD, "ui-base", "ui-corpus")
    page = browser_page
    ui_login(page, "res.kim", PASSWORD)
    page.get_by_test_id("nav-training").click()
    expect(page.get_by_test_id("jobs-empty")).to_be_visible()
    page.get_by_test_id("job-new").click()
    pick(page, "job-model", "ui-base")
    pick(page, "job-dataset", "ui-corpus")
    pick(page, "job-text-column", "text")
    field(page, "job-max-steps").fill("30")
    field(page, "job-lr").fill("0.01")
    field(page, "job-max-seq").fill("64")
    field(page, "job-save-steps").fill("10")
    page.get_by_test_id("job-submit").click()

    expect(page.get_by_test_id("job-name")).to_contain_text("ui-base-ft")
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded", timeout=180_000)
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("job-progress")).to_contain_text("30 / 30")
    expect(page.get_by_test_id("job-logs")).to_contain_text("registered model version")
    expect(page.get_by_test_id("job-checkpoints")).to_contain_text("step 30")
    page.get_by_test_id("job-output").get_by_role("link").click()
    expect(page.get_by_test_id("model-name")).to_have_text("ui-base-ft")
    page.get_by_test_id("tab-versions").click()
    expect(page.get_by_test_id("versions-table")).to_contain_text("v1")
