"""The operator commands, driven through typer's CliRunner (and one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailrep.cli import make_app
from mailrep.config import Settings
from mailrep.errors import NotAuthenticated
from mailrep.run import build_services
from mailrep.store.db import Database

IP = "45.33.1.2"


def accounts(db: Database):
    return build_services(Settings(), db).accounts


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILREP_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILREP_DATA_DIR", str(tmp_path / "data"))
    app = make_app()
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    yield run


def test_db_upgrade_then_tokens_print_on_the_last_line(cli, db_url):
    from alembic.script import ScriptDirectory

    from mailrep.store.db import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    out = cli("db", "upgrade").output
    assert head and f"revision {head}" in out
    secret = cli("reporter", "add", "alice", "--mailhosts", "mx.example.net 198.51.100.0/24").output.splitlines()[-1]
    feed = cli("token", "create", "--role", "feed", "trapfeed").output.splitlines()[-1]
    db = Database(db_url)
    try:
        assert accounts(db).authenticate(secret).role == "reporter"
        assert accounts(db).authenticate(feed).role == "feed"
        cli("token", "revoke", feed)
        with pytest.raises(NotAuthenticated):
            accounts(db).authenticate(feed)
    finally:
        db.dispose()
    assert "error:" in cli("token", "create", "--role", "emperor", "x", code=2).output
    assert "status suspended" in cli("reporter", "suspend", "alice", "--reason", "fake reports").output
    assert "trust 0.5" in cli("reporter", "trust", "alice", "0.5", "--reason", "noisy").output
    assert "status active" in cli("reporter", "reactivate", "alice", "--reason", "ok").output
    cli("reporter", "suspend", "nobody", "--reason", "x", code=1)
    assert "exists" in cli("reporter", "add", "alice", code=1).output


def test_staff_actions_lookup_and_explain(cli):
    out = json.loads(cli("list", IP, "--reason", "seen in our logs").output)
    assert out["listed"] and out["manual"] and out["reason"] == "seen in our logs"
    look = json.loads(cli("lookup", IP).output)
    assert look["listed"] and look["history"][0]["by"] == "admin"
    assert json.loads(cli("explain", IP).output)["state"] == "listed"
    assert json.loads(cli("delist", IP, "--reason", "erroneous").output)["state"] == "delisted"
    assert json.loads(cli("exempt", IP, "--reason", "customer").output)["state"] == "exempt"
    assert json.loads(cli("unexempt", IP, "--reason", "gone").output)["state"] == "unlisted"
    assert "0 listing(s) changed" in cli("sweep").output
    assert "listing(s) changed" in cli("recompute").output
    cli("list", IP, code=2)  # --reason is mandatory
    assert "never listed" in cli("list", "10.0.0.1", "--reason", "x", code=1).output
    assert "not an IP" in cli("lookup", "example.com", code=2).output


def test_delisting_requests_from_the_command_line(cli, db_url):
    cli("list", IP, "--reason", "spam")
    db = Database(db_url)
    try:
        req = build_services(Settings(), db).delisting.request(IP, "pm@sender.example", "fixed", datetime.now(UTC))
    finally:
        db.dispose()
    [pending] = json.loads(cli("delisting", "list").output)
    assert pending["id"] == req["id"] and pending["contact_email"] == "pm@sender.example"
    out = json.loads(cli("delisting", "approve", req["id"], "--reason", "relay closed").output)
    assert out["status"] == "approved"
    assert json.loads(cli("lookup", IP).output)["listed"] is False
    assert "already approved" in cli("delisting", "deny", req["id"], "--reason", "x", code=1).output
    assert json.loads(cli("delisting", "list", "--status", "all").output)[0]["status"] == "approved"


def test_real_command_with_data_dir(tmp_path):
    exe = Path(sys.executable).with_name("mailrep")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([str(exe), "reporter", "add", "bob", "--data-dir", str(tmp_path / "d")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    secret = run.stdout.strip().splitlines()[-1]
    assert (tmp_path / "d" / "mailrep.sqlite3").is_file()
    db = Database(f"sqlite:///{tmp_path / 'd' / 'mailrep.sqlite3'}")
    try:
        assert accounts(db).authenticate(secret).name == "bob"
    finally:
        db.dispose()
