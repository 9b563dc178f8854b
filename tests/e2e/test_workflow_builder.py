"""The workflow builder in the browser (issue 21): a developer creates a workflow, adds a model node from the
palette, connects input → model → output by dragging between handles, configures the route, the message
template and the output, sees the server's refusal laid on the node at fault, saves v1, runs it with a question,
and reads the trace on the graph: each node coloured by status with its latency/tokens badge, the model node's
output on click, the run's output and its place in the run history. In Korean, with the screen checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, ui_login
from tests.factories import PASSWORD, make_account, make_route, make_team
from tests.mocks import MockUpstream

SHOTS = os.environ.get("AXOPS_SHOTS")  # a directory: the test saves screenshots of each screen there
# The test's own data, shown verbatim: names, the route, the template expressions, the mock's answer.
ALLOW = ("wf-team", "wf.dev", "ticket-flow", "wf-chat", "model_1", "input", "output", "question", "ANSWER", "Q")


@pytest.fixture
def upstream():
    mock = MockUpstream("wfui")
    mock.answer_for = lambda body: "ANSWER " + body["messages"][-1]["content"]
    yield mock
    mock.stop()


def _shoot(page: Page, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/workflows-{name}.png", full_page=True)


def _drag(page: Page, source, target) -> None:
    """Draw an edge: press on a handle, move across the canvas in steps (Vue Flow follows the pointer), release on
    the target handle."""
    a = source.bounding_box()
    b = target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def _target(page: Page, node_id: str):
    return page.locator(f'[data-testid="wf-node-{node_id}"] .vue-flow__handle.target')


def test_build_save_run_and_read_the_trace_on_the_graph(browser_page: Page, api, admin, upstream):
    make_route(api, admin, "wf-chat", upstream.url, input_price=1000.0, output_price=1000.0)
    team = make_team(api, admin, "wf-team")
    make_account(api, admin, "wf.dev", team=team)
    page = browser_page
    page.set_viewport_size({"width": 1440, "height": 900})

    # The empty list, then a new workflow: it opens on the builder with an input and an output node.
    ui_login(page, "wf.dev", PASSWORD)
    page.get_by_test_id("nav-workflows").click()
    expect(page.get_by_test_id("workflows-page").get_by_test_id("state-empty")).to_be_visible()
    check_screen(page, allow=ALLOW)
    page.get_by_test_id("workflows-new").click()
    field(page, "workflow-form-name").fill("ticket-flow")
    page.get_by_test_id("workflow-form-submit").click()
    expect(page.get_by_test_id("workflow-name")).to_have_text("ticket-flow")
    expect(page.get_by_test_id("wf-node-input")).to_be_visible()
    expect(page.get_by_test_id("wf-node-output")).to_be_visible()

    # A model node from the palette, selected at once: its route and message template in the side panel.
    page.get_by_test_id("wf-add-model").click()
    expect(page.get_by_test_id("wf-node-model_1")).to_be_visible()
    expect(page.get_by_test_id("wf-panel")).to_contain_text("model_1")
    route = page.locator('[data-testid="wf-model-route"] input:not([type="hidden"])').first
    route.fill("wf-chat")
    route.press("Enter")
    message = page.locator('[data-testid="wf-model-message-0"] textarea').first
    expect(message).to_have_value("{{ input.question }}")
    message.fill("Q {{ input.question }}")

    # Connect input → model_1 → output by dragging from each source handle to the next node's target handle.
    _drag(page, page.get_by_test_id("wf-handle-input-out"), _target(page, "model_1"))
    _drag(page, page.get_by_test_id("wf-handle-model_1-out"), _target(page, "output"))
    expect(page.locator(".vue-flow__edge")).to_have_count(2)
    check_screen(page, allow=ALLOW)

    # Saved with the output's template still empty: refused, and the error is shown on the output node.
    page.get_by_test_id("wf-save").click()
    expect(page.get_by_test_id("wf-node-output").get_by_test_id("wf-node-problem")).to_be_visible()
    assert api.get("/api/agent/workflows?q=ticket-flow", headers=admin).json()["items"][0]["latest_version"] == 0
    _shoot(page, "refused")

    # The output node: its template is the model node's answer. Saved as v1.
    page.get_by_test_id("wf-node-output").click()
    page.locator('[data-testid="wf-output-template"] textarea').first.fill("{{ model_1 }}")
    page.get_by_test_id("wf-save").click()
    expect(page.get_by_test_id("wf-version")).to_contain_text("v1")
    expect(page.get_by_test_id("wf-dirty")).to_have_count(0)
    expect(page.get_by_test_id("wf-node-problem")).to_have_count(0)
    wf = api.get("/api/agent/workflows?q=ticket-flow", headers=admin).json()["items"][0]
    saved = api.get(f"/api/agent/workflows/{wf['id']}/versions/1", headers=admin).json()["definition"]
    assert sorted((e["source"], e["target"]) for e in saved["edges"]) == [("input", "model_1"), ("model_1", "output")]
    model = next(n for n in saved["nodes"] if n["id"] == "model_1")
    assert model["config"]["route"] == "wf-chat"
    assert model["config"]["messages"] == [{"role": "user", "content": "Q {{ input.question }}"}]

    # Run it: the trace lands on the graph.
    page.get_by_test_id("wf-tab-run").click()
    page.locator('[data-testid="wf-run-input-question"] textarea').first.fill("환불 문의")
    page.get_by_test_id("wf-run").click()
    expect(page.get_by_test_id("wf-run-result").locator("[data-status]")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("wf-run-output")).to_have_text("ANSWER Q 환불 문의")
    for node_id in ("input", "model_1", "output"):
        expect(page.get_by_test_id(f"wf-node-{node_id}")).to_have_attribute("data-status", "ok")
    badge = page.get_by_test_id("wf-node-model_1").get_by_test_id("wf-node-badge")
    expect(badge).to_contain_text("ms")
    expect(badge).to_contain_text("토큰")
    # the model node's own record: its rendered messages in, the answer out
    page.get_by_test_id("wf-node-model_1").click()
    expect(page.get_by_test_id("wf-trace-record")).to_have_count(1)
    expect(page.get_by_test_id("wf-trace-output")).to_contain_text("ANSWER Q 환불 문의")
    expect(page.get_by_test_id("wf-run-history").locator("[data-status]")).to_have_count(1)
    check_screen(page, allow=ALLOW)
    _shoot(page, "trace")

    chats = [r for r in upstream.requests if "messages" in r]
    assert chats[-1]["messages"] == [{"role": "user", "content": "Q 환불 문의"}]
