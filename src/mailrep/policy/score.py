"""The SCBL score of one IP at one moment: pure arithmetic over its evidence.

    weight(report)  = freshness(age) * trust       freshness: 4 -> 1 linearly over 48 h, 0 after 7 d
    report term     = sum of weights, each reporter contributing at most its 3 heaviest reports
    trap term       = 5 * traps  (traps < 6)   |   traps ** 2  (traps >= 6)
    score           = trap term + report term
    threshold       = base + slope * log10(1 + volume)
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from mailrep.policy.config import PolicyConfig

HOUR = 3600.0


class ReportRow(NamedTuple):
    """One counted report about the IP (reporter = account id, never published)."""

    at: datetime
    reporter: int | None
    trust: float = 1.0
    kind: str = "user"


@dataclass(frozen=True, slots=True)
class Evidence:
    reports: Sequence[ReportRow] = ()
    traps: Sequence[datetime] = ()  # times of spamtrap hits
    volume: int = 0  # messages or unreported queries over the window


@dataclass(frozen=True, slots=True)
class Assessment:
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
    first_evidence: datetime | None
    last_evidence: datetime | None
    expires_at: datetime | None
    qualifies: bool

    @property
    def why(self) -> str:
        """One sentence on the outcome."""
        basis = f"score {self.score:.2f} vs threshold {self.threshold:.2f}"
        if self.last_evidence is None:
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


def volume_term(volume: int, cfg: PolicyConfig) -> float:
    return cfg.volume_slope * math.log10(1 + max(volume, 0))


def threshold(volume: int, cfg: PolicyConfig) -> float:
    return cfg.base_threshold + volume_term(volume, cfg)


def assess(
    evidence: Evidence, now: datetime, cfg: PolicyConfig, floor: datetime | None = None
) -> Assessment:
    now_ts = now.timestamp()
    oldest = now_ts - cfg.max_age_days * 24 * HOUR
    if floor is not None:
        oldest = max(oldest, floor.timestamp())
    fresh_span = cfg.fresh_weight - 1.0
    fresh_secs = cfg.fresh_hours * HOUR
    first = math.inf
    last = -math.inf

    per_reporter: dict[int | None, list[float]] = {}
    independent_reporters: set[int | None] = set()
    n_reports = 0
    for at, reporter, trust, _kind in evidence.reports:
        ts = min(at.timestamp(), now_ts)
        if ts <= oldest:
            continue
        n_reports += 1
        first = min(first, ts)
        last = max(last, ts)
        age = now_ts - ts
        w = (cfg.fresh_weight - fresh_span * age / fresh_secs) if age < fresh_secs else 1.0
        per_reporter.setdefault(reporter, []).append(w * trust)
        if trust > 0:
            independent_reporters.add(reporter)
    cap = cfg.per_reporter_reports
    report_term = 0.0
    for weights in per_reporter.values():
        if len(weights) > cap:
            weights.sort(reverse=True)
            del weights[cap:]
        report_term += sum(weights)

    n_traps = 0
    for at in evidence.traps:
        ts = min(at.timestamp(), now_ts)
        if ts <= oldest:
            continue
        n_traps += 1
        first = min(first, ts)
        last = max(last, ts)

    t_term = trap_term(n_traps, cfg)
    v_term = volume_term(evidence.volume, cfg)
    thresh = cfg.base_threshold + v_term
    score = t_term + report_term
    independent = n_traps > 0 or len(independent_reporters) >= cfg.min_reporters
    short = n_traps == 0 and n_reports <= cfg.short_listing_reports
    if last == -math.inf:
        first_dt = last_dt = expires = None
    else:
        first_dt = datetime.fromtimestamp(first, UTC)
        last_dt = datetime.fromtimestamp(last, UTC)
        expires = last_dt + timedelta(hours=cfg.short_listing_hours if short else cfg.expiry_hours)
    qualifies = independent and score >= thresh and expires is not None and now < expires
    return Assessment(
        score=score, report_term=report_term, trap_term=t_term,
        reports=n_reports, reporters=len(independent_reporters), traps=n_traps,
        volume=evidence.volume, volume_term=v_term, threshold=thresh,
        independent=independent, short=short, first_evidence=first_dt, last_evidence=last_dt,
        expires_at=expires, qualifies=qualifies,
    )
