"""SMTP submissions per second through `mailrep serve --smtp`, beside HTTP reports per second.

    .venv/bin/python benchmarks/ingest_smtp.py [--count 2000] [--clients 4] [--attachments 1]
                                               [--database-url postgresql+psycopg://...] [--json]

Starts a real `mailrep serve --http 127.0.0.1:0 --smtp 127.0.0.1:0` on a fresh data dir
(SQLite by default), adds one reporter, then runs two phases with the same number of
concurrent persistent connections (asyncio clients in `--client-processes` processes):

    smtp   forward-as-attachment mails to the reporter's submit address (smtplib); a mail
           counts when it got 250, i.e. after all its reports were committed
    http   the same spams POSTed to /api/v1/reports with the reporter's token

Every spam has its own source IP, so nothing is deduplicated. The database is checked at the
end: stored reports must equal acknowledged reports. `run(...)` returns the figures as a dict
for `benchmarks/ingest.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).with_name("mailrep")
ANNOUNCE = re.compile(r"^mailrep serve: (smtp|http) on (?:http://)?([\d.]+):(\d+)")


def spam(i: int, tag: str) -> bytes:
    ip = f"{11 + i // 65536 % 40}.{i // 256 % 256}.{i % 256}.{7 if tag == 'smtp' else 8}"
    return (
        f"Received: from mx.reporter.example (mx.reporter.example [10.0.0.1])\r\n"
        f"\tby mail.reporter.example with ESMTP id A{i}; Thu, 26 Nov 2026 11:00:00 +0000\r\n"
        f"Received: from h{i}.bench.example (h{i}.bench.example [{ip}])\r\n"
        f"\tby mx.reporter.example (Postfix) with ESMTP id B{i}; Thu, 26 Nov 2026 10:59:00 +0000\r\n"
        f"From: s{i}@bench.example\r\nTo: v@reporter.example\r\nSubject: {tag} offer {i}\r\n"
        f"Message-ID: <{tag}.{i}@bench.example>\r\n\r\nBuy at http://shop{i % 1000}.example/\r\n"
    ).encode()


BOUNDARY = b"=_mailrep_bench_3f9a61c2"


def submission(to: str, spams: list[bytes]) -> bytes:
    """A forward-as-attachment mail, built by hand so each spam is attached byte for byte."""
    out = [b"From: reporter@reporter.example\r\nTo: " + to.encode() + b"\r\nSubject: spam\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + BOUNDARY + b"\"\r\n\r\n"
           b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nattached\r\n"]
    for raw in spams:
        head = b"--" + BOUNDARY + b"\r\nContent-Type: message/rfc822\r\n"
        if max(map(len, raw.splitlines()), default=0) > 990:  # SMTP lines stop at 1000 octets
            out.append(head + b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(raw))
        else:
            out.append(head + b"\r\n" + raw.rstrip(b"\r\n") + b"\r\n")
    out.append(b"--" + BOUNDARY + b"--\r\n")
    return b"".join(out)


async def _smtp_connections(port: int, to: str, mails: list[tuple[bytes, int]], conns: int
                            ) -> tuple[int, int, dict[str, int]]:
    """Plain asyncio SMTP clients (no pipelining: aiosmtpd does not offer it)."""
    queue = deque(mails)
    acked = [0, 0]
    refused: dict[str, int] = {}

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def reply() -> int:
            while True:
                line = await reader.readline()
                if line[3:4] != b"-":
                    return int(line[:3])

        await reply()
        writer.write(b"EHLO bench.example\r\n")
        await reply()
        while queue:
            mail, n = queue.popleft()
            writer.write(b"MAIL FROM:<reporter@reporter.example>\r\n")
            ok = await reply() == 250
            writer.write(b"RCPT TO:<" + to.encode() + b">\r\n")
            ok = await reply() == 250 and ok
            if ok:
                writer.write(b"DATA\r\n")
                if await reply() == 354:
                    writer.write(mail)
                    code = await reply()
                    if code == 250:
                        acked[0] += 1
                        acked[1] += n
                        continue
                    refused[str(code)] = refused.get(str(code), 0) + 1
                    continue
            writer.write(b"RSET\r\n")
            await reply()
        writer.write(b"QUIT\r\n")
        await reply()
        writer.close()

    await asyncio.gather(*(one() for _ in range(conns)))
    return acked[0], acked[1], refused


def _smtp_client(args: tuple[int, str, list[tuple[bytes, int]], int]) -> tuple[int, int, dict[str, int]]:
    """(mails, reports) acknowledged with 250 by this client process's connections."""
    port, to, mails, conns = args
    return asyncio.run(_smtp_connections(port, to, mails, conns))


def dot_stuffed(mail: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, the final dot line."""
    body = re.sub(rb"(?m)^\.", b"..", mail.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"


async def _http_connections(port: int, token: str, spams: list[bytes], conns: int) -> int:
    """Plain asyncio HTTP/1.1 keep-alive clients posting one report per request."""
    queue = deque(spams)
    acked = [0]

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            body = queue.popleft()
            writer.write(b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: message/rfc822\r\n"
                         b"Authorization: Bearer " + token.encode() + b"\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await reader.readuntil(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length: *(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            if head[9:12] == b"202":
                acked[0] += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(conns)))
    return acked[0]


def _http_client(args: tuple[int, str, list[bytes], int]) -> int:
    port, token, spams, conns = args
    return asyncio.run(_http_connections(port, token, spams, conns))


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants (Linux)."""
    total, todo, seen = 0.0, [pid], set()
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _mailrep(data: Path, *args: str, env: dict[str, str]) -> str:
    return subprocess.run([str(BIN), *args, "--data-dir", str(data)], env=env, check=True,
                          capture_output=True, text=True).stdout


def run(count: int = 2000, clients: int = 32, attachments: int = 1, database_url: str | None = None,
        procs: int = 2, *, http: bool = True, data_dir: Path | None = None,
        make_spam: Callable[[int], bytes] | None = None) -> dict:
    """Both phases (or SMTP only with http=False) against a fresh `mailrep serve`.

    `database_url` must name an empty database (default: SQLite in `data_dir`); `make_spam(i)`
    gives the i-th distinct spam (default: a small synthetic one)."""
    make = make_spam or (lambda i: spam(i, "smtp"))
    data = data_dir or Path(tempfile.mkdtemp(prefix="mailrep-bench-smtp-"))
    (data / "mailrep.toml").write_text('[smtp]\nconnections = 1000000\nmax_recipients = 5\n')
    env = {**os.environ}
    env.pop("MAILREP_DATABASE_URL", None)
    if database_url:
        env["MAILREP_DATABASE_URL"] = database_url
    token = _mailrep(data, "reporter", "add", "bench", "--quota", str(10 * count), env=env).strip().splitlines()[-1]
    to = json.loads(_mailrep(data, "reporter", "show", "bench", "--json", env=env))["submit_address"]
    proc = subprocess.Popen([str(BIN), "serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
                             "--data-dir", str(data)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    ports: dict[str, int] = {}
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = ANNOUNCE.match(line)
            if m:
                ports[m.group(1)] = int(m.group(3))
                if len(ports) == 2:
                    ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(120):
            raise RuntimeError("mailrep serve did not start")
        out: dict = {"count": count, "clients": clients, "attachments_per_mail": attachments,
                     "database": "postgresql" if (database_url or "").startswith("postgres") else "sqlite"}
        ids = list(range(count))
        slices = [ids[k::procs] for k in range(procs)]
        conns = max(1, clients // procs)
        # payloads are built before the clock starts: the figures are the server's, not MIME's
        smtp_work = [(ports["smtp"], to, [(dot_stuffed(submission(to, [make(i) for i in s[k:k + attachments]])),
                                           len(s[k:k + attachments])) for k in range(0, len(s), attachments)],
                      conns) for s in slices]
        http_work = [(ports["http"], token, [spam(i, "http") for i in s], conns) for s in slices]
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            pool.map(time.sleep, [0.01] * procs)  # workers started before timing
            out["load_before"] = round(os.getloadavg()[0], 1)
            c0, t0 = tree_cpu(proc.pid), time.perf_counter()
            acks = pool.map(_smtp_client, smtp_work)
            dt, cpu = time.perf_counter() - t0, tree_cpu(proc.pid) - c0
            mails, reports = sum(a[0] for a in acks), sum(a[1] for a in acks)
            refused: dict[str, int] = {}
            for a in acks:
                for code, n in a[2].items():
                    refused[code] = refused.get(code, 0) + n
            out["smtp"] = {"mails_acknowledged": mails, "reports_acknowledged": reports, "refused": refused,
                           "seconds": round(dt, 2),
                           "mails_per_s": round(mails / dt, 1), "reports_per_s": round(reports / dt, 1),
                           "server_cpu_ms_per_report": round(1000 * cpu / max(1, reports), 2)}
            if not http:
                http_work = []
            c0, t0 = tree_cpu(proc.pid), time.perf_counter()
            posted = sum(pool.map(_http_client, http_work))
            dt, cpu = time.perf_counter() - t0, tree_cpu(proc.pid) - c0
            out["http"] = {"reports_acknowledged": posted, "seconds": round(dt, 2),
                           "reports_per_s": round(posted / dt, 1),
                           "server_cpu_ms_per_report": round(1000 * cpu / max(1, posted), 2)}
            out["load_after"] = round(os.getloadavg()[0], 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    import sqlalchemy as sa

    engine = sa.create_engine(database_url or f"sqlite:///{data / 'mailrep.sqlite3'}")
    try:
        with engine.connect() as conn:
            stored = {c: int(n) for c, n in conn.execute(
                sa.text("SELECT channel, count(*) FROM reports GROUP BY channel"))}
    finally:
        engine.dispose()
    out["stored"] = stored
    out["lost"] = (out["smtp"]["reports_acknowledged"] - stored.get("smtp", 0)
                   + out["http"]["reports_acknowledged"] - stored.get("http", 0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="spams per phase")
    ap.add_argument("--clients", type=int, default=32, help="concurrent SMTP connections (and HTTP clients)")
    ap.add_argument("--client-processes", type=int, default=2)
    ap.add_argument("--attachments", type=int, default=1, help="spams attached per SMTP mail")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = run(a.count, a.clients, a.attachments, a.database_url, a.client_processes)
    if a.json:
        print(json.dumps(res, sort_keys=True))
        return
    print(f"ingest over SMTP vs HTTP ({res['database']}, {res['clients']} clients, {res['count']} spams each)")
    s, h = res["smtp"], res["http"]
    print(f"  smtp: {s['mails_per_s']:8.1f} mails/s  {s['reports_per_s']:8.1f} reports/s  "
          f"server CPU {s['server_cpu_ms_per_report']:6.2f} ms/report  "
          f"({s['mails_acknowledged']} mails, {s['reports_acknowledged']} reports in {s['seconds']} s)")
    print(f"  http: {'':8s}         {h['reports_per_s']:8.1f} reports/s  "
          f"server CPU {h['server_cpu_ms_per_report']:6.2f} ms/report  "
          f"({h['reports_acknowledged']} in {h['seconds']} s)")
    print(f"  load average {res['load_before']} before, {res['load_after']} after (2 cores)")
    if "lost" in res:
        print(f"  stored {res['stored']}, acknowledged but not stored: {res['lost']}")


if __name__ == "__main__":
    main()
