"""The step-up prompt in Chromium: a user with two-factor on whose last code is older than 5 minutes deletes a
model; the server refuses with `mfa_step_up_required`, the one global dialog asks for a code, a wrong code stays
on screen, the right one sends the deletion again and it goes through. Cancelling keeps the refusal."""

from __future__ import annotations

import os
import re

import httpx
import psycopg
from playwright.sync_api import Page, expect

from axops.core.db import libpq_url
from tests.browser import check_a11y, check_page, field, open_login
from tests.factories import PASSWORD, enrol_two_factor, login_headers, make_team, make_user, register_model

SHOTS = os.environ.get("AXOPS_SCREENSHOTS")


def _age_step_up(database_url: str) -> None:
    """As if the last two-factor code of every session was confirmed an hour ago (waiting 5 minutes is no test)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE auth_sessions SET mfa_at = now() - interval '1 hour'")


def test_delete_asks_for_a_code_then_goes_through(browser_page: Page, api: httpx.Client, admin, database_url):
    page = browser_page
    make_user(api, admin, "sora", "developer", [make_team(api, admin, "llm")["id"]])
    dev = login_headers(api, "sora")
    kept = register_model(api, dev, "kept-chat")
    gone = register_model(api, dev, "old-chat")
    app, _ = enrol_two_factor(api, dev)

    open_login(page)
    field(page, "login-username").fill("sora")
    field(page, "login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    field(page, "login-mfa-code").fill(app.code())
    page.get_by_test_id("login-mfa-submit").click()
    expect(page.get_by_test_id("nav-home")).to_be_visible()
    _age_step_up(database_url)

    # Cancel: the deletion stays refused and the model stays.
    page.goto(f"/models/{kept['id']}")
    page.get_by_test_id("model-actions").click()
    page.get_by_test_id("model-delete").click()
    field(page, "delete-name").fill("kept-chat")
    page.get_by_test_id("delete-submit").click()
    expect(field(page, "step-up-code")).to_be_visible()
    page.get_by_test_id("step-up-cancel").click()
    expect(page.get_by_test_id("delete-error")).to_contain_text("2단계 인증")
    assert api.get(f"/api/model/{kept['id']}", headers=dev).status_code == 200

    page.goto(f"/models/{gone['id']}")
    page.get_by_test_id("model-actions").click()
    page.get_by_test_id("model-delete").click()
    field(page, "delete-name").fill("old-chat")
    page.get_by_test_id("delete-submit").click()
    dialog = page.get_by_test_id("step-up-card")
    expect(dialog).to_contain_text("최근 5분")
    field(page, "step-up-code").fill("000000")
    page.get_by_test_id("step-up-submit").click()
    expect(dialog).to_contain_text("코드가 올바르지 않거나")
    check_page(page, allow=("sora", "old-chat", "llm"))
    # the dialog itself; the page behind it has the delete button's spinner, which is another screen's
    check_a11y(page, include='[data-testid="step-up-card"]')
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/step-up.png")
    assert api.get(f"/api/model/{gone['id']}", headers=dev).status_code == 200

    field(page, "step-up-code").fill(app.code())
    page.get_by_test_id("step-up-submit").click()
    expect(page).to_have_url(re.compile(r"/models$"))
    expect(dialog).to_be_hidden()
    assert api.get(f"/api/model/{gone['id']}", headers=dev).status_code == 404
    assert api.get(f"/api/model/{kept['id']}", headers=dev).status_code == 200
