"""Trace throughput beside SpamAssassin, and the worst case over a pathological set.

    .venv/bin/python benchmarks/trace.py [--rounds 3] [--json]

1. Corpus: the 1,000 messages of ../shared/corpus/messages/{spam,ham}. mailrep's figure is
   `trace_message` (read + Received parse + trust path + URLs + ARF sniffing) in this process,
   file reading included, best of --rounds; its start-up (imports, first call: regexes, Public
   Suffix List) is measured apart. The peer is SpamAssassin's own metadata extraction
   (../shared/tools/sa-relays: Mail::SpamAssassin parse + extract_message_metadata, no rules,
   no DNS) on the same files in the same run; its start-up is measured with an empty input and
   reported apart, so both "with" and "without start-up" ratios are printed. Wall and CPU time
   are both given: on a shared machine CPU time is the steadier comparison.
   The installed `mailrep trace` command over the same files (JSON out, process start-up
   included, best of --rounds, after one run that fills the user's compiled-pattern cache) is
   compared with sa-relays start-up included (targets: >= 10x wall and CPU; in process >=
   12x), and the command on one file gives its start-up (target <= 0.3 s).
2. Pathological set: generated hostile headers (deep nesting, long runs of one character,
   hundreds of Received lines, huge originating-IP headers, a 300 kB header line). Each
   message is traced --rounds times and its best wall and best CPU time kept (to filter
   scheduler noise); the worst of those is the figure (target < 50 ms). A second set of hostile *bodies* (1 MB runs
   of URL-like text, entities, deep MIME, binary junk) is reported beside it: its cost is
   bounded by the URL extractor's text cap, not by the headers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
SA_RELAYS = ROOT.parent / "shared" / "tools" / "sa-relays"


def corpus_files() -> list[Path]:
    files = sorted((CORPUS / "messages" / "spam").iterdir()) + sorted((CORPUS / "messages" / "ham").iterdir())
    return [f for f in files if f.is_file()]


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_child(cmd: list[str], stdin: bytes, env: dict[str, str] | None = None) -> tuple[float, float, bytes]:
    c0, w0 = child_cpu(), time.perf_counter()
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False)
    wall, cpu = time.perf_counter() - w0, child_cpu() - c0
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace')[:500]}")
    return wall, cpu, p.stdout


def bench_ours(files: list[Path], rounds: int) -> dict[str, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    from mailrep.trace import trace_message

    trace_message(files[0].read_bytes())  # first call: compiles regexes, loads the PSL
    startup_wall, startup_cpu = time.perf_counter() - w0, time.process_time() - c0
    best_wall = best_cpu = float("inf")
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for f in files:
            trace_message(f.read_bytes())
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"startup_wall": startup_wall, "startup_cpu": startup_cpu, "wall": best_wall, "cpu": best_cpu}


def bench_sa(files: list[Path]) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("SA_TRUSTED", None)
    s_wall, s_cpu, _ = run_child(["perl", str(SA_RELAYS)], b"", env)
    wall, cpu, out = run_child(["perl", str(SA_RELAYS)], "".join(f"{f}\n" for f in files).encode(), env)
    n = sum(1 for line in out.splitlines() if line.strip())
    if n != len(files):
        raise SystemExit(f"sa-relays printed {n} lines for {len(files)} files")
    return {"startup_wall": s_wall, "startup_cpu": s_cpu, "total_wall": wall, "total_cpu": cpu,
            "wall": max(wall - s_wall, 1e-9), "cpu": max(cpu - s_cpu, 1e-9)}


def bench_command(files: list[Path], rounds: int) -> dict[str, float]:
    """The installed command over all the files, and over one file (its start-up), each the
    best of `rounds` runs; one run first so that the compiled patterns are in the user's cache
    (as for every run after a user's first)."""
    exe = str(Path(sys.executable).with_name("mailrep"))
    run_child([exe, "trace", str(files[0])], b"")
    best = {"wall": float("inf"), "cpu": float("inf"), "one_wall": float("inf"), "one_cpu": float("inf")}
    for _ in range(rounds):
        wall, cpu, out = run_child([exe, "trace", *map(str, files)], b"")
        assert sum(1 for line in out.splitlines() if line.strip()) == len(files)
        best["wall"], best["cpu"] = min(best["wall"], wall), min(best["cpu"], cpu)
        wall, cpu, _ = run_child([exe, "trace", str(files[0])], b"")
        best["one_wall"], best["one_cpu"] = min(best["one_wall"], wall), min(best["one_cpu"], cpu)
    return best


def pathological() -> dict[str, tuple[str, bytes]]:
    """Generated hostile messages, deterministic: name -> (set, raw) with set headers|bodies."""
    date = "Mon, 11 Oct 2010 14:00:00 +0000"
    cases: dict[str, bytes] = {}
    for ch in ["(", ")", "[", "]", " ", "a", "1.", ":", "::", "<", "=", "\\", "\t", "from ", "by x ", "[1.2.3.4] ",
               "(a ", "a.", "-", "helo=", "for ", "id x ", "with ", "([", "IPv6:", "(envelope-from ", "@"]:
        for n in (5_000, 60_000):
            name = f"received {ch!r} x {n}"
            cases[name] = f"Received: from x {ch * n} by y with SMTP; {date}\n\nbody\n".encode()
    cases["received nested parens 30k"] = (f"Received: from {'(' * 30000}x{')' * 30000} by y; {date}\n\n").encode()
    cases["100 received + 400 over the cap"] = "".join(
        f"Received: from h{i}.example.com (h{i}.example.com [10.{i % 250}.0.1]) by h{i + 1}.example.com with ESMTP id {i}; {date}\n" for i in range(500)
    ).encode() + b"\nbody\n"
    cases["folded received, 20k continuation lines"] = ("Received: from x\n" + " (a)\n" * 20000 + f" by y; {date}\n\n").encode()
    cases["header block of 120k blank continuation lines"] = b"X: a\n" + b" \n" * 120_000 + b"\n"
    cases["x-originating-ip 200 kB"] = ("X-Originating-IP: " + "1." * 100_000 + "\n\n").encode()
    cases["x-originating-ip colons 200 kB"] = ("X-Originating-IP: " + ":" * 200_000 + "\n\n").encode()
    cases["url run 1 MB body"] = b"Subject: u\n\n" + b"http://" + b"a." * 500_000
    cases["www run 1 MB body"] = b"Subject: u\n\n" + b"www." * 250_000
    cases["obfuscated dots 1 MB body"] = b"Subject: u\n\nhxxp://" + b"a[.]" * 250_000
    cases["html entities 1 MB body"] = b"Content-Type: text/html\n\n<a href=\"" + b"&#x68;" * 150_000 + b"\">x</a>"
    nest = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(200))
    cases["200 nested multiparts"] = ("Subject: m\n" + nest + "\nhttp://deep.example.com/\n").encode()
    cases["header block 256 kB one line"] = b"X-Long: " + b"x" * 300_000 + b"\n\nbody"
    cases["arf-looking junk"] = b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\n\n" + b"--x\n" * 20000
    cases["binary junk 1 MB"] = bytes((i * 7919) % 256 for i in range(1_000_000))
    bodies = ("url run", "www run", "obfuscated", "html entities", "nested multiparts", "arf-looking", "binary junk")
    return {k: ("bodies" if k.startswith(bodies) else "headers", v) for k, v in cases.items()}


def bench_pathological(rounds: int) -> dict[str, list[tuple[float, float, str]]]:
    """Per message: (best wall, best CPU, name), worst first by wall."""
    from mailrep.errors import NotMail
    from mailrep.trace import trace_message

    times: dict[str, list[tuple[float, float, str]]] = {"headers": [], "bodies": []}
    for name, (kind, raw) in pathological().items():
        best = best_cpu = float("inf")
        for _ in range(rounds):
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                trace_message(raw)
            except NotMail:
                pass
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        times[kind].append((best, best_cpu, name))
    for v in times.values():
        v.sort(reverse=True)
    return times


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f} at start"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()
    files = corpus_files()
    n = len(files)
    print(f"machine: {machine()}")
    print(f"corpus: {n} messages (messages/spam + messages/ham)")
    ours = bench_ours(files, args.rounds)
    sa = bench_sa(files)
    cmd = bench_command(files, args.rounds)
    patho = bench_pathological(args.rounds)

    def rate(secs: float) -> float:
        return n / secs

    rows = [
        ("mailrep trace_message (in process)", ours["wall"], ours["cpu"]),
        ("SpamAssassin sa-relays, start-up excluded", sa["wall"], sa["cpu"]),
        ("SpamAssassin sa-relays, start-up included", sa["total_wall"], sa["total_cpu"]),
        ("mailrep trace command, start-up included", cmd["wall"], cmd["cpu"]),
    ]
    print(f"{'':44} {'msgs/s wall':>12} {'msgs/s CPU':>12}")
    for label, w, c in rows:
        print(f"{label:44} {rate(w):12.0f} {rate(c):12.0f}")
    print(f"start-up: mailrep {ours['startup_wall'] * 1000:.0f} ms wall / {ours['startup_cpu'] * 1000:.0f} ms CPU "
          f"(in process: imports, first call); SpamAssassin {sa['startup_wall'] * 1000:.0f} ms wall / "
          f"{sa['startup_cpu'] * 1000:.0f} ms CPU")
    print(f"`mailrep trace` of one file (start-up included): {cmd['one_wall'] * 1000:.0f} ms wall / "
          f"{cmd['one_cpu'] * 1000:.0f} ms CPU (target <= 300 ms)")
    ratios = {
        "wall_vs_sa_without_startup": sa["wall"] / ours["wall"],
        "cpu_vs_sa_without_startup": sa["cpu"] / ours["cpu"],
        "wall_vs_sa_with_startup": sa["total_wall"] / ours["wall"],
        "cpu_vs_sa_with_startup": sa["total_cpu"] / ours["cpu"],
        "command_wall_vs_sa_with_startup": sa["total_wall"] / cmd["wall"],
        "command_cpu_vs_sa_with_startup": sa["total_cpu"] / cmd["cpu"],
    }
    for k, v in ratios.items():
        print(f"ratio {k}: {v:.1f}x")
    for kind, worst in patho.items():
        target = " (target < 50 ms)" if kind == "headers" else ""
        worst_cpu = max(worst, key=lambda x: x[1])
        print(f"pathological {kind}: {len(worst)} messages, worst single-message trace {worst[0][0] * 1000:.1f} ms wall"
              f" ({worst[0][2]}), {worst_cpu[1] * 1000:.1f} ms CPU ({worst_cpu[2]}){target}")
        for w, c, name in worst[:4]:
            print(f"  {w * 1000:8.1f} ms wall {c * 1000:8.1f} ms CPU  {name}")
    if args.json:
        print(json.dumps({"messages": n, "ours": ours, "sa": sa, "command": cmd, "ratios": ratios,
                          "pathological_worst_wall_ms": {k: v[0][0] * 1000 for k, v in patho.items()},
                          "pathological_worst_cpu_ms": {k: max(x[1] for x in v) * 1000 for k, v in patho.items()}}))


if __name__ == "__main__":
    main()
