"""A run's dataset inputs (mlflow.log_input) on its page: name, digest, context, source, schema, and a link to the
axops dataset version the source names."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import check_page, ui_login
from tests.factories import PASSWORD, make_account, new_run, upload_dataset


def test_run_page_shows_dataset_inputs(api, admin, browser_page, live_server, tmp_path):
    h = make_account(api, admin, "inputs-ui", new_team="inputs-ui-team").headers
    r = upload_dataset(api, h, b"text,label\nhello,1\nworld,0\n", "reviews.csv", name="reviews")
    assert r.status_code == 201, r.text
    version = r.json()
    run = new_run(api, h, experiment="inputs-ui", name="with-inputs")
    schema = '{"mlflow_colspec": [{"type": "string", "name": "text"}, {"type": "long", "name": "label"}]}'
    datasets = [
        {
            "tags": [{"key": "mlflow.data.context", "value": "training"}],
            "dataset": {
                "name": "reviews-train",
                "digest": "3f2a9c1d",
                "source_type": "http",
                "source": f'{{"url": "{live_server.url}/api/dataset/version/{version["id"]}/download"}}',
                "schema": schema,
            },
        },
        {
            "tags": [{"key": "mlflow.data.context", "value": "eval"}],
            "dataset": {
                "name": "holdout",
                "digest": "77aa01",
                "source_type": "s3",
                "source": '{"uri": "s3://b/holdout.csv"}',
            },
        },
    ]
    r = api.post("/api/2.0/mlflow/runs/log-inputs", json={"run_id": run["id"], "datasets": datasets}, headers=h)
    assert r.status_code == 200, r.text

    page = browser_page
    ui_login(page, "inputs-ui", PASSWORD)
    page.goto(f"/experiments/runs/{run['id']}")
    panel = page.get_by_test_id("run-inputs")
    expect(panel.get_by_test_id("run-input")).to_have_count(2, timeout=30_000)
    expect(panel).to_contain_text("입력 데이터셋")
    first = panel.get_by_test_id("run-input").first
    expect(first).to_contain_text("reviews-train")
    expect(first).to_contain_text("3f2a9c1d")
    expect(first).to_contain_text("training")
    expect(first).to_contain_text("label: long")
    expect(panel.get_by_test_id("run-input").nth(1)).to_contain_text("s3://b/holdout.csv")
    expect(panel.get_by_test_id("run-input-link")).to_have_count(1)
    expect(panel.get_by_test_id("run-input-link")).to_have_text("reviews v1")
    check_page(
        page,
        allow=(
            "with-inputs",
            "inputs-ui",
            "reviews-train",
            "reviews",
            "holdout",
            "training",
            "eval",
            "text: string",
            "label: long",
            "http",
            "s3",
            "string",
            "long",
            "text",
            "label",
        ),
    )
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "run-inputs.png"), full_page=True)
    panel.get_by_test_id("run-input-link").click()
    expect(page).to_have_url(re.compile(rf"/datasets/{version['dataset_id']}"))
