"""A readable walk of a trace decision, for a person (`mailrep trace --explain`)."""

from __future__ import annotations

from mailrep.trace.hop import Hop, HopKind
from mailrep.trace.trace import Trace


def _hop_line(n: int, hop: Hop) -> list[str]:
    r = hop.relay
    mark = "trusted  " if hop.trusted else "UNTRUSTED"
    if hop.kind is HopKind.ORIGINATING:
        head = f"  {n:>2}. [{mark}] {hop.header}: {r.ip}"
    else:
        sender = " ".join(p for p in (r.helo and f"helo={r.helo}", r.rdns and f"rdns={r.rdns}") if p)
        head = f"  {n:>2}. [{mark}] from {r.ip or '?'}" + (f" ({sender})" if sender else "") + f" by {r.by or '?'}"
        extra = [x for x in (r.auth and f"auth={r.auth}", r.date and f"date={r.date.isoformat()}", r.envfrom and f"envelope from {r.envfrom}") if x]
        if extra:
            head += "; " + ", ".join(extra)
    return [head, f"      why: {hop.why}"]


def explain(trace: Trace, *, name: str = "") -> str:
    """Several lines: the config, each hop newest first with its decision, skipped headers,
    flags, the source and the URLs."""
    out: list[str] = [f"== {name}" if name else "== message"]
    out.append(f"Trust: {trace.config.describe()}")
    if trace.arf is not None:
        out.append("This is an ARF report: the embedded original message was traced.")
    skipped = {s.position: s for s in trace.skipped}
    shown: set[int] = set()
    out.append("Hops, newest first:" if trace.hops or skipped else "No Received headers.")
    for i, hop in enumerate(trace.hops):
        for pos in sorted(p for p in skipped if p not in shown and (hop.kind is HopKind.ORIGINATING or p < hop.position)):
            shown.add(pos)
            out.append(f"   -  Received header {pos + 1} skipped ({skipped[pos].reason}): {skipped[pos].raw[:100]}")
        out.extend(_hop_line(i + 1, hop))
        if i == trace.source_hop:
            out.append("      ^^ this is the source: the last trusted host recorded this IP")
    for pos in sorted(p for p in skipped if p not in shown):
        out.append(f"   -  Received header {pos + 1} skipped ({skipped[pos].reason}): {skipped[pos].raw[:100]}")
    out.append(f"Source: {trace.source_ip or 'none'} ({trace.source_reason})")
    if trace.flags:
        out.append("Flags:")
        out.extend(f"  - {f.code}: {f.detail}" for f in trace.flags)
    if trace.urls:
        out.append("URLs:")
        out.extend(f"  - {u.url} (domain {u.domain or '-'})" for u in trace.urls[:50])
        if len(trace.urls) > 50:
            out.append(f"  ... and {len(trace.urls) - 50} more")
    return "\n".join(out) + "\n"
