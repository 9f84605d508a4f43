"""The calculation behind a listing decision, as JSON-able data for a page and a person.

Never contains reporter identities (reporters appear as "R1", "R2", ... in order of their
first report, so independence is visible but not who) nor trap addresses (traps are times
only). Times are ISO 8601 UTC strings; numbers are rounded for reading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import Decision, Listing, State
from mailrep.policy.score import HOUR, Evidence, Moment, epoch, freshness


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def _dt(at: Moment) -> datetime:
    return at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)


def _r(x: float) -> float:
    return round(x, 3)


def _items(evidence: Evidence, now: datetime, cfg: PolicyConfig, floor: datetime | None) -> list[dict[str, Any]]:
    now_ts = now.timestamp()
    floor_ts = floor.timestamp() if floor else None
    labels: dict[int | None, str] = {}
    items: list[dict[str, Any]] = []
    by_reporter: dict[int | None, list[dict[str, Any]]] = {}
    for at, reporter, trust, kind in sorted(evidence.reports, key=lambda r: epoch(r[0])):
        if reporter not in labels:
            labels[reporter] = "anonymous" if reporter is None else f"R{sum(1 for k in labels if k is not None) + 1}"
        age = max(0.0, (now_ts - min(epoch(at), now_ts)) / HOUR)
        fresh = freshness(age, cfg)
        item: dict[str, Any] = {
            "kind": "report", "at": iso(_dt(at)), "age_hours": _r(age), "reporter": labels[reporter],
            "reporter_kind": kind, "freshness": _r(fresh), "trust": _r(trust),
            "weight": _r(fresh * trust), "counted": True, "note": "",
        }
        if fresh == 0.0:
            item.update(counted=False, weight=0.0, note=f"older than {cfg.max_age_days:g} days")
        elif floor_ts is not None and epoch(at) <= floor_ts:
            item.update(counted=False, weight=0.0, note="before the delisting")
        else:
            by_reporter.setdefault(reporter, []).append(item)
        items.append(item)
    for group in by_reporter.values():
        for extra in sorted(group, key=lambda i: -i["weight"])[cfg.per_reporter_reports:]:
            extra.update(counted=False, note=f"beyond this reporter's {cfg.per_reporter_reports} heaviest reports")
    for at in sorted(evidence.traps, key=epoch):
        age = max(0.0, (now_ts - min(epoch(at), now_ts)) / HOUR)
        counted = age <= cfg.max_age_days * 24 and (floor_ts is None or epoch(at) > floor_ts)
        note = "" if counted else ("before the delisting" if age <= cfg.max_age_days * 24 else
                                   f"older than {cfg.max_age_days:g} days")
        items.append({"kind": "trap", "at": iso(_dt(at)), "age_hours": _r(age), "counted": counted, "note": note})
    items.sort(key=lambda i: i["at"], reverse=True)
    return items


def explain(decision: Decision, evidence: Evidence, now: datetime, cfg: PolicyConfig) -> dict[str, Any]:
    """What was counted, how, against what, and the outcome."""
    a = decision.assessment
    lst: Listing = decision.listing
    items = _items(evidence, now, cfg, lst.delisted_at)
    trap_rule = (f"{a.traps} hits squared (from {cfg.trap_square_from} hits on)" if a.traps >= cfg.trap_square_from
                 else f"{cfg.trap_weight:g} x {a.traps} hits (below {cfg.trap_square_from})")
    why: list[str] = []
    if decision.never_listed:
        why.append(f"{lst.key} is never listed: {decision.never_listed}.")
    if lst.state == State.EXEMPT:
        why.append(f"Exempted by staff: {lst.reason}.")
    elif lst.state == State.DELISTED:
        why.append(f"Delisted by staff at {iso(lst.delisted_at)}: {lst.reason}. Only evidence after that counts.")
    elif lst.state == State.LISTED and lst.manual:
        why.append(f"Listed by staff: {lst.reason}.")
    if not decision.never_listed and lst.state != State.EXEMPT:
        why.append(a.why[0].upper() + a.why[1:] + ".")
        if not a.independent:
            why.append(f"Listing needs at least {cfg.min_reporters} independent reporters or a spamtrap hit; "
                       "one reporter never lists an address alone.")
    if lst.listed_at(now):
        why.append(f"Listed until {iso(lst.expires_at)} unless new evidence arrives.")
    return {
        "key": lst.key,
        "at": iso(now),
        "state": str(lst.state),
        "listed": lst.listed_at(now),
        "manual": lst.manual,
        "never_listed": decision.never_listed,
        "evidence": items[: cfg.explain_items],
        "evidence_total": len(items),
        "reports": a.reports,
        "reporters": a.reporters,
        "traps": a.traps,
        "report_term": _r(a.report_term),
        "trap_term": _r(a.trap_term),
        "trap_rule": trap_rule,
        "score": _r(a.score),
        "volume": a.volume,
        "volume_term": _r(a.volume_term),
        "threshold": _r(a.threshold),
        "threshold_rule": f"{cfg.base_threshold:g} + {cfg.volume_slope:g} x log10(1 + volume)",
        "freshness_rule": (f"{cfg.fresh_weight:g}x when new, falling linearly to 1x at {cfg.fresh_hours:g} h; "
                           f"ignored after {cfg.max_age_days:g} days"),
        "independent": a.independent,
        "expires": iso(lst.expires_at) if lst.listed_at(now) else None,
        "expiry_rule": (f"last evidence + {cfg.short_listing_hours:g} h (at most {cfg.short_listing_reports} reports, no trap)"
                        if a.short else f"last evidence + {cfg.expiry_hours:g} h"),
        "qualifies": a.qualifies,
        "why": why,
    }
