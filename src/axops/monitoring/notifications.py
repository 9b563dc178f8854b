"""What the alert engine hands to delivery: a notification about one group of alerts of one rule.

`alerts.py` (the engine) decides when a group is notified (first firing, repeat interval, resolution,
not while silenced) and stores the notification in `alert_notifications`; `delivery.py` sends it to
each of the rule's channels in that channel's format, with retries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass
class AlertItem:
    fingerprint: str  # stable per rule and label set
    labels: dict[str, str]  # the series' labels plus alertname, severity, team
    annotations: dict[str, str]  # summary, description (PII-free: names and numbers only)
    state: str  # firing | resolved
    value: float | None
    starts_at: datetime
    ends_at: datetime | None = None


@dataclass
class Notification:
    group_key: str  # rule id + the group_by labels' values
    rule_id: str
    rule_name: str
    team: str
    severity: str  # critical | warning | info
    status: str  # firing (any alert of the group fires) | resolved (all resolved)
    alerts: list[AlertItem] = field(default_factory=list)
    url: str = ""  # the alert's page in the UI

    def to_json(self) -> dict:
        def plain(value):
            return value.isoformat() if isinstance(value, datetime) else value

        data = asdict(self)
        for alert in data["alerts"]:
            for key in ("starts_at", "ends_at"):
                alert[key] = plain(alert[key])
        return data
