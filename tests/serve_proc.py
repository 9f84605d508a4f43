"""`mailrep serve` as a real subprocess on ephemeral ports (for tests/test_serve*.py)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from mailrep.store import accounts
from mailrep.store.db import Database

MAILREP = [sys.executable, "-c", "from mailrep.cli import main; main()"]
ANNOUNCE = re.compile(r"^mailrep serve: (http|dns|policy) on (?:http://)?\[?([\w.:]+?)\]?:(\d+)")


def prepare_db(url: str, reporters: int = 1, **reporter) -> tuple[list[str], dict[str, str]]:
    """Migrate the database and create reporter tokens plus feed / deputy tokens."""
    db = Database(url)
    try:
        db.upgrade()
        now = datetime.now(UTC)
        tokens: list[str] = []
        other: dict[str, str] = {}
        with db.transaction() as conn:
            for i in range(reporters):
                acc = accounts.create_account(conn, f"reporter{i}", "reporter", now)
                accounts.add_reporter(conn, acc.id, **reporter)
                tokens.append(accounts.create_token(conn, acc.id, now))
            for role in ("feed", "deputy"):
                acc = accounts.create_account(conn, role, role, now)
                other[role] = accounts.create_token(conn, acc.id, now)
        return tokens, other
    finally:
        db.dispose()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a service whose own URL must be known beforehand)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    def __init__(self, data_dir: Path, db_url: str | None = None, *, dns: bool = False,
                 http_port: int = 0, env: dict[str, str] | None = None, policy: bool = False) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.dns = dns
        self.policy = policy
        self.http_port = http_port
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self.ports: dict[str, int] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def start(self, timeout: float = 30.0) -> Serve:
        env = {**os.environ, "MAILREP_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("MAILREP_DATABASE_URL", None)
        if self.db_url:
            env["MAILREP_DATABASE_URL"] = self.db_url
        args = [*MAILREP, "serve", "--http", f"127.0.0.1:{self.http_port}"]
        if self.dns:
            args += ["--dns", "127.0.0.1:0"]
        if self.policy:
            args += ["--policy", "127.0.0.1:0"]
        self.ports = {}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        ready = threading.Event()
        want = {"http"} | ({"dns"} if self.dns else set()) | ({"policy"} if self.policy else set())

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line)
                m = ANNOUNCE.match(line)
                if m:
                    self.ports[m.group(1)] = int(m.group(3))
                    if want <= set(self.ports):
                        ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        ready.wait(timeout)
        if not want <= set(self.ports):
            self.kill()
            raise RuntimeError("mailrep serve did not start:\n" + "".join(self.log))
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def wait_for(self, text: str, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in self.log):
                return True
            time.sleep(0.05)
        return False
