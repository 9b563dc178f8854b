"""Local replicas and training jobs start without the server's own settings and credentials."""

from __future__ import annotations

from axops.executors.environment import runtime_environment


def test_runtimes_get_their_own_tokens_and_none_of_the_servers_secrets(monkeypatch):
    for name, value in {
        "AXOPS_SECRET_KEY": "k" * 40,
        "AXOPS_DATABASE_URL": "postgresql://u:p@db/axops",
        "AWS_SECRET_ACCESS_KEY": "s",
        "HF_TOKEN": "hf_x",
        "PGPASSWORD": "p",
        "PATH": "/usr/bin",
    }.items():
        monkeypatch.setenv(name, value)
    env = runtime_environment(AXOPS_RUNTIME_TOKEN="job-key")
    assert env["AXOPS_RUNTIME_TOKEN"] == "job-key" and env["PATH"] == "/usr/bin"
    assert (
        not {"AXOPS_SECRET_KEY", "AXOPS_DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "PGPASSWORD"} & env.keys()
    )
