"""The calculation behind a listing decision, as JSON-able data for a page and a person.

`explain` is the deputies' view: every report with its exact time, its reporter's pseudonym
("R1", "R2", ... in order of their first report, so independence is visible but not who) and
trust. `public` cuts it down to what anyone may see: counts by kind and age in whole hours,
the terms, score against threshold, the rules and the reasons. Neither contains reporter
identities nor trap addresses (traps are times only). Times are ISO 8601 UTC strings; numbers
are rounded for reading.
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


def _network(net: Listing, now: datetime) -> dict[str, Any]:
    return {"key": net.key, "reason": net.reason, "manual": net.manual, "since": iso(net.listed_since),
            "expires": iso(net.expires_at) if net.listed_at(now) else None}


def _pending(decided: Listing, stored: Listing, queued: int, now: datetime) -> dict[str, Any] | None:
    """What the next evaluation will do, when it is not what is stored (or reports wait for it)."""
    moves = decided.state != stored.state or decided.listed_at(now) != stored.listed_at(now)
    if not moves and not queued:
        return None
    fresh = queued > 0 or decided.last_evidence != stored.last_evidence
    return {"note": "new evidence being evaluated" if fresh else "re-evaluation due",
            "queued_reports": queued, "state": str(decided.state), "listed": decided.listed_at(now)}


def explain(decision: Decision, evidence: Evidence, now: datetime, cfg: PolicyConfig, *,
            stored: Listing | None = None, network: Listing | None = None, queued: int = 0) -> dict[str, Any]:
    """What was counted, how, against what, and the outcome.

    `decision` is `decide(stored, evidence, now)`. With `stored` (the listing as stored, which is
    what the zone publishes) the state, `listed` and `expires` describe it, and `pending` says
    what the next evaluation will change (`queued` reports of this address still wait for it):
    the answer never says "unlisted" while its reasons say "listed". `network` is a listing in
    force of a network that contains the key: the key is then listed through it (`covered_by`).
    """
    a = decision.assessment
    lst: Listing = decision.listing if stored is None else stored
    net = network if network is not None and network.listed_at(now) else None
    pending = None if stored is None else _pending(decision.listing, stored, queued, now)
    items = _items(evidence, now, cfg, lst.delisted_at)
    trap_rule = (f"{a.traps} hits squared (from {cfg.trap_square_from} hits on)" if a.traps >= cfg.trap_square_from
                 else f"{cfg.trap_weight:g} x {a.traps} hits (below {cfg.trap_square_from})")
    own = lst.listed_at(now)
    listed = own or net is not None
    state = "listed" if listed else str(State.UNLISTED if lst.state == State.LISTED else lst.state)
    why: list[str] = []
    if decision.never_listed:
        why.append(f"{lst.key} is never listed: {decision.never_listed}.")
    if net is not None and not own:
        by = "by staff" if net.manual else "by the policy"
        why.append(f"Covered by the listing of the network {net.key} ({by}, since {iso(net.listed_since)}): "
                   f"{net.reason}.")
    if lst.state == State.EXEMPT:
        why.append(f"Exempted by staff: {lst.reason}.")
    elif lst.state == State.DELISTED:
        why.append(f"Delisted by staff at {iso(lst.delisted_at)}: {lst.reason}. Only evidence after that counts.")
    elif lst.state == State.LISTED and lst.manual:
        why.append(f"Listed by staff: {lst.reason}.")
    if not decision.never_listed and lst.state != State.EXEMPT:
        line = a.why[0].upper() + a.why[1:] + "."
        why.append(f"Its own evidence: {a.why}." if net is not None and not own else line)
        if not a.independent and not listed:
            why.append(f"Listing needs at least {cfg.min_reporters} independent reporters or a spamtrap hit; "
                       "one reporter never lists an address alone.")
    expires = lst.expires_at if own else net.expires_at if net is not None else None
    if listed:
        why.append(f"Listed until {iso(expires)} unless new evidence arrives." if own else
                   f"Listed while the network listing holds (until {iso(expires)}).")
    if pending is not None:
        then = "listed" if pending["listed"] else pending["state"]
        verb = "leaves it" if then == state else "makes it"
        why.append(f"{pending['note'].capitalize()}: the next evaluation {verb} {then}.")
    return {
        "key": lst.key,
        "at": iso(now),
        "state": state,
        "listed": listed,
        "manual": lst.manual if own or net is None else net.manual,
        "covered_by": None if net is None else _network(net, now),
        "pending": pending,
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
        "threshold_rule": (f"the larger of {cfg.base_threshold:g} + {cfg.volume_slope:g} x log10(1 + volume) "
                           f"and volume / {cfg.messages_per_point:g}"),
        "freshness_rule": (f"{cfg.fresh_weight:g}x when new, falling linearly to 1x at {cfg.fresh_hours:g} h; "
                           f"ignored after {cfg.max_age_days:g} days"),
        "independent": a.independent,
        "expires": iso(expires) if listed else None,
        "expiry_rule": (f"last evidence + {cfg.short_listing_hours:g} h (at most {cfg.short_listing_reports} reports, no trap)"
                        if a.short else f"last evidence + {cfg.expiry_hours:g} h"),
        "qualifies": a.qualifies,
        "why": why,
    }


def to_hour(t: datetime | None) -> datetime | None:
    """`t` rounded down to the hour (what the public sees of evidence times)."""
    return None if t is None else t.replace(minute=0, second=0, microsecond=0)


def public(explanation: dict[str, Any]) -> dict[str, Any]:
    """The explanation as the public sees it: the calculation (counts, terms, score vs threshold,
    the rules, why) and the evidence counted by kind and age in whole hours; no per-report
    detail (exact times, reporter pseudonyms, trust, weights), which is for deputies."""
    groups: dict[tuple[str, int, bool, str], int] = {}
    for i in explanation["evidence"]:
        kind = i["reporter_kind"] if i["kind"] == "report" else i["kind"]
        k = (kind, int(i["age_hours"]), i["counted"], i["note"])
        groups[k] = groups.get(k, 0) + 1
    evidence = [{"kind": kind, "age_hours": age, "count": n, "counted": counted, "note": note}
                for (kind, age, counted, note), n in groups.items()]
    return {**explanation, "evidence": evidence}
