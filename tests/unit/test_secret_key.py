"""The signing key: refused when shorter than 32 bytes, generated once with mode 0600."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from axops import cli
from axops.settings import Settings


def test_a_short_key_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="at least 32"):
        Settings(data_dir=tmp_path, secret_key="short-key").resolved_secret_key()
    assert Settings(data_dir=tmp_path, secret_key="k" * 32).resolved_secret_key() == "k" * 32


def test_axops_refuses_to_start_with_a_short_key(tmp_path, monkeypatch):
    monkeypatch.setenv("AXOPS_SECRET_KEY", "too-short")
    monkeypatch.setenv("AXOPS_DATA_DIR", str(tmp_path))
    cli.get_settings.cache_clear()
    try:
        for command in (["up"], ["worker"]):
            result = CliRunner().invoke(cli.app, command)
            assert result.exit_code == 2, result.output
            assert "AXOPS_SECRET_KEY" in result.output and "at least 32" in result.output
    finally:
        cli.get_settings.cache_clear()


def test_the_generated_key_is_private_and_stable(tmp_path):
    s = Settings(data_dir=tmp_path / "data")
    key = s.resolved_secret_key()
    assert len(key) >= 32 and s.resolved_secret_key() == key
    assert stat.S_IMODE(s.secret_key_file.stat().st_mode) == 0o600
    s.secret_key_file.chmod(0o644)
    s.resolved_secret_key()
    assert stat.S_IMODE(s.secret_key_file.stat().st_mode) == 0o600
    s.secret_key_file.write_text("tiny")
    with pytest.raises(RuntimeError, match="delete the file"):
        s.resolved_secret_key()
