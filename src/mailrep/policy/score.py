"""The SCBL score of one IP at one moment: pure arithmetic over its evidence.

    weight(report)  = freshness(age) * trust       freshness: 4 -> 1 linearly over 48 h, 0 after 7 d
    report term     = sum of weights, each reporter contributing at most its 3 heaviest reports
    trap term       = 5 * traps  (traps < 6)   |   traps ** 2  (traps >= 6)
    score           = trap term + report term
    threshold       = max(base + slope * log10(1 + volume), volume / messages_per_point)
    qualifies       = score >= threshold
                      and (trap evidence or >= 2 independent reporters)
                      and now < expiry
    expiry          = last evidence + 24 h   (+ 12 h when it rests on <= 2 reports and no trap)

Evidence older than the `floor` (the moment of a deputy's delisting) does not count, so a
delisted IP stays off until new evidence arrives. Evidence stamped in the future counts as
arriving `now`. Inputs are plain tuples so that a recompute over a million IPs creates no
objects it does not need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from mailrep.policy.config import PolicyConfig

HOUR = 3600.0


Moment = datetime | float  # an aware datetime, or epoch seconds (what the store hands in bulk)


def epoch(at: Moment) -> float:
    return at if type(at) is float else at.timestamp()  # type: ignore[union-attr]


class ReportRow(NamedTuple):
    """One counted report about the IP (reporter = account id, never published)."""

    at: Moment
    reporter: int | None
    trust: float = 1.0
    kind: str = "user"


class Evidence(NamedTuple):
    reports: Sequence[ReportRow] = ()
    traps: Sequence[Moment] = ()  # times of spamtrap hits
    volume: int = 0  # messages or unreported queries over the window


class Assessment(NamedTuple):
    score: float
    report_term: float
    trap_term: float
    reports: int  # reports inside the window (after the floor), before the per-reporter cap
    reporters: int  # independent reporters among them (trust > 0)
    traps: int
    volume: int
    volume_term: float
    threshold: float
    independent: bool
    short: bool
    first_ts: float | None  # epoch seconds; the datetimes below are made on demand
    last_ts: float | None
    expires_ts: float | None
    qualifies: bool

    @property
    def first_evidence(self) -> datetime | None:
        return None if self.first_ts is None else datetime.fromtimestamp(self.first_ts, UTC)

    @property
    def last_evidence(self) -> datetime | None:
        return None if self.last_ts is None else datetime.fromtimestamp(self.last_ts, UTC)

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires_ts is None else datetime.fromtimestamp(self.expires_ts, UTC)

    @property
    def why(self) -> str:
        """One sentence on the outcome."""
        basis = f"score {self.score:.2f} vs threshold {self.threshold:.2f}"
        if self.last_ts is None:
            return "no counted evidence in the last window"
        if not self.independent:
            return f"{basis}; only {self.reporters} independent reporter(s) and no trap hit"
        if self.score < self.threshold:
            return f"{basis}: below the threshold"
        if not self.qualifies:
            return f"{basis}; the evidence has expired"
        by = f"{self.traps} trap hit(s), {self.reports} report(s) from {self.reporters} reporter(s)"
        return f"{basis} from {by}"


def freshness(age_hours: float, cfg: PolicyConfig) -> float:
    """Weight of a report `age_hours` old: fresh_weight at 0, 1.0 at fresh_hours, 0 past max age."""
    if age_hours < 0:
        age_hours = 0.0
    if age_hours > cfg.max_age_days * 24:
        return 0.0
    if age_hours >= cfg.fresh_hours:
        return 1.0
    return cfg.fresh_weight - (cfg.fresh_weight - 1.0) * age_hours / cfg.fresh_hours


def trap_term(hits: int, cfg: PolicyConfig) -> float:
    return float(hits * hits) if hits >= cfg.trap_square_from else cfg.trap_weight * hits


def threshold(volume: int, cfg: PolicyConfig) -> float:
    """What the score must reach: grows with log10 of the volume, and at least in proportion
    to it (one point per `messages_per_point` messages; see `policy.config`)."""
    v = max(volume, 0)
    return max(cfg.base_threshold + cfg.volume_slope * math.log10(1 + v), v / cfg.messages_per_point)


def volume_term(volume: int, cfg: PolicyConfig) -> float:
    """How much the volume raises the threshold above `base_threshold`."""
    return threshold(volume, cfg) - cfg.base_threshold


def assess(
    evidence: Evidence, now: datetime, cfg: PolicyConfig, floor: datetime | None = None
) -> Assessment:
    now_ts = now.timestamp()
    oldest = now_ts - cfg.max_age_days * 86400.0
    if floor is not None:
        floor_ts = floor.timestamp()
        if floor_ts > oldest:
            oldest = floor_ts
    fresh_weight = cfg.fresh_weight
    fresh_slope = (fresh_weight - 1.0) / (cfg.fresh_hours * HOUR)
    fresh_secs = cfg.fresh_hours * HOUR
    first = math.inf
    last = -math.inf

    per_reporter: dict[int | None, list[float]] = {}
    trusted: set[int | None] = set()
    n_reports = 0
    for at, reporter, trust, _kind in evidence.reports:
        ts = at if type(at) is float else at.timestamp()  # type: ignore[union-attr]
        if ts > now_ts:
            ts = now_ts
        if ts <= oldest:
            continue
        n_reports += 1
        if ts < first:
            first = ts
        if ts > last:
            last = ts
        age = now_ts - ts
        w = (fresh_weight - fresh_slope * age) * trust if age < fresh_secs else trust
        weights = per_reporter.get(reporter)
        if weights is None:
            per_reporter[reporter] = [w]
        else:
            weights.append(w)
        if trust > 0:
            trusted.add(reporter)
    cap = cfg.per_reporter_reports
    report_term = 0.0
    for weights in per_reporter.values():
        if len(weights) > cap:
            weights.sort(reverse=True)
            del weights[cap:]
        report_term += sum(weights)

    # The clamp and window test of the report loop above, written again inline on purpose: this
    # is the policy's hot path (recompute of 1M keys), where a helper call per item costs more
    # than the loop body.
    n_traps = 0
    for at in evidence.traps:
        ts = at if type(at) is float else at.timestamp()  # type: ignore[union-attr]
        if ts > now_ts:
            ts = now_ts
        if ts <= oldest:
            continue
        n_traps += 1
        if ts < first:
            first = ts
        if ts > last:
            last = ts

    t_term = trap_term(n_traps, cfg) if n_traps else 0.0
    v_term = volume_term(evidence.volume, cfg) if evidence.volume > 0 else 0.0
    thresh = cfg.base_threshold + v_term
    score = t_term + report_term
    independent = n_traps > 0 or len(trusted) >= cfg.min_reporters
    short = n_traps == 0 and n_reports <= cfg.short_listing_reports
    if n_reports or n_traps:
        first_ts: float | None = first
        last_ts: float | None = last
        expires: float | None = last + (cfg.short_listing_hours if short else cfg.expiry_hours) * HOUR
    else:
        first_ts = last_ts = expires = None
    qualifies = independent and score >= thresh and expires is not None and now_ts < expires
    return Assessment(score, report_term, t_term, n_reports, len(trusted), n_traps, evidence.volume,
                      v_term, thresh, independent, short, first_ts, last_ts, expires, qualifies)
