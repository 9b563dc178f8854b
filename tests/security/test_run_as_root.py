"""`axops up` and `axops worker` warn when started as root."""

from __future__ import annotations

import os

from axops import cli


def test_warns_as_root_and_not_otherwise(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cli._warn_if_root()
    assert "running as root" in capsys.readouterr().err
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    cli._warn_if_root()
    assert capsys.readouterr().err == ""
