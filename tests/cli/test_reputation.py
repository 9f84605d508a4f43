"""`mailrep reputation IP|CIDR|DOMAIN`: table with sparklines, --json, --recompute."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from mailrep.cli import make_app
from mailrep.cli.reputation import sparkline
from mailrep.store.db import Database
from mailrep.store.tables import volume

IP = "45.33.1.2"


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILREP_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILREP_DATA_DIR", str(tmp_path / "data"))
    app, runner = make_app(), CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run


def test_reputation_command(cli, db_url):
    cli("db", "upgrade")
    db = Database(db_url)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(volume.insert().values(ip=IP, count=5000, period_start=now - timedelta(hours=1),
                                            period_end=now, received_at=now))
    db.dispose()
    view = json.loads(cli("reputation", IP, "--json", "--recompute"))
    assert view["ip"] == IP and view["score"] is not None and view["volume"]["day"] == 5000
    table = cli("reputation", IP)
    assert f"{IP}: +" in table and "magnitude" in table and "volume     |" in table and "█" in table
    assert json.loads(cli("reputation", "45.33.1.0/24", "--json"))["network"] == "45.33.1.0/24"
    assert json.loads(cli("reputation", "example.com", "--json"))["score"] is None
    assert "error:" in cli("reputation", "45.0.0.0/8", code=2)


def test_sparkline():
    assert sparkline([0, 1, 2, None, 7]) == "▁▂▃ █"
    assert sparkline([None, None]) == "  "
    assert sparkline([3.0, 3.0]) == "▁▁"
