"""Contracts that keep code, docs and the generated client in step."""

from __future__ import annotations

import json
from pathlib import Path

from axops.app import create_app
from axops.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS, markdown_table
from axops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_readme_permission_matrix_is_current():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README's permission table is stale: paste permissions.markdown_table()"


def test_roles_only_grant_known_permissions_and_viewer_is_read_only():
    for perms in ROLE_PERMISSIONS.values():
        assert set(perms) <= set(PERMISSIONS)
    assert all(p.endswith(":read") for p in ROLE_PERMISSIONS["viewer"])
    assert set(ROLE_PERMISSIONS["admin"]) == set(PERMISSIONS)


def test_every_setting_is_documented():
    readme = (ROOT / "README.md").read_text()
    missing = [f"AXOPS_{name.upper()}" for name in Settings.model_fields if f"AXOPS_{name.upper()}" not in readme]
    assert not missing, f"undocumented settings: {missing}"


def test_committed_openapi_schema_is_current():
    current = create_app("postgresql://unused/unused").openapi()
    committed = json.loads((ROOT / "web" / "openapi.json").read_text())
    assert committed == current, "web/openapi.json is stale: run `make openapi` (and commit the regenerated types)"


# The import contracts (lint-imports) are checked in test_layers.py.
