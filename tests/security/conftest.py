"""Accounts for attack tests: an attacking team (Developer, Viewer, Operator) and a victim team
(Developer), each logged in, plus the seeded Admin (`admin` fixture)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import bearer, login

PASSWORD = "attack-review-pass-1"


@dataclass
class Account:
    username: str
    user_id: str
    team: dict
    headers: dict


def make_account(api, admin, username: str, role: str, team: dict) -> Account:
    r = api.post(
        "/api/users",
        json={"username": username, "password": PASSWORD, "role": role, "team_ids": [team["id"]]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return Account(username, r.json()["id"], team, bearer(login(api, username, PASSWORD)["access_token"]))


def make_team(api, admin, name: str) -> dict:
    r = api.post("/api/teams", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def victim_team(api, admin) -> dict:
    return make_team(api, admin, "victims")


@pytest.fixture
def attacker_team(api, admin) -> dict:
    return make_team(api, admin, "attackers")


@pytest.fixture
def victim(api, admin, victim_team) -> Account:
    """A Developer of the victim team."""
    return make_account(api, admin, "victim-dev", "developer", victim_team)


@pytest.fixture
def attacker(api, admin, attacker_team) -> Account:
    """A Developer of another team."""
    return make_account(api, admin, "mallory-dev", "developer", attacker_team)


@pytest.fixture
def attacker_viewer(api, admin, attacker_team) -> Account:
    return make_account(api, admin, "mallory-viewer", "viewer", attacker_team)


@pytest.fixture
def attacker_operator(api, admin, attacker_team) -> Account:
    return make_account(api, admin, "mallory-op", "operator", attacker_team)
