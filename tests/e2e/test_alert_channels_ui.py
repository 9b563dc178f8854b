"""Alert channels in Chromium (Korean): a webhook channel made in the dialog shows its signing secret once, Send test
shows the receiver's answer, and a delivery that failed is visible on the channel's row and in the deliveries list."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Page, expect

from axops.monitoring import delivery
from tests.browser import check_screen, field, ui_login
from tests.factories import PASSWORD, make_account
from tests.mocks import Receiver

ALLOW = [
    "SLO",
    "ui-ch-dev",
    "ui-ch-team",
    "운영 웹훅",
    "Slack",
    "Alertmanager",
    "STARTTLS",
    "HTTP",
    "receiver",
    "broke",
]


def test_channels_tab_creates_tests_and_shows_failures(
    api, admin, live_server, settings, monkeypatch, database_url, browser_page: Page
):
    monkeypatch.setattr(settings, "alert_allowed_networks", "127.0.0.0/8")
    receiver = Receiver()
    try:
        page = browser_page
        dev = make_account(api, admin, "ui-ch-dev", new_team="ui-ch-team")
        ui_login(page, "ui-ch-dev", PASSWORD)
        page.goto("/alerts?tab=channels")
        expect(page.get_by_test_id("alerts-channels")).to_be_visible()
        check_screen(page, allow=ALLOW)

        page.get_by_test_id("channel-new").click()
        field(page, "channel-name").fill("운영 웹훅")
        field(page, "channel-url").fill(receiver.url + "/hook")
        check_screen(page, allow=ALLOW)
        page.get_by_test_id("channel-save").click()
        secret = field(page, "apikey-secret")
        expect(secret).to_have_value(re.compile(r"^whsec_"))
        first = secret.input_value()
        page.get_by_test_id("apikey-secret-close").click()
        expect(page.get_by_test_id("channel-row")).to_have_text("운영 웹훅")

        # Edit: a new signing secret, shown once.
        page.get_by_test_id("channel-edit").click()
        page.get_by_test_id("channel-rotate").locator("input").check()
        check_screen(page, allow=ALLOW)
        page.get_by_test_id("channel-save").click()
        expect(secret).to_have_value(re.compile(r"^whsec_"))
        assert secret.input_value() != first
        page.get_by_test_id("apikey-secret-close").click()

        page.get_by_test_id("channel-test").click()
        expect(page.get_by_test_id("channel-test-outcome")).to_contain_text("200")
        assert json.loads(receiver.requests[-1]["body"])["rule_name"] == "Test notification"

        # A notification the receiver refuses: the row's badge and the deliveries list show the failure.
        channel_id = api.get("/api/alerts/channels", headers=dev.headers).json()["items"][0]["id"]
        receiver.statuses = [500] * 5
        payload = {
            "group_key": "g",
            "rule_id": "r",
            "rule_name": "지연 경보",
            "team": "ui-ch-team",
            "severity": "warning",
            "status": "firing",
            "alerts": [],
            "url": "",
        }
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO alert_notifications (id, team_id, group_key, status, channel_ids, payload) "
                "VALUES (%s, %s, 'g', 'firing', %s::uuid[], %s)",
                (str(uuid.uuid4()), dev.team["id"], [channel_id], json.dumps(payload)),
            )
        state, now = live_server.app.state.axops, datetime.now(UTC)
        for step in range(delivery.MAX_ATTEMPTS):
            asyncio.run_coroutine_threadsafe(
                delivery.dispatch(state.db, now + timedelta(hours=step)), live_server.server_loop
            ).result(60)
        page.reload()
        expect(page.get_by_test_id("channel-last-delivery")).to_have_attribute("data-status", "failed")
        page.get_by_test_id("delivery-filter").get_by_role("button").nth(1).click()
        rows = page.get_by_test_id("delivery-row")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-status", "failed")
        check_screen(page, allow=ALLOW)
    finally:
        receiver.close()
