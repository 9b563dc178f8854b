"""Browser journey of experiment tracking: runs logged through the API → dashboard → filter (and a bad
filter's error) → compare two runs → overlaid charts, parameter differences, parallel coordinates,
report download → a run's page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import field, ui_login
from tests.factories import PASSWORD, log_batch, make_account, new_run


def test_dashboard_filter_compare(api, admin, browser_page):
    h = make_account(api, admin, "exp-ui", new_team="exp-team").headers
    for name, lr, method, final in (
        ("lora-a", "0.0001", "lora", 1.2),
        ("lora-b", "0.0005", "lora", 1.8),
        ("full-c", "0.01", "full", 2.6),
    ):
        run = new_run(api, h, experiment="sweep-ui", name=name, params={"lr": lr, "r": "8"}, tags={"method": method})
        points = [{"key": "loss", "value": 3.0 - (3.0 - final) * s / 49, "step": s} for s in range(50)]
        points += [{"key": "acc", "value": 0.5 + 0.4 * s / 49 * (3 - final) / 2, "step": s} for s in range(50)]
        points += [{"key": "system/cpu_utilization_percentage", "value": 40.0 + s % 7, "step": s} for s in range(50)]
        assert log_batch(api, h, run["id"], points).status_code == 200
        if name == "lora-a":
            target = f"/api/2.0/mlflow-artifacts/artifacts/{run['experiment_id'].replace('-', '')}/{run['id'].replace('-', '')}/artifacts"
            assert api.put(f"{target}/plots/loss.csv", content=b"step,loss\n0,3.0\n", headers=h).status_code == 200

    page = browser_page
    ui_login(page, "exp-ui", PASSWORD)
    page.get_by_test_id("nav-experiments").click()
    expect(page.get_by_test_id("experiments-list")).to_contain_text("sweep-ui")
    table = page.get_by_test_id("runs-table")
    for name in ("lora-a", "lora-b", "full-c"):
        expect(table).to_contain_text(name)

    # a malformed filter says what is wrong; a good one narrows the table
    field(page, "runs-filter").fill("metrics.loss <")
    field(page, "runs-filter").press("Enter")
    expect(page.get_by_test_id("filter-error")).to_contain_text("filter")
    field(page, "runs-filter").fill("params.lr < 0.001 and metrics.loss < 2.0 and tags.method = 'lora'")
    field(page, "runs-filter").press("Enter")
    expect(page.get_by_test_id("filter-error")).to_have_count(0)
    expect(table).not_to_contain_text("full-c")
    expect(table.locator("tbody tr")).to_have_count(2)

    # select both runs and compare them
    table.locator("thead input[type=checkbox]").check()
    page.get_by_test_id("runs-compare").click()
    expect(page).to_have_url(re.compile(r"/experiments/compare\?runs="))
    expect(page.get_by_test_id("compare-chart-loss").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("compare-chart-acc").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("param-diff-lr")).to_contain_text("0.0001")
    expect(page.get_by_test_id("param-diff-lr")).to_contain_text("0.0005")
    expect(page.get_by_test_id("param-r")).to_be_visible()  # the same in both: not highlighted
    expect(page.get_by_test_id("compare-parallel").locator("canvas")).to_be_visible()
    with page.expect_download() as d:
        page.get_by_test_id("compare-report").click()
    assert d.value.suggested_filename == "comparison.md"
    with open(d.value.path(), encoding="utf-8") as f:
        assert "| **lr** |" in f.read()

    # a run's own page: params, tags and its metric charts
    page.get_by_role("link", name=re.compile("lora-a")).first.click()
    expect(page.get_by_test_id("run-name")).to_have_text("lora-a")
    expect(page.get_by_test_id("run-params")).to_contain_text("0.0001")
    expect(page.get_by_test_id("run-tags")).to_contain_text("lora")
    expect(page.get_by_test_id("run-chart-loss").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("run-chart-system/cpu_utilization_percentage")).to_have_count(
        0
    )  # apart, as system metrics
    expect(page.get_by_test_id("run-system-metrics").locator("canvas")).to_be_visible()
    artifacts = page.get_by_test_id("run-artifacts")
    artifacts.get_by_text("plots").click()
    with page.expect_download() as d:
        artifacts.get_by_text("loss.csv").click()
    assert d.value.suggested_filename == "loss.csv"
    with open(d.value.path(), encoding="utf-8") as f:
        assert f.read() == "step,loss\n0,3.0\n"
