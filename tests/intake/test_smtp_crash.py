"""SIGKILL `mailrep serve` during an SMTP burst: every 250 survives, retries store nothing twice."""

from __future__ import annotations

import hashlib
import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailrep.intake.forward import extract_spams
from tests.intake.serve_harness import Serve, add_reporter, write_config
from tests.intake.smtp_harness import spam, submission

N = 160
CLIENTS = 8


def send(port: int, addr: str, mail: bytes) -> bool:
    """True when the server answered 250 to this mail."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            return s.sendmail("r@reporter.example", [addr], mail) == {}
    except (smtplib.SMTPException, OSError):
        return False


@pytest.mark.slow
def test_sigkill_during_burst_loses_no_acknowledged_report(tmp_path):
    write_config(tmp_path, {"connections": 1_000_000})
    addr = add_reporter(tmp_path, "alice")
    mails = [submission(addr, [spam(f"198.51.{100 + i // 250}.{i % 250 + 1}", i)]) for i in range(N)]
    shas = [hashlib.sha256(extract_spams(m)[0].raw).hexdigest() for m in mails]
    acked: set[int] = set()
    lock = threading.Lock()
    enough = threading.Event()

    srv = Serve(tmp_path).start()
    try:
        def one(i: int) -> None:
            if send(srv.smtp_port, addr, mails[i]):
                with lock:
                    acked.add(i)
                    if len(acked) >= N // 4:
                        enough.set()

        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(one, i) for i in range(N)]
            assert enough.wait(120), "the burst never got going"
            srv.kill()  # SIGKILL in the middle of the burst
            for f in futures:
                f.result()
    finally:
        srv.kill()
    assert N // 4 <= len(acked) < N, "the kill should land mid-burst"

    with Serve(tmp_path) as again:
        stored = {h for (h,) in again.query("SELECT sha256 FROM reports")}
        missing = [i for i in acked if shas[i] not in stored]
        assert missing == [], f"{len(missing)} acknowledged reports lost"
        # every client retries everything; nothing is stored twice
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda i: send(again.smtp_port, addr, mails[i]), range(N)))
        assert all(results)
        counts = again.query("SELECT sha256, count(*) FROM reports GROUP BY sha256")
    assert len(counts) == N and {c for _, c in counts} == {1}
    assert {h for h, _ in counts} == set(shas)
