"""View-models: what a service returns, shaped for a template (and nothing more).

`public_lookup` is the only place that reads `services.lookup.lookup`'s answer for the public
page: when that answer changes shape (counts by kind, rounded ages, network listings), this
function changes with it. `domain_lookup` is the same for `services.dbl.lookup`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mailrep.errors import BadInput
from mailrep.policy.domains import normalise_domain

KIND_NAMES = {"user": "reports from people", "trap": "spamtrap hits", "mole": "reports from moles",
              "simp": "reports from SIMPs", "fbl": "feedback-loop complaints"}

TERMS = (("report_term", "reports"), ("trap_term", "spamtrap hits"), ("volume_term", "volume"))
ITEM_FIELDS = ("kind", "age_hours", "weight", "counted", "note")  # never who reported


def public_lookup(answer: dict[str, Any]) -> dict[str, Any]:
    """The public lookup answer as the lookup page shows it."""
    evidence = answer.get("evidence") or {}
    explanation = answer.get("explanation") or {}
    counts = [(KIND_NAMES.get(k, k), v) for k, v in evidence.items()
              if k != "last_seen" and isinstance(v, int | float) and v]
    reasons = [h["reason"] for h in answer.get("history") or []
               if h.get("by") in ("deputy", "admin") and h.get("reason")]
    return {
        "ip": answer["ip"],
        "listed": bool(answer.get("listed")),
        "listing": answer.get("listing"),
        "covered_by_network": bool(answer.get("listing")) and answer.get("listing") != answer["ip"],
        "since": answer.get("since"),
        "expires": answer.get("expires"),
        "score": answer.get("score"),
        "threshold": explanation.get("threshold"),
        "threshold_rule": explanation.get("threshold_rule"),
        "terms": [(name, explanation[key]) for key, name in TERMS if explanation.get(key) is not None],
        "why": explanation.get("why") or [],
        "pieces": [{k: item.get(k) for k in ITEM_FIELDS} for item in explanation.get("evidence") or []],
        "counts": counts,
        "last_seen": evidence.get("last_seen"),
        "staff_reasons": reasons,
        "history": answer.get("history") or [],
    }


def domain_name(text: str) -> str | None:
    """`text` as a domain name the domain blocklist keys (lower case, punycode), or None when
    it is not one. A name whose last label is all digits is a mistyped address, not a domain."""
    try:
        name = normalise_domain(text)
    except BadInput:
        return None
    return None if name.rsplit(".", 1)[-1].isdigit() else name


def _hours_since(at: str | None, now: datetime) -> int | None:
    return None if at is None else max(0, int((now - datetime.fromisoformat(at)).total_seconds() // 3600))


def _number(x: Any) -> Any:
    """7.0 as 7 (a rule's figures read as people write them)."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def domain_lookup(answer: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The public domain answer (`services.dbl.lookup`) as the lookup page shows it: counts,
    the age of the newest evidence and the rule's figures; never who reported."""
    evidence = answer.get("evidence") or {}
    explanation = answer.get("explanation") or {}
    exempt = explanation.get("exempt")
    reporters = int(evidence.get("reporters") or 0)
    return {
        "domain": answer["domain"],
        "listed": bool(answer.get("listed")),
        "since": answer.get("since"),
        "expires": answer.get("expires"),
        "score": answer.get("score"),
        "reports": int(evidence.get("reports") or 0),
        "reporters": reporters,
        "last_seen": evidence.get("last_seen"),
        "last_seen_hours": _hours_since(evidence.get("last_seen"), now),
        "threshold": _number(explanation.get("threshold")),
        "min_reporters": explanation.get("min_reporters"),
        "enough_reporters": reporters >= int(explanation.get("min_reporters") or 0),
        "window_days": _number(explanation.get("window_days")),
        "expiry_hours": _number(explanation.get("expiry_hours")),
        "exempt": exempt if isinstance(exempt, str) and exempt else None,
        "why": explanation.get("why") or "",
        "history": [{k: h.get(k) for k in ("at", "from", "to", "by", "reason", "expires")}
                    for h in answer.get("history") or []],
    }


def trace_view(trace: dict[str, Any]) -> dict[str, Any]:
    """A trace (`Trace.to_dict()`) for the report preview: source, hops, flags, URLs by domain."""
    source = trace.get("source") or {}
    urls = [u for u in trace.get("urls") or [] if isinstance(u, dict)]
    domains = sorted({str(u.get("domain") or u.get("host") or "") for u in urls} - {""})
    return {"source_ip": source.get("ip"), "source_reason": source.get("reason"),
            "hops": trace.get("hops") or [], "flags": trace.get("flags") or [], "urls": urls,
            "domains": domains, "error": trace.get("error"), "headers": trace.get("headers") or {}}


CHART_DAYS = 90


def _signed(x: float | None) -> str | None:
    return None if x is None else f"{x:+.1f}"


def reputation_panel(rep: dict[str, Any], today: date, min_volume: int) -> dict[str, Any]:
    """`services.reputation.ip`'s answer as the lookup page's panel: the score (or why there is
    none), magnitudes, day / month counts, first seen, and 90 days of daily points (missing days
    are zero volume and complaints and no score)."""
    by_day = {h["day"]: h for h in rep.get("history") or []}
    days = [(today - timedelta(days=CHART_DAYS - 1 - i)).isoformat() for i in range(CHART_DAYS)]
    points = [by_day.get(d, {}) for d in days]
    interval = rep.get("score_interval")
    return {
        "score": _signed(rep.get("score")),
        "interval": None if not interval else f"{interval[0]:+.1f} to {interval[1]:+.1f}",
        "confidence": rep.get("confidence"),
        "min_volume": min_volume,
        "magnitude": rep.get("magnitude") or {},
        "counts": [(name, (rep.get(key) or {}).get("day", 0), (rep.get(key) or {}).get("month", 0))
                   for key, name in (("volume", "Messages (volume)"), ("complaints", "Complaints"),
                                     ("trap_hits", "Spamtrap hits"), ("dns_queries", "DNS queries"))],
        "first_seen": rep.get("first_seen"),
        "explanation": [e["text"] for e in rep.get("explanation") or [] if e.get("text")],
        "has_history": any(points),
        "days": days,
        "volume": [int(p.get("volume", 0)) for p in points],
        "complaints": [int(p.get("complaints", 0)) for p in points],
        "scores": [p.get("score") for p in points],
        "network": rep.get("network"),
    }


# The dashboard's filter colour (SNDS-like), stated on the page.
GREEN_BELOW = Decimal("0.001")  # complaint rate under 0.1 % and no trap hits
YELLOW_BELOW = Decimal("0.003")  # under 0.3 %
FILTER_RULE = ("green: complaint rate under 0.1% and no spamtrap hits; yellow: complaint rate under 0.3% "
               "(or under 0.1% with trap hits); red: 0.3% or more, or complaints with no volume reported")


def filter_colour(volume: int, complaints: int, trap_hits: int) -> str:
    if volume <= 0:
        return "red" if complaints else ("yellow" if trap_hits else "green")
    rate = Decimal(complaints) / Decimal(volume)
    if rate < GREEN_BELOW and not trap_hits:
        return "green"
    return "yellow" if rate < YELLOW_BELOW else "red"


def complaint_rate(volume: int, complaints: int) -> str:
    """The rate as a percentage with three decimals; empty when no volume was reported."""
    if volume <= 0:
        return ""
    return f"{Decimal(complaints) * 100 / Decimal(volume):.3f}%"


def sender_rows(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dashboard's rows with their complaint rate and colour (a domain's volume is None:
    telemetry reports addresses, so its colour follows the no-volume rule)."""
    return [{**d, "complaint_rate": complaint_rate(d["volume"] or 0, d["complaints"]),
             "colour": filter_colour(d["volume"] or 0, d["complaints"], d["trap_hits"])} for d in days]
