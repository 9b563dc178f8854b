"""Fixtures the integration modules share (accounts and the like are made with tests/factories.py)."""

from __future__ import annotations

import pytest

from tests.factories import corpus_csv, make_account, make_training_lab


@pytest.fixture
def lab(api, admin, demo_dirs, live_server) -> dict:
    """A Developer of team "research" (res1) with the demo model (one version) and the demo corpus, scanned
    but not approved: {"dev", "admin", "model", "base" (the version), "dataset_version"}."""
    dev = make_account(api, admin, "res1", new_team="research").headers
    made = make_training_lab(api, admin, live_server, dev, demo_dirs[0], csv=corpus_csv(note=True))
    return {"dev": dev, "admin": admin, **made}
