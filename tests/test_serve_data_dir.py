"""The data dir (issue 13): `mailrep serve` creates it private, files 0600 and directories 0700
(defect 5); read-only commands with no database fail clearly and create nothing (defect 11)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.intake.mail import spam
from tests.serve_proc import Serve

MAILREP = [sys.executable, "-c", "from mailrep.cli import main; main()"]
READ_ONLY = [["lookup", "45.33.1.2"], ["explain", "45.33.1.2"], ["delisting", "list"],
             ["reporter", "show", "alice"], ["zone", "export", "bl.mailrep.test"]]


def mailrep(*args: str, cwd: Path, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILREP_")}
    if db_url:
        env["MAILREP_DATABASE_URL"] = db_url
    return subprocess.run([*MAILREP, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def test_serve_creates_a_private_data_dir(tmp_path):
    var = tmp_path / "var"
    old = os.umask(0o022)  # the usual umask: without care, everything would be world-readable
    try:
        srv = Serve(var, dns=True).start()
    finally:
        os.umask(old)
    try:
        r = mailrep("reporter", "add", "alice", "--data-dir", str(var), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        token = r.stdout.splitlines()[-1]
        got = httpx.post(f"{srv.base}/api/v1/reports", content=spam("45.6.1.1", n=1), timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"})
        assert got.status_code == 202, got.text
        running = modes(var)
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    stopped = modes(var)
    assert {"mailrep.sqlite3", "mailrep.sqlite3-wal", "mailrep.sqlite3-shm"} <= set(running)
    for seen in (running, stopped):
        for name, mode in seen.items():
            want = 0o700 if (var / name).is_dir() or name == "." else 0o600
            assert mode == want, f"{name}: {oct(mode)}"


@pytest.mark.parametrize("where", ["default", "--data-dir"])
def test_read_only_commands_without_a_database_create_nothing(tmp_path, where):
    work = tmp_path / "work"
    work.mkdir()
    extra = ["--data-dir", str(tmp_path / "data")] if where == "--data-dir" else []
    for args in READ_ONLY:
        r = mailrep(*args, *extra, cwd=work)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "no database at " in r.stderr and "run `mailrep db upgrade`" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert r.stdout == ""
    assert list(work.iterdir()) == [] and not (tmp_path / "data").exists()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: the test above
def test_read_only_commands_on_an_empty_postgresql_schema(db_url, tmp_path):
    r = mailrep("lookup", "45.33.1.2", cwd=tmp_path, db_url=db_url)
    assert r.returncode == 1 and "no database at postgresql" in r.stderr, r.stderr
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_work_once_serve_made_the_database(tmp_path):
    var = tmp_path / "var"
    srv = Serve(var).start()
    try:
        assert mailrep("reporter", "add", "alice", "--data-dir", str(var), cwd=tmp_path).returncode == 0
        for args in READ_ONLY:
            r = mailrep(*args, "--data-dir", str(var), cwd=tmp_path)
            assert r.returncode == 0, (args, r.stderr)
    finally:
        assert srv.stop(signal.SIGTERM) == 0
