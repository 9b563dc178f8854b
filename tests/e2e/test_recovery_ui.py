"""Deleted models and datasets in the browser: the Deleted (삭제됨) toggle lists them with the purge
date, Restore brings a model back into the list, and an Admin's Purge now removes a dataset for good."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser import check_screen, field, ui_login
from tests.factories import (
    ADMIN_PASSWORD,
    PASSWORD,
    corpus_csv,
    login_headers,
    make_team,
    make_user,
    register_model,
    upload_dataset,
)

ALLOW = ("old-chat", "corpus", "nlp", "res.lee", "admin")


def _delete(api, path: str, name: str, headers: dict):
    r = api.request("DELETE", path, json={"confirm_name": name}, headers=headers)
    assert r.status_code == 204, r.text


def test_deleted_toggle_restore_and_purge(browser_page: Page, api: httpx.Client, admin, tmp_path):
    make_user(api, admin, "res.lee", "developer", [make_team(api, admin, "nlp")["id"]])
    dev = login_headers(api, "res.lee", PASSWORD)
    model = register_model(api, dev, "old-chat")
    dataset = upload_dataset(api, dev, corpus_csv(), "corpus.csv", name="corpus").json()
    _delete(api, f"/api/model/{model['id']}", "old-chat", dev)
    _delete(api, f"/api/dataset/{dataset['dataset_id']}", "corpus", dev)

    page = browser_page
    ui_login(page, "res.lee", PASSWORD)
    page.get_by_test_id("nav-models").click()
    expect(page.get_by_test_id("models-page")).to_be_visible()
    expect(page.get_by_test_id("models-page").get_by_test_id("state-empty")).to_be_visible()  # gone from the list
    page.get_by_test_id("models-show-deleted").get_by_role("checkbox").check()
    rows = page.get_by_test_id("deleted-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("old-chat")
    expect(rows.first).to_contain_text("res.lee")
    expect(page.get_by_test_id("deleted-purge")).to_have_count(0)  # Purge now is the Admin's
    check_screen(page, allow=ALLOW)
    page.screenshot(path="/tmp/sd/models-deleted.png", full_page=True)
    page.get_by_test_id("deleted-restore").click()
    expect(page.get_by_test_id("deleted-empty")).to_be_visible()
    page.get_by_test_id("models-show-deleted").get_by_role("checkbox").uncheck()
    expect(page.get_by_test_id("models-table")).to_contain_text("old-chat")
    assert api.get(f"/api/model/{model['id']}", headers=dev).status_code == 200

    # An Admin purges the deleted dataset now, typing its name.
    page.context.clear_cookies()
    ui_login(page, "admin", ADMIN_PASSWORD)
    page.goto("/datasets")
    page.get_by_test_id("datasets-show-deleted").get_by_role("checkbox").check()
    expect(page.get_by_test_id("deleted-row")).to_contain_text("corpus")
    page.get_by_test_id("deleted-purge").click()
    expect(page.get_by_test_id("purge-submit")).to_be_disabled()
    field(page, "purge-name").fill("corpus")
    check_screen(page, allow=ALLOW)
    page.screenshot(path="/tmp/sd/datasets-purge.png", full_page=True)
    page.get_by_test_id("purge-submit").click()
    expect(page.get_by_test_id("deleted-empty")).to_be_visible()
    assert api.post(f"/api/dataset/{dataset['dataset_id']}/restore", headers=admin).status_code == 404
