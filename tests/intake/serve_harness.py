"""`mailrep serve --smtp` as a real process for the end-to-end SMTP tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from tests.peers import ROOT

MAILREP = [str(Path(sys.executable).with_name("mailrep"))] if Path(sys.executable).with_name("mailrep").exists() else [str(ROOT / ".venv" / "bin" / "mailrep")]
ANNOUNCE = re.compile(r"^mailrep serve: (smtp|http) on (?:http://)?([\d.]+):(\d+)")


def write_config(data_dir: Path, smtp: dict, intake: dict | None = None) -> None:
    def value(v: object) -> str:
        if isinstance(v, dict):  # a TOML inline table
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    lines = ['site_url = "http://mailrep.test"', "", "[smtp]"]
    lines += [f"{k} = {value(v)}" for k, v in smtp.items()]
    lines += ["", "[intake]"] + [f"{k} = {value(v)}" for k, v in (intake or {"trace_workers": 0}).items()]
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "mailrep.toml").write_text("\n".join(lines) + "\n")


class Serve:
    """One `mailrep serve --http 127.0.0.1:0 --smtp 127.0.0.1:0` process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None
        self.smtp_port = self.http_port = 0
        self.log: list[str] = []

    def start(self, timeout: float = 60.0) -> Serve:
        env = {**os.environ, "MAILREP_DATA_DIR": str(self.data_dir)}
        env.pop("MAILREP_DATABASE_URL", None)
        self.proc = subprocess.Popen([*MAILREP, "serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line)
                m = ANNOUNCE.match(line)
                if m:
                    setattr(self, f"{m.group(1)}_port", int(m.group(3)))
                    if self.smtp_port and self.http_port:
                        ready.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                reader.join(10)  # every line the process wrote is in self.log
                raise RuntimeError("mailrep serve did not start:\n" + "".join(self.log))
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def query(self, sql: str, **params: object) -> list[tuple]:
        engine = sa.create_engine(f"sqlite:///{self.data_dir / 'mailrep.sqlite3'}")
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(sql), params)]
        finally:
            engine.dispose()


def add_reporter(data_dir: Path, name: str, *, quota: int = 5000) -> str:
    """Create a reporter in the data dir's database; return its submission address."""
    from datetime import UTC, datetime

    from mailrep.config import load_settings
    from mailrep.intake.addresses import SmtpConfig, submit_address
    from mailrep.store import accounts
    from mailrep.store.db import Database

    settings = load_settings(data_dir=data_dir, environ={})
    db = Database(f"sqlite:///{data_dir / 'mailrep.sqlite3'}")
    try:
        if db.is_empty():
            db.upgrade()
        with db.transaction() as conn:
            acc = accounts.create_account(conn, name, "reporter", datetime.now(UTC))
            rep = accounts.add_reporter(conn, acc.id, daily_quota=quota)
    finally:
        db.dispose()
    assert rep.submit_code
    return submit_address(rep.submit_code, SmtpConfig.from_section(settings.section("smtp")))
