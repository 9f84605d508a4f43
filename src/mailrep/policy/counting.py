"""Whether one report counts as evidence, and why not: the one rule, pure.

    verdict = decide_count(CountFacts(source_ip, mail_date, mailhosts, forwarded_for, confirmed),
                           now, max_age=timedelta(hours=48), forwarder_reporters=2)
    verdict.counted, verdict.reason, verdict.detail

The intake decides this once, before it acknowledges a report, and stores `counted` and the
reason with the report (a reporter's reports are decided again when its mail hosts change);
the store then loads evidence by the stored flag. (Sources in ranges that are never listed
still count as evidence: the listing rule, `ranges.never_listed_reason`, keeps them off.) The
first reason that applies wins:

    no_source             the trace found no source IP (or a trace failure)
    reporter_own_network  the source is inside the reporter's own declared mail hosts
    too_old               the mail is older than the intake's max age (first Received date,
                          else its Date header)
    probable_forwarder    `forwarder_reporters` or more OTHER reporters' traces show the source
                          as a trusted relay receiving mail for them (a forwarding service):
                          not counted until the reporter confirms its mail hosts

Two more reasons appear only in receipts, about a submission that stored nothing new:
`duplicate` (the same message from the same reporter was received before) and `over_quota`
(the HTTP 429 / SMTP 452 refusal code: nothing was stored).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from mailrep.errors import BadInput
from mailrep.net import parse_ip, parse_network
from mailrep.policy.ranges import never_listed_reason

_SEPARATORS = re.compile(r"[\s|,]+")  # as in mail hosts lists (TrustConfig.from_mailhosts)


class Reason(StrEnum):
    NO_SOURCE = "no_source"
    REPORTER_OWN_NETWORK = "reporter_own_network"
    TOO_OLD = "too_old"
    PROBABLE_FORWARDER = "probable_forwarder"
    DUPLICATE = "duplicate"
    OVER_QUOTA = "over_quota"


# One line per reason, for the OpenAPI schema, the README and `mailrep import`'s summary.
REASONS: Mapping[str, str] = {
    Reason.NO_SOURCE: "the trace found no source IP; stored but not counted",
    Reason.REPORTER_OWN_NETWORK: "the source is inside the reporter's own mail hosts",
    Reason.TOO_OLD: "the mail is older than the intake's max age ([intake] max_age_hours, 48 h)",
    Reason.PROBABLE_FORWARDER: "other reporters' traces show the source receiving mail for them "
                               "(a forwarder); not counted until the reporter sets its mail hosts",
    Reason.DUPLICATE: "the same message was received from this reporter before; nothing new stored",
    Reason.OVER_QUOTA: "the reporter's daily quota is spent; nothing stored (HTTP 429, SMTP 452)",
}


@dataclass(frozen=True, slots=True)
class CountFacts:
    """What is known about one report when it is decided."""

    source_ip: str | None
    mail_date: datetime | None = None
    mailhosts: Sequence[str] = ()
    forwarded_for: int = 0  # OTHER reporters whose traces show the source receiving their mail
    confirmed: bool = False  # the reporter has confirmed its mail hosts (`reporter set`, PUT)


class Verdict(NamedTuple):
    counted: bool
    reason: Reason | None = None
    detail: str = ""


COUNTS = Verdict(True)


def decide_count(facts: CountFacts, now: datetime, *, max_age: timedelta,
                 forwarder_reporters: int = 2) -> Verdict:
    """Whether the report counts; when not, the first reason (see the module docstring)."""
    ip_text = facts.source_ip
    if not ip_text:
        return Verdict(False, Reason.NO_SOURCE, "no source IP found; not counted")
    try:
        ip = parse_ip(ip_text)
    except BadInput:
        return Verdict(False, Reason.NO_SOURCE, f"source {ip_text!r} is not an IP address")
    for host in (h for item in facts.mailhosts for h in _SEPARATORS.split(item) if h):
        try:
            net = parse_network(host, strict=False)
        except BadInput:
            continue  # a host name: the tracer uses it, it cannot match an address here
        if net.version == ip.version and ip in net:
            return Verdict(False, Reason.REPORTER_OWN_NETWORK, f"source {ip_text} is your own mail host {net}")
    when = facts.mail_date
    if when is not None and now - when > max_age:
        return Verdict(False, Reason.TOO_OLD, f"mail dated {when.isoformat()} is older than {max_age}; "
                                              "stored but not counted")
    if not facts.confirmed and facts.forwarded_for >= forwarder_reporters:
        return Verdict(False, Reason.PROBABLE_FORWARDER,
                       f"{facts.forwarded_for} other reporters receive mail through {ip_text}: probably "
                       "a forwarder of yours; add it to your mail hosts, or set them unchanged to confirm "
                       "it is not (PUT /api/v1/reporter/mailhosts)")
    return COUNTS


def receiving_hosts(hops: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The listable IPs of a trace's trusted relays (`Trace.to_dict()["hops"]`): hosts that
    received mail for the reporter, the forwarder evidence for other reporters' reports."""
    out: list[str] = []
    for hop in hops:
        ip = hop.get("ip") if hop.get("trusted") else None
        if not isinstance(ip, str) or not ip or ip in out:
            continue
        try:
            if never_listed_reason(parse_ip(ip)) is None:
                out.append(ip)
        except BadInput:
            continue
    return tuple(out)
