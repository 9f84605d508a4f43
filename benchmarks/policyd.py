"""Postfix policy service throughput: requests/s answered by one `PolicyServer` process (one
core, one asyncio loop) over TCP, with 100,000 listed addresses and 100,000 scores in its view.

    .venv/bin/python benchmarks/policyd.py [--requests 100000] [--conns 8] [--depth 32] [--json]

The server runs in a child process; the client (this process) keeps `--conns` connections
open, each with `--depth` requests in flight (Postfix's smtpd processes each hold one
connection and ask one request at a time; many smtpd processes make the concurrency). A
quarter of the requests are from listed clients, a quarter from scored ones, the rest unknown;
every request is at RCPT, so every one is also counted as volume. Reported: wall requests/s
and the server's CPU seconds (its requests per CPU second is the figure on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import time


def _request(ip: str) -> bytes:
    return (f"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
            f"client_address={ip}\nclient_name=unknown\nreverse_client_name=unknown\n"
            f"helo_name=mx.example.net\nsender=a@example.net\nrecipient=b@example.org\n"
            f"recipient_count=0\nqueue_id=\ninstance=1a2b.3c4d.5e6f.0\nsize=0\n"
            f"etrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\n"
            f"ccert_subject=\nccert_issuer=\nccert_fingerprint=\nencryption_protocol=\n"
            f"encryption_cipher=\nencryption_keysize=0\n\n").encode()


def _ip(i: int, net: int) -> str:
    return f"{net}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def _serve(ready: mp.Queue, stop: mp.Event, n_listed: int) -> None:  # type: ignore[type-arg]
    from mailrep.dns.querycount import QueryCounter
    from mailrep.policyd.server import PolicyServer
    from mailrep.policyd.verdict import PolicydConfig, View
    from mailrep.zones.build import build_snapshot

    snap = build_snapshot(((("bl", _ip(i, 45), "127.0.0.2", "Blocked - see https://r.example/lookup?ip=$"))
                           for i in range(n_listed)), base="mailrep.test", serial=1,
                          site_url="https://r.example")
    scores = {_ip(i, 46): -10.0 + (i % 20) for i in range(n_listed)}
    cfg = PolicydConfig(site_url="https://r.example", reject_below=-5, defer_below=-2, prepend_below=0)
    flushed = [0]

    async def main() -> None:
        counter = QueryCounter(lambda c: flushed.__setitem__(0, flushed[0] + sum(c.values())),
                               interval=1.0, address=str)
        server = PolicyServer(View(snap, "bl.mailrep.test", scores), cfg, counter=counter)
        _host, port = await server.start("127.0.0.1", 0)
        t0 = os.times()
        ready.put(port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        t1 = os.times()
        await server.stop()
        ready.put({"cpu_s": (t1.user - t0.user) + (t1.system - t0.system), "requests": server.requests,
                   "counted": flushed[0]})

    asyncio.run(main())


async def _client(port: int, blocks: list[bytes], depth: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = done = 0
    buf = b""
    while done < len(blocks):
        while sent < len(blocks) and sent - done < depth:
            writer.write(blocks[sent])
            sent += 1
        await writer.drain()
        buf += await reader.read(65536)
        n = buf.count(b"\n\n")
        done += n
        buf = buf[buf.rfind(b"\n\n") + 2:] if n else buf
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--listed", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(ready, stop, args.listed))
    proc.start()
    port = ready.get(timeout=300)
    kinds = (45, 46, 47, 48)  # listed, scored, unknown, unknown
    reqs = [_request(_ip(i * 7919 % args.listed, kinds[i % 4])) for i in range(args.requests)]
    per = [reqs[i::args.conns] for i in range(args.conns)]

    async def run() -> None:
        await asyncio.gather(*(_client(port, p, args.depth) for p in per))

    t0 = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - t0
    stop.set()
    server = ready.get(timeout=60)
    proc.join(30)
    out = {"requests": args.requests, "conns": args.conns, "depth": args.depth, "wall_s": round(wall, 3),
           "req_per_s_wall": round(args.requests / wall), "server_cpu_s": round(server["cpu_s"], 3),
           "req_per_cpu_s": round(server["requests"] / server["cpu_s"]) if server["cpu_s"] else None,
           "counted": server["counted"], "load_avg": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>16}: {v}")


if __name__ == "__main__":
    main()
