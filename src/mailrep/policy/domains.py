"""The domain blocklist (`dbl.<base>`): registered domains advertised in counted reports.

    cfg = DomainConfig.from_section(settings.section("dbl"))
    d = decide_domain(prev, evidence, now, cfg)       -> DomainDecision (listing + event or None)

The rule is the IP rule (`policy.score.assess`) with its own constants: each report weighs
4x when new, falling to 1x at 48 h, nothing after 7 days, times the reporter's trust; each
reporter's 3 heaviest reports count; listed when the score reaches `base_threshold` (3) with
at least `min_reporters` (3) independent reporters, so one reporter, or two, never list a
domain; a listing expires 24 h after its last evidence. There are no trap hits and no volume
for domains. Big shared domains (URL shorteners, webmail, hosting, top sites: the bundled
`SHARED_DOMAINS`, plus `[dbl] exemptions`) are never listed, nor any name under them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from mailrep.errors import BadInput
from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import POLICY_ACTOR, Event, State
from mailrep.policy.score import Assessment, Evidence, assess
from mailrep.policy.shared_domains import SHARED_DOMAINS

# The [dbl] table: these keys, plus any [policy] constant (fresh_weight, max_age_days, ...)
# whose dbl default is the IP rule's unless listed in RULE_DEFAULTS.
RULE_DEFAULTS: Mapping[str, Any] = {"min_reporters": 3, "base_threshold": 3.0, "short_listing_reports": 0}
OWN_KEYS = ("exemptions", "bundled_exemptions")
MAX_DOMAIN = 253


def normalise_domain(text: str) -> str:
    """A domain name as the zone keys it: lower case, no trailing dot, IDN as punycode;
    `BadInput` for anything that is not a plausible host name."""
    name = text.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError as e:
        raise BadInput(f"not a domain name: {text!r}") from e
    labels = name.split(".")
    if (len(name) > MAX_DOMAIN or len(labels) < 2
            or not all(0 < len(lb) <= 63 and lb.replace("-", "").replace("_", "").isalnum()
                       and lb.isascii() for lb in labels)):
        raise BadInput(f"not a domain name: {text!r}")
    return name


@dataclass(frozen=True, slots=True)
class DomainConfig:
    rule: PolicyConfig = field(default_factory=lambda: PolicyConfig(**RULE_DEFAULTS))
    exemptions: frozenset[str] = SHARED_DOMAINS

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> DomainConfig:
        """`[dbl]`: `exemptions = [...]` adds domains; `bundled_exemptions = false` drops the
        bundled list; every other key is a rule constant (see `PolicyConfig`)."""
        extra = section.get("exemptions", ())
        if isinstance(extra, str):
            extra = extra.replace(",", " ").split()
        bundled = section.get("bundled_exemptions", True)
        if not isinstance(bundled, bool):
            raise BadInput("dbl: bundled_exemptions must be true or false")
        rule = {k: v for k, v in section.items() if k not in OWN_KEYS}
        if "exemptions" in rule:
            raise BadInput("dbl: exemptions are domain names")
        try:
            exempt = frozenset(normalise_domain(str(d)) for d in extra)
        except BadInput as e:
            raise BadInput(f"dbl: bad exemption: {e}") from e
        return cls(PolicyConfig.from_section({**RULE_DEFAULTS, **rule}),
                   (SHARED_DOMAINS if bundled else frozenset()) | exempt)

    def exempt_reason(self, domain: str) -> str | None:
        """Why `domain` is never listed (it, or a domain above it, is exempt), else None."""
        labels = domain.split(".")
        for i in range(len(labels) - 1):
            parent = ".".join(labels[i:])
            if parent in self.exemptions:
                return f"{parent} is a shared domain (exemption list)"
        return None


class DomainListing(NamedTuple):
    """The stored state of one domain: listed or unlisted (no manual actions)."""

    domain: str
    state: State = State.UNLISTED
    score: float = 0.0
    reporters: int = 0
    first_evidence: datetime | None = None
    last_evidence: datetime | None = None
    listed_since: datetime | None = None
    expires_at: datetime | None = None
    reason: str = ""

    def listed_at(self, now: datetime) -> bool:
        return self.state == State.LISTED and (self.expires_at is None or now < self.expires_at)


# A domain's state change is a listing event whose key is the domain.
DomainEvent = Event


class DomainDecision(NamedTuple):
    listing: DomainListing
    event: DomainEvent | None
    assessment: Assessment
    exempt: str | None


def decide_domain(prev: DomainListing, evidence: Evidence, now: datetime, cfg: DomainConfig) -> DomainDecision:
    """The new state of `prev.domain` from its report evidence at `now`."""
    a = assess(Evidence(evidence.reports), now, cfg.rule)
    exempt = cfg.exempt_reason(prev.domain)
    listed = a.qualifies and exempt is None
    cur = prev._replace(score=a.score, reporters=a.reporters, first_evidence=a.first_evidence,
                        last_evidence=a.last_evidence)
    if listed:
        since = prev.listed_since if prev.listed_at(now) and prev.listed_since else now
        cur = cur._replace(state=State.LISTED, listed_since=since, expires_at=a.expires_at,
                           reason=a.why if prev.state != State.LISTED else prev.reason)
    elif prev.state == State.LISTED:
        why = f"never listed: {exempt}" if exempt else (
            f"expired: {a.why}" if a.independent else f"no longer listed: {a.why}")
        cur = cur._replace(state=State.UNLISTED, listed_since=None, expires_at=None, reason=why)
    event = None
    if cur.state != prev.state:
        event = DomainEvent(prev.domain, now, prev.state, cur.state, cur.reason, POLICY_ACTOR, a.score,
                            cur.expires_at)
    return DomainDecision(cur, event, a, exempt)


def domains_of(trace: Mapping[str, Any]) -> list[str]:
    """The registered domains of the URLs in a stored trace (`Trace.to_dict()`), each once."""
    out: dict[str, None] = {}
    urls = trace.get("urls") or ()
    for u in urls if isinstance(urls, Iterable) else ():
        d = u.get("domain") if isinstance(u, Mapping) else None
        if isinstance(d, str) and d:
            try:
                out[normalise_domain(d)] = None
            except BadInput:
                continue
    return list(out)
