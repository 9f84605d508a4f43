"""DNS benchmark: `mailrep dns` beside rbldnsd on the same core, in the same run.

    .venv/bin/python benchmarks/dns.py            # 1,000,000 listed IPv4, 10 s per dnsperf run
    .venv/bin/python benchmarks/dns.py --quick    # 100,000 listed, 5 s runs
    .venv/bin/python benchmarks/dns.py --defended # and mailrep with its defences on, beside
    .venv/bin/python benchmarks/dns.py --defended --rounds 3   # and 3 interleaved rounds more
    options: --entries N --seconds S --json --defended --rounds N

Data: N random public IPv4 addresses (+127.0.0.2) as one rbldnsd `ip4set` file, and the same
data saved as a mailrep snapshot. Queries: a dnsperf file of 50% listed / 50% unlisted A
queries ("cold": 200,000 distinct names, more than one run gets through, so mailrep's reply
cache hardly helps) and a 10,000-name "hot" file (the cache holds all of it).

Each server runs pinned to CPU 0 (taskset), dnsperf pinned to CPU 1, one after the other:
  1. queries/s at full load (dnsperf -c 4 -q 100), cold and hot files
  2. latency at a fixed 20,000 queries/s (dnsperf -Q 20000)
  3. memory: RSS with N entries minus RSS with only the test point, per entry
  4. load time of the N-entry snapshot (fresh process, best of 3)
  5. a snapshot swap in the middle of a mailrep dnsperf run: dnsperf must report 0 lost
With --defended, mailrep also runs as a public node with its defences on (RRL with limits far
above the benchmark rate, metrics, query counting flushed every 5 s to a callback that keeps
the totals; `--serve-node`, below), and once more without the counting (its cost): cold-file
full-load runs, memory per entry with the defences on, and start to first answer. With
--rounds N (N > 1) the four servers (rbldnsd, mailrep, defended, defended without counting)
then take turns on the cold file N times more, and the medians of the per-round ratios are
printed: on a shared machine a neighbour's burst hits one run, not a whole column.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ZONE = "bl.mailrep.test"
SOA = f"$SOA 300 ns.{ZONE} hostmaster.mailrep.test {{serial}} 3600 600 86400 60\n"
SERVER_CPU, CLIENT_CPU = "0", "1"
_RESERVED_FIRST = {0, 10, 100, 127, 169, 172, 192, 198, 203}


def need(program: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if os.path.exists(f"/usr/sbin/{program}") else None)
    if not path:
        sys.exit(f"benchmarks/dns.py: {program} is not installed (scripts/install-peers)")
    return path


def public_ip(rnd: random.Random) -> int:
    while True:
        q = rnd.getrandbits(32)
        if 1 <= q >> 24 < 224 and q >> 24 not in _RESERVED_FIRST:
            return q


def dotted(q: int) -> str:
    return f"{q >> 24}.{q >> 16 & 255}.{q >> 8 & 255}.{q & 255}"


def rev(q: int) -> str:
    return f"{q & 255}.{q >> 8 & 255}.{q >> 16 & 255}.{q >> 24}"


def make_data(work: Path, n: int, rnd: random.Random) -> tuple[Path, Path, Path, Path]:
    listed: set[int] = set()
    while len(listed) < n:
        listed.add(public_ip(rnd))
    keys = list(listed)
    head = SOA.format(serial=1) + ":127.0.0.2:Blocked - see https://mailrep.test/lookup?ip=$\n127.0.0.2\n"
    full, empty = work / "bl.txt", work / "empty.txt"
    with full.open("w") as f:
        f.write(head)
        f.write("\n".join(map(dotted, keys)))
        f.write("\n")
    empty.write_text(head)

    def queries(path: Path, count: int) -> Path:
        with path.open("w") as f:
            for i in range(count):
                if i % 2:
                    q = rnd.choice(keys)
                else:
                    q = public_ip(rnd)
                    while q in listed:
                        q = public_ip(rnd)
                f.write(f"{rev(q)}.{ZONE} A\n")
        return path

    return full, empty, queries(work / "cold.txt", 200_000), queries(work / "hot.txt", 10_000)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def ask_soa(port: int, timeout: float = 0.5) -> int | None:
    """The zone's SOA serial over UDP, or None when nothing answers yet."""
    labels = b"".join(bytes((len(x),)) + x.encode() for x in ZONE.split(".")) + b"\0"
    q = struct.pack("!HHHHHH", 4242, 0, 1, 0, 0, 0) + labels + struct.pack("!HH", 6, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            r = s.recv(4096)
        except OSError:
            return None
    if len(r) < 12 or r[3] & 0xF or struct.unpack("!H", r[6:8])[0] != 1:
        return None
    return struct.unpack("!I", r[-20:-16])[0]


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class Server:
    def __init__(self, name: str, argv: list[str], port: int, cwd: Path) -> None:
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *argv], cwd=cwd,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while ask_soa(port, 0.05) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                self.log.seek(0)
                raise RuntimeError(f"{name} did not start: {self.log.read()[-3000:].decode(errors='replace')}")
            time.sleep(0.01)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        # rbldnsd -n and `python -m mailrep.dns` run in the process taskset exec'd
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def rbldnsd(work: Path, data: Path, port: int) -> Server:
    return Server("rbldnsd", [need("rbldnsd"), "-n", "-q", "-b", f"127.0.0.1/{port}", "-w", str(work),
                              f"{ZONE}:ip4set:{data.name}"], port, work)


DEFENDED_RATE = 1_000_000.0  # RRL replies/s per client /24 and class: above any benchmark rate


def serve_node(snap: str, port: int, count: bool) -> None:
    """A `mailrep dns` worker with RRL, metrics and (with `count`) query counting on: the same
    runner as the command (mailrep.dns.command.serve), and a Node as `mailrep serve` builds it,
    whose counts go to a callback (there is no store here) that keeps their totals."""
    import logging

    from mailrep.cli.common import run_async
    from mailrep.dns.command import loader, serve
    from mailrep.dns.node import Node, NodeConfig

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    load, paths = loader(snap, [])
    totals = [0, 0]

    def flush(counts: dict[str, int]) -> None:
        totals[0] += len(counts)
        totals[1] += sum(counts.values())
        print(f"flushed {len(counts)} addresses, {sum(counts.values())} queries", file=sys.stderr)

    cfg = NodeConfig(rrl=True, rrl_answers=DEFENDED_RATE, rrl_negative=DEFENDED_RATE,
                     rrl_errors=DEFENDED_RATE, metrics="127.0.0.1:0", count_queries=count,
                     count_interval=5.0)
    node = Node(cfg, volume_flush=flush if count else None)
    run_async(serve([("127.0.0.1", port)], load, paths, reuse_port=False, interval=0.5, tcp_idle=10,
                    max_tcp=256, announce=print, node=node, max_tcp_per_client=16))


def mailrep_node(work: Path, snap: Path, port: int, count: bool = True) -> Server:
    return Server("mailrep defended", [PY, str(Path(__file__).resolve()), "--serve-node", str(snap),
                                       "--port", str(port), *([] if count else ["--no-count"])], port, ROOT)


def first_answer_s(start: Callable[[int], Server]) -> float:
    """Seconds from starting a server process to its first answer (a fresh process loading the
    snapshot: interpreter, imports, load, bind), best of 3."""
    best = float("inf")
    for _ in range(3):
        port = free_port()
        t = time.perf_counter()
        srv = start(port)
        best = min(best, time.perf_counter() - t)
        srv.stop()
    return best


def interleaved(rounds: int, qfile: Path, secs: float,
                servers: dict[str, Callable[[int], Server]]) -> dict[str, Any]:
    """Each server in turn on `qfile`, `rounds` times: every run, and the median per-round ratios."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for _ in range(rounds):
        for name, start in servers.items():
            with start(free_port()) as srv:
                runs[name].append(dnsperf(srv.port, qfile, secs, pid=srv.pid))

    def median_ratio(a: str, b: str, key: str) -> float:
        return round(statistics.median(x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True)), 3)

    return {
        "runs": runs,
        "defended_vs_rbldnsd_qps": median_ratio("defended", "rbldnsd", "qps"),
        "defended_vs_rbldnsd_cpu": median_ratio("rbldnsd", "defended", "cpu_us_per_q"),
        "mailrep_vs_rbldnsd_qps": median_ratio("mailrep", "rbldnsd", "qps"),
        "defended_vs_mailrep_qps": median_ratio("defended", "mailrep", "qps"),
        "counting_qps": median_ratio("defended", "defended, no counting", "qps"),
        "counting_cpu": median_ratio("defended", "defended, no counting", "cpu_us_per_q"),
    }


def mailrep(work: Path, snap: Path, port: int, *extra: str) -> Server:
    return Server("mailrep", [PY, "-m", "mailrep.cli.dns", "-b", f"127.0.0.1/{port}", "--snapshot", str(snap),
                              "--check-interval", "0.5", *extra], port, ROOT)


_FIELDS = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "lat_avg_ms": r"Average Latency \(s\):\s+([\d.]+)",
    "lat_max_ms": r"Average Latency \(s\):.*max ([\d.]+)",
    "lat_sd_ms": r"Latency StdDev \(s\):\s+([\d.]+)",
}


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def dnsperf(port: int, qfile: Path, seconds: float, *extra: str, pid: int | None = None) -> dict[str, float]:
    before = cpu_ticks(pid) if pid else 0
    out = subprocess.run(["taskset", "-c", CLIENT_CPU, need("dnsperf"), "-s", "127.0.0.1", "-p", str(port),
                          "-d", str(qfile), "-l", str(seconds), "-c", "4", "-q", "100", *extra],
                         capture_output=True, text=True, timeout=seconds + 60)
    res: dict[str, float] = {}
    for k, rx in _FIELDS.items():
        m = re.search(rx, out.stdout)
        if m:
            v = float(m.group(1))
            res[k] = v * 1000 if k.endswith("_ms") else v
    if "qps" not in res:
        raise RuntimeError(f"dnsperf failed: {out.stdout}\n{out.stderr}")
    if pid and res.get("completed"):
        res["cpu_us_per_q"] = (cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK") * 1e6 / res["completed"]
    return res


def load_time(snap: Path) -> float:
    code = ("import time,sys; from mailrep.zones.zone import load_snapshot; "
            "t=time.perf_counter(); load_snapshot(sys.argv[1]); print(time.perf_counter()-t)")
    return min(float(subprocess.run([PY, "-c", code, str(snap)], capture_output=True, text=True,
                                    check=True, cwd=ROOT).stdout) for _ in range(3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 entries, 5 s runs")
    ap.add_argument("--entries", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--defended", action="store_true",
                    help="also mailrep with RRL, metrics and query counting on (and without the counting)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --defended: N interleaved rounds of the four servers more (medians)")
    ap.add_argument("--serve-node", metavar="SNAPSHOT", help=argparse.SUPPRESS)  # the defended worker
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--no-count", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_node:
        sys.path.insert(0, str(ROOT / "src"))
        serve_node(args.serve_node, args.port, not args.no_count)
        return
    n = args.entries or (100_000 if args.quick else 1_000_000)
    secs = args.seconds or (5.0 if args.quick else 10.0)
    need("taskset")
    sys.path.insert(0, str(ROOT / "src"))
    from mailrep.zones.zone import Snapshot, Zone, load_rbldnsd, save_snapshot

    work = Path(tempfile.mkdtemp(prefix="mailrep-dnsbench-"))
    work.chmod(0o755)  # rbldnsd started as root reads its files as its own user
    r: dict[str, object] = {"entries": n, "seconds": secs, "machine": f"{platform.processor() or platform.machine()}, "
                            f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
                            "loadavg_start": os.getloadavg()[0]}
    try:
        rnd = random.Random(2003)
        t = time.perf_counter()
        full, empty, cold, hot = make_data(work, n, rnd)
        print(f"data: {n:,} entries written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        t = time.perf_counter()
        snap_full = load_rbldnsd([(ZONE, "ip4set", [str(full)])], serial=1)
        r["text_parse_s"] = round(time.perf_counter() - t, 2)
        snap_empty = load_rbldnsd([(ZONE, "ip4set", [str(empty)])], serial=1)
        sfull, sempty, sswap = work / "full.snap", work / "empty.snap", work / "swap.snap"
        save_snapshot(snap_full, sfull)
        save_snapshot(snap_empty, sempty)
        # the same data under the next serial, for the swap
        z = snap_full.zones[ZONE]
        z2 = Zone(z.name, soa=dataclasses.replace(z.soa, serial=z.soa.serial + 1), ns=z.ns,
                  ns_ttl=z.ns_ttl, ttl=z.ttl, datasets=z.datasets)
        save_snapshot(Snapshot([z2], serial=z.soa.serial + 1), sswap)
        del snap_full, snap_empty, z, z2
        r["snapshot_bytes"] = sfull.stat().st_size
        r["snapshot_load_s"] = round(load_time(sfull), 3)
        print(f"snapshot load {r['snapshot_load_s']} s", file=sys.stderr)

        runs: dict[str, dict[str, float]] = {}
        mem: dict[str, float] = {}
        # rbldnsd
        for label, data in (("empty", empty), ("full", full)):
            srv = rbldnsd(work, data, free_port())
            try:
                mem[f"rbldnsd_{label}_kb"] = rss_kb(srv.pid)
                if label == "full":
                    runs["rbldnsd cold"] = dnsperf(srv.port, cold, secs, pid=srv.pid)
                    dnsperf(srv.port, hot, secs, "-n", "1")  # the same warm-up as mailrep gets
                    runs["rbldnsd hot"] = dnsperf(srv.port, hot, secs, pid=srv.pid)
                    runs["rbldnsd 20k qps"] = dnsperf(srv.port, cold, secs, "-Q", "20000", pid=srv.pid)
            finally:
                srv.stop()
        # mailrep, one worker
        for label, snap in (("empty", sempty), ("full", sfull)):
            live = work / f"serving-{label}.snap"
            shutil.copyfile(snap, live)
            srv = mailrep(work, live, free_port())
            try:
                mem[f"mailrep_{label}_kb"] = rss_kb(srv.pid)
                if label == "full":
                    runs["mailrep cold"] = dnsperf(srv.port, cold, secs, pid=srv.pid)
                    dnsperf(srv.port, hot, secs, "-n", "1")  # one pass fills the reply cache
                    runs["mailrep hot"] = dnsperf(srv.port, hot, secs, pid=srv.pid)
                    runs["mailrep 20k qps"] = dnsperf(srv.port, cold, secs, "-Q", "20000", pid=srv.pid)
                    # swap in the middle of a run: replace the served file atomically
                    before = ask_soa(srv.port)

                    def swap(live: Path = live) -> None:
                        time.sleep(secs / 3)
                        tmp = live.with_suffix(".new")
                        shutil.copyfile(sswap, tmp)
                        os.replace(tmp, live)

                    th = threading.Thread(target=swap)
                    th.start()
                    runs["mailrep swap"] = dnsperf(srv.port, cold, secs, "-Q", "20000", pid=srv.pid)
                    th.join()
                    after = ask_soa(srv.port)
                    r["swap_serials"] = [before, after]
                    mem["mailrep_after_runs_kb"] = rss_kb(srv.pid)
            finally:
                srv.stop()
        srv = mailrep(work, sfull, free_port(), "--cache", "0")
        try:
            runs["mailrep cold, no cache"] = dnsperf(srv.port, cold, secs, pid=srv.pid)
        finally:
            srv.stop()
        r["first_answer_s"] = round(first_answer_s(lambda port: mailrep(work, sfull, port)), 3)
        if args.defended:
            for label, snap in (("empty", sempty), ("full", sfull)):
                with mailrep_node(work, snap, free_port()) as srv:
                    mem[f"defended_{label}_kb"] = rss_kb(srv.pid)
                    if label == "full":
                        runs["defended cold"] = dnsperf(srv.port, cold, secs, pid=srv.pid)
                        runs["defended 20k qps"] = dnsperf(srv.port, cold, secs, "-Q", "20000", pid=srv.pid)
                        mem["defended_after_runs_kb"] = rss_kb(srv.pid)
            with mailrep_node(work, sfull, free_port(), count=False) as srv:
                runs["defended cold, no counting"] = dnsperf(srv.port, cold, secs, pid=srv.pid)
            # the plain node once more, after the defended ones: the pair brackets them in time
            with mailrep(work, sfull, free_port()) as srv:
                runs["mailrep cold, again"] = dnsperf(srv.port, cold, secs, pid=srv.pid)
            r["defended_first_answer_s"] = round(first_answer_s(lambda port: mailrep_node(work, sfull, port)), 3)
            if args.rounds > 1:
                r["rounds"] = interleaved(args.rounds, cold, secs, {
                    "rbldnsd": lambda port: rbldnsd(work, full, port),
                    "mailrep": lambda port: mailrep(work, sfull, port),
                    "defended": lambda port: mailrep_node(work, sfull, port),
                    "defended, no counting": lambda port: mailrep_node(work, sfull, port, count=False)})
        r["runs"] = runs
        r["memory"] = mem
        r["bytes_per_entry"] = {
            "mailrep": round((mem["mailrep_full_kb"] - mem["mailrep_empty_kb"]) * 1024 / n, 2),
            "rbldnsd": round((mem["rbldnsd_full_kb"] - mem["rbldnsd_empty_kb"]) * 1024 / n, 2),
        }
        if args.defended:
            r["bytes_per_entry"]["defended"] = round((mem["defended_full_kb"] - mem["defended_empty_kb"]) * 1024 / n, 2)
            d = runs["defended cold"]
            r["ratio_defended"] = round(d["qps"] / runs["rbldnsd cold"]["qps"], 2)
            r["cpu_ratio_defended"] = round(runs["rbldnsd cold"]["cpu_us_per_q"] / d["cpu_us_per_q"], 2)
            r["defended_vs_plain"] = round(d["qps"] / runs["mailrep cold"]["qps"], 2)
            nc = runs["defended cold, no counting"]
            r["counting_cost_qps"] = round(1 - d["qps"] / nc["qps"], 3)
            r["counting_cost_cpu"] = round(d["cpu_us_per_q"] / nc["cpu_us_per_q"] - 1, 3)
        r["ratio_cold"] = round(runs["mailrep cold"]["qps"] / runs["rbldnsd cold"]["qps"], 2)
        r["ratio_hot"] = round(runs["mailrep hot"]["qps"] / runs["rbldnsd hot"]["qps"], 2)
        r["cpu_ratio_cold"] = round(runs["rbldnsd cold"]["cpu_us_per_q"] / runs["mailrep cold"]["cpu_us_per_q"], 2)
        r["cpu_ratio_hot"] = round(runs["rbldnsd hot"]["cpu_us_per_q"] / runs["mailrep hot"]["cpu_us_per_q"], 2)
        r["loadavg_end"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"\n{n:,} listed IPv4, {secs:g} s per run; {r['machine']}; load avg {r['loadavg_start']:.1f}"
          f" -> {r['loadavg_end']:.1f}")
    print(f"{'run':28} {'qps':>9} {'lost':>6} {'avg ms':>8} {'sd ms':>8} {'max ms':>8} {'CPU us/q':>9}")
    for k, v in runs.items():
        print(f"{k:28} {v['qps']:9.0f} {v.get('lost', 0):6.0f} {v.get('lat_avg_ms', 0):8.3f} "
              f"{v.get('lat_sd_ms', 0):8.3f} {v.get('lat_max_ms', 0):8.3f} {v.get('cpu_us_per_q', 0):9.2f}")
    print(f"queries/s mailrep / rbldnsd: cold {r['ratio_cold']}x, hot {r['ratio_hot']}x (target >= 0.8x); "
          f"by CPU per query: cold {r['cpu_ratio_cold']}x, hot {r['cpu_ratio_hot']}x")
    print(f"memory per listed IPv4 (RSS full - empty): mailrep {r['bytes_per_entry']['mailrep']} B, "
          f"rbldnsd {r['bytes_per_entry']['rbldnsd']} B (target <= 8 B); RSS kB {mem}")
    print(f"snapshot: {r['snapshot_bytes']:,} bytes, load {r['snapshot_load_s']} s (target <= 1 s); "
          f"rbldnsd-text parse by mailrep {r['text_parse_s']} s")
    print(f"swap during a run: serial {r['swap_serials'][0]} -> {r['swap_serials'][1]}, "
          f"lost {runs['mailrep swap']['lost']:.0f} of {runs['mailrep swap']['sent']:.0f}")
    print(f"start to first answer (fresh process, {n:,} entries, best of 3): {r['first_answer_s']} s")
    if args.defended:
        print(f"defended (RRL + metrics + counting), cold: {r['ratio_defended']}x rbldnsd by queries/s "
              f"(target >= 0.8x), {r['cpu_ratio_defended']}x by CPU per query; {r['defended_vs_plain']}x "
              f"the undefended mailrep; memory per entry {r['bytes_per_entry']['defended']} B (undefended "
              f"{r['bytes_per_entry']['mailrep']} B, target <= 8 B); start to first answer "
              f"{r['defended_first_answer_s']} s")
        print(f"query counting on vs off (defended, cold): {100 * r['counting_cost_qps']:.1f} % of queries/s, "
              f"{100 * r['counting_cost_cpu']:+.1f} % CPU per query (target < 5 %)")
    rounds = r.get("rounds")
    if isinstance(rounds, dict):
        print(f"\n{args.rounds} interleaved rounds, cold file (qps / CPU us per query of each run):")
        for name, rr in rounds["runs"].items():
            print(f"  {name:24} " + "  ".join(f"{x['qps']:7.0f} / {x['cpu_us_per_q']:.2f}" for x in rr))
        print(f"median of the per-round ratios: defended / rbldnsd {rounds['defended_vs_rbldnsd_qps']}x by "
              f"queries/s, {rounds['defended_vs_rbldnsd_cpu']}x by CPU per query; undefended / rbldnsd "
              f"{rounds['mailrep_vs_rbldnsd_qps']}x; defended / undefended {rounds['defended_vs_mailrep_qps']}x; "
              f"counting on / off: {rounds['counting_qps']}x queries/s, {rounds['counting_cpu']}x CPU per query")


if __name__ == "__main__":
    main()
