"""Must show 3: SIGKILL `mailrep serve` in the middle of a concurrent burst of reports; after a
restart every report that got a 202 is there, clients' retries find them, nothing is stored twice,
and the post-commit work resumes from the stored items."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa

from mailrep.store.db import Database
from mailrep.store.tables import report_queue, reports
from tests.intake.mail import spam
from tests.serve_proc import Serve, prepare_db

MAIL = {"Content-Type": "message/rfc822"}
REPORTERS = 4
MESSAGES = 400
KILL_AFTER = 80  # acknowledged reports before the SIGKILL
CLIENTS = 16


def test_sigkill_during_burst_loses_no_acknowledged_report(db_url, tmp_path):
    tokens, _ = prepare_db(db_url, reporters=REPORTERS)
    work = [(tokens[i % REPORTERS], spam(f"45.7.{i // 250}.{i % 250 + 1}", n=i)) for i in range(MESSAGES)]
    acked: dict[int, int] = {}  # message index -> id from its first 202
    lock = threading.Lock()
    killed = threading.Event()
    srv = Serve(tmp_path / "var", db_url).start()

    # one pooled client per server (creating an httpx client per request costs more than the request)
    clients = {srv.base: httpx.Client(timeout=20, limits=httpx.Limits(max_connections=CLIENTS))}

    def submit(base: str, i: int) -> int | None:
        token, raw = work[i]
        try:
            r = clients[base].post(f"{base}/api/v1/reports", content=raw,
                                   headers={"Authorization": f"Bearer {token}", **MAIL})
        except httpx.HTTPError:
            return None
        if r.status_code != 202:
            assert killed.is_set() or r.status_code == 503, r.text  # never a 4xx/5xx for good mail
            return None
        return r.json()["id"]

    def burst(i: int) -> None:
        if killed.is_set():
            return
        rid = submit(srv.base, i)
        if rid is None:
            return
        with lock:
            acked[i] = rid
            if len(acked) >= KILL_AFTER and not killed.is_set():
                killed.set()
                srv.kill()  # SIGKILL while the other clients are mid-request

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(burst, range(MESSAGES)))
    assert killed.is_set() and len(acked) >= KILL_AFTER
    assert srv.proc is not None and srv.proc.returncode == -9

    srv2 = Serve(tmp_path / "var", db_url).start()
    clients[srv2.base] = httpx.Client(timeout=20, limits=httpx.Limits(max_connections=CLIENTS))
    try:
        # clients retry everything: acknowledged ones must come back with their first id
        with ThreadPoolExecutor(CLIENTS) as pool:
            retried = list(pool.map(lambda i: submit(srv2.base, i), range(MESSAGES)))
        assert all(rid is not None for rid in retried)
        for i, rid in acked.items():
            assert retried[i] == rid, f"message {i}: first 202 said {rid}, the retry {retried[i]}"
        assert len(set(retried)) == MESSAGES  # one report per message, none twice
        deadline = time.monotonic() + 60
        db = Database(db_url)
        try:
            while time.monotonic() < deadline:
                with db.read() as conn:
                    left = conn.execute(sa.select(sa.func.count()).select_from(report_queue)).scalar()
                if left == 0:
                    break
                time.sleep(0.5)
            assert left == 0, f"{left} reports still wait for their post-commit work"
            with db.read() as conn:
                rows = conn.execute(sa.select(reports.c.id, reports.c.sha256, reports.c.dedupe_key)).all()
        finally:
            db.dispose()
    finally:
        for c in clients.values():
            c.close()
        assert srv2.stop() == 0
    by_id = {r.id: r for r in rows}
    assert len(rows) == MESSAGES
    for i, rid in acked.items():
        assert by_id[rid].sha256 == hashlib.sha256(work[i][1]).hexdigest()
