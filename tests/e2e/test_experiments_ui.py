"""Browser journey of experiment tracking: runs logged through the API → dashboard → filter (and a bad
filter's error) → compare two runs → overlaid charts, parameter differences, parallel coordinates,
report download → a run's page."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.browser import check_page, field, ui_login
from tests.factories import PASSWORD, log_batch, make_account, new_run


def rows_of(table, column: int | str) -> list[str]:
    """The text of one column (by its header's text, or its index: 0 = the selection checkbox) in the table's rows,
    top to bottom."""
    if isinstance(column, str):
        heads = [t.strip() for t in table.locator("thead th").all_inner_texts()]
        column = next(i for i, t in enumerate(heads) if t == column)
    return [t.strip() for t in table.locator(f"tbody tr td:nth-child({column + 1})").all_inner_texts()]


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
    expect(page.get_by_test_id("experiments-list")).to_contain_text("sweep-ui", timeout=30_000)
    table = page.get_by_test_id("runs-table")
    for name in ("lora-a", "lora-b", "full-c"):
        expect(table).to_contain_text(name)

    # a malformed filter says what is wrong (under the box, the last results stay); a good one narrows the table
    field(page, "runs-filter").fill("metrics.loss <")
    field(page, "runs-filter").press("Enter")
    expect(page.get_by_test_id("runs-filter").locator(".v-messages")).to_contain_text("필터를 읽을 수 없습니다")
    expect(table).to_contain_text("full-c")
    field(page, "runs-filter").fill("params.lr < 0.001 and metrics.loss < 2.0 and tags.method = 'lora'")
    field(page, "runs-filter").press("Enter")
    expect(page.get_by_test_id("runs-filter").locator(".v-messages")).not_to_contain_text("필터")
    expect(table).not_to_contain_text("full-c")
    expect(table.locator("tbody tr")).to_have_count(2)

    # select both runs and compare them
    table.locator("thead input[type=checkbox]").check()
    page.get_by_test_id("runs-compare").click()
    expect(page).to_have_url(re.compile(r"/experiments/compare\?runs="))
    expect(page.get_by_test_id("compare-chart-loss").locator("canvas")).to_be_visible(timeout=30_000)
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
    expect(page.get_by_role("heading", name="lora-a")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text("실험")
    expect(page.get_by_test_id("run-status")).to_have_text("실행 중")
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


def test_runs_table_sorts_on_the_server_picks_any_column_and_charts(api, admin, browser_page):
    """A power user's runs table: 105 runs (more than a page), a sort by a metric done by the server (the best
    run is the oldest, not on the first page of newest runs), every param offered as a column (the 9th picked, and
    still there after a reload), honest totals with Load more, search as you type, the chart view, an unknown run."""
    h = make_account(api, admin, "exp-power", new_team="exp-power-team").headers
    params = {f"p{j}": str(j) for j in range(9)}
    for i in range(105):
        run = new_run(api, h, experiment="many", name=f"m{i:03d}", params={**params, "lr": str(i / 1000)})
        loss = 0.5 if i == 0 else 1 + (i * 37) % 101  # m000, the oldest, is the best
        assert (
            log_batch(api, h, run["id"], [{"key": "loss", "value": loss}, {"key": "acc", "value": i}]).status_code
            == 200
        )

    page = browser_page
    ui_login(page, "exp-power", PASSWORD)
    page.goto("/experiments")
    table = page.get_by_test_id("runs-table")
    expect(page.get_by_test_id("table-count")).to_have_text("105개 중 50개 표시", timeout=30_000)
    assert rows_of(table, 1)[0] == "m104"  # newest first
    check_page(page, allow=("many", "exp-power-team", "exp-power"))

    # sort by a metric: the server sorts all 105, so m000 (not among the 50 newest) comes first
    table.locator("thead th", has_text="metrics.loss").click()
    expect(table.locator("tbody tr").first).to_contain_text("m000")
    names = rows_of(table, 1)
    losses = [float(x) for x in rows_of(table, "metrics.loss")]
    assert losses == sorted(losses) and len(names) == 50, losses[:10]
    table.locator("thead th", has_text="metrics.loss").click()  # again: descending
    expect(table.locator("tbody tr").first).not_to_contain_text("m000")
    losses = [float(x) for x in rows_of(table, "metrics.loss")]
    assert losses == sorted(losses, reverse=True) and losses[0] == 101

    # Load more brings the rest in the same order, and the count says so
    page.get_by_test_id("load-more").click()
    expect(page.get_by_test_id("table-count")).to_have_text("105개 중 100개 표시", timeout=30_000)
    page.get_by_test_id("load-more").click()
    expect(page.get_by_test_id("table-count")).to_have_text("모두 105개", timeout=30_000)
    losses = [float(x) for x in rows_of(table, "metrics.loss")]
    assert losses == sorted(losses, reverse=True) and len(losses) == 105
    expect(page.get_by_test_id("load-more")).to_have_count(0)
    assert rows_of(table, 1)[-1] == "m000"

    # every param is offered: the ninth (params.p7, hidden at first) is picked, shown, and survives a reload
    expect(table.locator("thead")).not_to_contain_text("params.p7")
    page.get_by_test_id("column-picker").click()
    field(page, "column-picker-search").fill("p7")
    picked = page.get_by_test_id("column-params.p7")
    for _ in range(3):  # a click landing while the loaded CI machine still opens the menu can be lost: check it took
        picked.click()
        try:
            expect(picked.locator("input")).to_be_checked(timeout=10_000)
            break
        except AssertionError:
            if picked.locator("input").is_checked():
                break
    page.keyboard.press("Escape")
    # 105 rows re-render with the new column: under a loaded CI machine that can pass the default 5 s
    expect(table.locator("thead")).to_contain_text("params.p7", timeout=30_000)
    page.reload()
    expect(page.get_by_test_id("table-count")).to_have_text("105개 중 50개 표시", timeout=30_000)
    expect(table.locator("thead")).to_contain_text("params.p7")

    # search as you type (no Enter): a name narrows the list
    field(page, "runs-filter").fill("m10")
    expect(page.get_by_test_id("table-count")).to_have_text("모두 5개")
    assert sorted(rows_of(table, 1)) == [f"m10{i}" for i in range(5)]
    field(page, "runs-filter").fill("")
    expect(page.get_by_test_id("table-count")).to_have_text("105개 중 50개 표시", timeout=30_000)

    # the chart view: metric against a numeric param, and the metric per run; the choice of view is kept
    page.get_by_test_id("runs-view-charts").click()
    expect(page.get_by_test_id("chart-scatter").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("chart-bars").locator("canvas")).to_be_visible()
    expect(page.get_by_test_id("charts-partial")).to_be_visible()  # it says it plots 50 of 105
    expect(table).to_be_hidden()
    check_page(page, allow=("many", "exp-power-team", "exp-power"))
    page.reload()
    expect(page.get_by_test_id("chart-scatter").locator("canvas")).to_be_visible()
    page.get_by_test_id("runs-view-table").click()
    expect(table).to_be_visible()

    # an unknown run id: a not-found page with a way back, not a blank page
    page.goto(f"/experiments/runs/{uuid.uuid4()}")
    expect(page.get_by_test_id("not-found")).to_contain_text("런")
    check_page(page, allow=("exp-power",))
    page.goto("/experiments/compare")
    expect(page.get_by_test_id("compare-none")).to_be_visible()
