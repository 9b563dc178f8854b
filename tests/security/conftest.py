"""Accounts for attack tests: an attacking team (Developer, Viewer, Operator) and a victim team
(Developer), each logged in, plus the seeded Admin (`admin` fixture)."""

from __future__ import annotations

import pytest

from tests.factories import Account, make_account, make_team


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
