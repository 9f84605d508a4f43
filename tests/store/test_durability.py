"""A transaction that returned from commit survives SIGKILL of the writer (both databases)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import sqlalchemy as sa

from mailrep.store.db import Database
from mailrep.store.tables import audit_log

WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from mailrep.store.db import Database
    from mailrep.store.tables import audit_log
    db = Database(sys.argv[1])
    i = 0
    while True:
        i += 1
        with db.transaction() as conn:
            conn.execute(audit_log.insert().values(at=datetime.now(UTC), action="tick", target=str(i)))
        print(i, flush=True)   # acknowledged only after the commit returned
""")


def test_committed_rows_survive_sigkill(db):
    url = db.url.render_as_string(hide_password=False)
    db.dispose()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True,
                            env={**os.environ})
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        while len(acked) < 40:
            line = proc.stdout.readline()
            assert line, "writer died early"
            acked.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    reopened = Database(url)
    try:
        with reopened.read() as conn:
            stored = set(conn.execute(sa.select(audit_log.c.target)).scalars())
    finally:
        reopened.dispose()
    assert set(acked) <= stored
