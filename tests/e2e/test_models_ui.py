"""The registry journey in the browser: register the demo model, read its card, add a second
version, compare the two."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.browser import field, ui_login
from tests.factories import PASSWORD, login_headers, make_team, make_user


def test_register_upload_card_and_compare(browser_page: Page, api: httpx.Client, admin, demo_dirs):
    from transformers import AutoModelForCausalLM

    make_user(api, admin, "res.lee", "developer", [make_team(api, admin, "llm")["id"]])
    two, three = demo_dirs
    page = browser_page
    ui_login(page, "res.lee", PASSWORD)

    page.get_by_test_id("nav-models").click()
    expect(page.get_by_test_id("models-table")).to_contain_text("axops demo")  # the empty state says how to start
    page.get_by_test_id("models-register").click()
    field(page, "model-form-name").fill("demo-gpt2")
    page.get_by_test_id("model-form-submit").click()
    expect(page.get_by_test_id("model-name")).to_have_text("demo-gpt2")

    def upload(directory):
        page.get_by_test_id("tab-versions").click()
        page.locator('[data-testid="version-files"] input[type="file"]').set_input_files(
            [str(p) for p in sorted(directory.iterdir()) if p.is_file()]
        )
        page.get_by_test_id("version-upload").click()

    upload(two)
    expect(page.get_by_test_id("versions-table")).to_contain_text("v1")
    page.get_by_test_id("tab-info").click()
    params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(two).parameters())
    card = page.get_by_test_id("model-card")
    expect(card).to_contain_text("GPT2LMHeadModel")
    expect(card).to_contain_text(f"({params})")  # exact parameter count from the safetensors header
    expect(card).to_contain_text("model.safetensors")

    upload(three)
    expect(page.get_by_test_id("versions-table")).to_contain_text("v2")

    page.get_by_test_id("tab-compare").click()
    page.get_by_test_id("compare-pick").click()
    page.get_by_role("option", name="v1").click()
    page.get_by_role("option", name="v2").click()
    page.keyboard.press("Escape")
    page.get_by_test_id("compare-run").click()
    table = page.get_by_test_id("compare-table")
    expect(table).to_contain_text("demo-gpt2 v1")
    expect(table).to_contain_text("demo-gpt2 v2")
    expect(table.locator('tr[data-differs="true"]').first).to_be_visible()
    expect(page.get_by_test_id("config-diff")).to_contain_text("n_layer")

    dev = login_headers(api, "res.lee")
    models = api.get("/api/model", params={"q": "demo-gpt2"}, headers=dev).json()["items"]
    assert [m["latest_version"] for m in models] == [2]
    assert re.match(r"GPT2", models[0]["architecture"])
