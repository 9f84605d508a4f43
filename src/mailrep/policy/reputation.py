"""Sender reputation (SenderBase, open): magnitude and a score with its confidence. Pure.

    rep = reputation(days, totals, now, first_seen=date(...), listed=False, cfg=RepConfig())
    rep.score, rep.low, rep.high, rep.confidence, rep.magnitude_day, rep.explanation

Inputs are one `Day` per entity and UTC day (accepted-mail volume from telemetry, DNS queries
about the entity on `bl.`, user and feedback-loop complaints, trap hits) and the same sums
over every entity (`totals`: the observed world, for magnitudes).

**Windows.** "day" is the last 24 h, estimated from day buckets as today's bucket plus
yesterday's scaled by the part of yesterday still inside the last 24 h (the usual sliding
window estimate: exact for evidence that arrived today). "month" is today and the 29 days
before it (`window_days`).

**Magnitude** (SenderBase): `log10(entity volume / all volume) + 10` (10 is the whole observed
volume, 9 a tenth...), daily and monthly; `None` without volume.

**Score, formula version 1** (`FORMULA`), over the month window:

    n       = max(messages, DNS queries)           not decayed (DNS queries stand in for volume)
    C, T    = complaints (user + FBL), trap hits,  each day weighed 0.5 ** (age_days / half_life)
    p       = min(1, C / n), with its Wilson interval [p_lo, p_hi] at z = 1.96
    terms(p) = - complaint_weight * log10(1 + p / complaint_ref)               complaints
               + min(volume_max, volume_weight * log10(1 + n / volume_ref))
                 * max(0, 1 - p / complaint_cutoff)                            clean volume
               - trap_weight * log10(1 + (T / n) / trap_ref)                   trap hits
               + age_max * min(1, age_days / age_full_days)                    age (first seen)
               - listed_penalty if listed on bl.                               listing
    low, high = terms(p_hi), terms(p_lo), each clamped to -10..+10
    score   = the value of [low, high] nearest 0 (0 when the interval spans it), 1 decimal

So a score is never more extreme than the evidence supports: few messages give a wide
interval, a score near 0 and `confidence` "low"; the interval width gives the word ("high"
up to 1.5 points, "medium" up to 4, else "low"). No score (`None`, confidence "none") below
`min_volume` messages or queries in the window: the stated minimum. Properties (tested):
bounded; never higher with more complaints or trap hits; never lower as evidence ages
(complaints and trap hits decay, volume does not while it stays in the window).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from mailrep.errors import BadInput

FORMULA = 1
SCORE_MIN = -10.0
SCORE_MAX = 10.0
MAGNITUDE_TOP = 10.0


@dataclass(frozen=True, slots=True)
class Day:
    """One entity's evidence on one UTC day."""

    day: date
    volume: int = 0  # accepted messages (telemetry)
    dns_queries: int = 0  # queries about it on bl.
    complaints: int = 0  # user complaints
    fbl: int = 0  # feedback-loop complaints
    trap_hits: int = 0

    @property
    def all_complaints(self) -> int:
        return self.complaints + self.fbl


@dataclass(frozen=True, slots=True)
class RepConfig:
    window_days: int = 30
    history_days: int = 400  # daily rows kept
    half_life_days: float = 7.0  # complaints and trap hits
    min_volume: int = 10  # messages or DNS queries in the window for a score
    z: float = 1.96  # 95 % Wilson interval
    complaint_ref: float = 0.001  # 0.1 %: the rate where complaints start to cost points
    complaint_weight: float = 5.0
    complaint_cutoff: float = 0.003  # 0.3 %: no credit for volume from here on
    volume_ref: float = 100.0
    volume_weight: float = 1.25
    volume_max: float = 5.0
    trap_ref: float = 1e-5  # one trap hit per 100,000 messages
    trap_weight: float = 3.0
    age_full_days: int = 180
    age_max: float = 2.0
    listed_penalty: float = 3.0
    recompute_interval: float = 60.0  # seconds between recomputes under `mailrep serve`
    high_width: float = 1.5  # interval widths for the confidence words
    medium_width: float = 4.0

    def __post_init__(self) -> None:
        if self.window_days < 2 or self.history_days < self.window_days:
            raise BadInput("reputation: window_days >= 2 and history_days >= window_days")
        if self.half_life_days <= 0 or self.min_volume < 1 or self.z <= 0 or self.recompute_interval <= 0:
            raise BadInput("reputation: half_life_days > 0, min_volume >= 1, z > 0, recompute_interval > 0")
        if min(self.complaint_ref, self.complaint_cutoff, self.volume_ref, self.trap_ref, self.age_full_days) <= 0:
            raise BadInput("reputation: the reference rates and age_full_days must be > 0")

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> RepConfig:
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(section) - set(known)
        if unknown:
            raise BadInput(f"[reputation]: unknown keys {sorted(unknown)}")
        return cls(**dict(section))


@dataclass(frozen=True, slots=True)
class Factor:
    """One thing that moved the score: its effect in points (at the point estimate) and why."""

    factor: str
    effect: float
    text: str


@dataclass(frozen=True, slots=True)
class Window:
    volume: int
    dns_queries: int
    complaints: int
    trap_hits: int


@dataclass(frozen=True, slots=True)
class Reputation:
    score: float | None
    low: float | None
    high: float | None
    confidence: str  # high | medium | low | none
    magnitude_day: float | None
    magnitude_month: float | None
    day: Window
    month: Window
    first_seen: date | None
    listed: bool
    explanation: tuple[Factor, ...]
    formula: int = FORMULA


def today_of(now: datetime) -> date:
    return now.date()


def _age(today: date, d: date) -> int:
    return (today - d).days


def last_24h(values: Mapping[date, float], now: datetime) -> float:
    """Sliding estimate of the last 24 h from day buckets (see module docstring)."""
    today = today_of(now)
    elapsed = (now - datetime.combine(today, datetime.min.time(), now.tzinfo)).total_seconds() / 86400.0
    return values.get(today, 0.0) + values.get(today - timedelta(days=1), 0.0) * max(0.0, 1.0 - elapsed)


def magnitude(volume: float, total: float) -> float | None:
    """SenderBase magnitude: log10(share) + 10, 2 decimals; None without volume."""
    if volume <= 0 or total <= 0:
        return None
    return round(math.log10(min(1.0, volume / total)) + MAGNITUDE_TOP, 2)


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion `p` seen in `n` (> 0, maybe fractional) trials."""
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1.0 - p) / n + z2 / (4.0 * n * n))) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _clamp(x: float) -> float:
    return min(SCORE_MAX, max(SCORE_MIN, x))


def a_octet(score: float) -> int:
    """The last octet of the rep zone's A answer 127.0.4.N: round((score + 10) * 5), 0..100."""
    return round((score + 10.0) * 5.0)


def confidence_word(low: float, high: float, cfg: RepConfig) -> str:
    width = high - low
    return "high" if width <= cfg.high_width else "medium" if width <= cfg.medium_width else "low"


def _sum(days: Iterable[Day], today: date, window: int) -> tuple[list[Day], Window]:
    inside = [d for d in days if 0 <= _age(today, d.day) < window]
    return inside, Window(sum(d.volume for d in inside), sum(d.dns_queries for d in inside),
                          sum(d.all_complaints for d in inside), sum(d.trap_hits for d in inside))


def _day_window(days: Iterable[Day], now: datetime) -> Window:
    """The last 24 h of each counter (see `last_24h`), from today's and yesterday's buckets."""
    today = today_of(now)
    yesterday = today - timedelta(days=1)
    share = max(0.0, 1.0 - (now - datetime.combine(today, datetime.min.time(), now.tzinfo)).total_seconds() / 86400.0)
    v = q = c = t = 0.0
    for d in days:
        w = 1.0 if d.day == today else share if d.day == yesterday else 0.0
        if w:
            v += w * d.volume
            q += w * d.dns_queries
            c += w * d.all_complaints
            t += w * d.trap_hits
    return Window(round(v), round(q), round(c), round(t))


@dataclass(frozen=True, slots=True)
class World:
    """All observed volume, last 24 h and month: the magnitudes' denominators."""

    day: float
    month: float


def world(totals: Iterable[Day], now: datetime, cfg: RepConfig | None = None) -> World:
    cfg = cfg or RepConfig()
    rows, month = _sum(totals, today_of(now), cfg.window_days)
    return World(_day_window(rows, now).volume, month.volume)


@dataclass(frozen=True, slots=True)
class _Terms:
    complaints: float
    volume: float
    traps: float
    age: float
    listed: float

    @property
    def total(self) -> float:
        return self.complaints + self.volume + self.traps + self.age + self.listed


def _terms(p: float, n: float, trap_rate: float, age_days: int, listed: bool, cfg: RepConfig) -> _Terms:
    credit = min(cfg.volume_max, cfg.volume_weight * math.log10(1.0 + n / cfg.volume_ref))
    return _Terms(
        complaints=-cfg.complaint_weight * math.log10(1.0 + p / cfg.complaint_ref),
        volume=credit * max(0.0, 1.0 - p / cfg.complaint_cutoff),
        traps=-cfg.trap_weight * math.log10(1.0 + trap_rate / cfg.trap_ref),
        age=cfg.age_max * min(1.0, max(0, age_days) / cfg.age_full_days),
        listed=-cfg.listed_penalty if listed else 0.0,
    )


def _r(x: float) -> float:
    return round(x, 2) + 0.0  # no -0.0 in the output


def _pct(x: float) -> str:
    return f"{100.0 * x:.3g}%"


def reputation(days: Iterable[Day], totals: Iterable[Day] | World, now: datetime, *, first_seen: date | None = None,
               listed: bool = False, cfg: RepConfig | None = None, explain: bool = True) -> Reputation:
    """The reputation of one entity at `now` (see the module docstring for the formula);
    `totals` are the world's daily sums or their `world()`; `explain=False` (bulk recompute)
    leaves the explanation empty."""
    cfg = cfg or RepConfig()
    today = today_of(now)
    rows = list(days)
    inside, month = _sum(rows, today, cfg.window_days)
    day = _day_window(inside, now)
    w = totals if isinstance(totals, World) else world(totals, now, cfg)
    mag_day = magnitude(day.volume, w.day)
    mag_month = magnitude(month.volume, w.month)
    if first_seen is None and rows:
        first_seen = min(d.day for d in rows)
    n = max(month.volume, month.dns_queries)
    if n < cfg.min_volume:
        why = Factor("data", 0.0, f"not enough data: {n} messages or DNS queries in {cfg.window_days} days; "
                                  f"a score needs at least {cfg.min_volume}")
        return Reputation(None, None, None, "none", mag_day, mag_month, day, month, first_seen, listed, (why,))
    weights = {d: 0.5 ** (_age(today, d.day) / cfg.half_life_days) for d in inside}
    c_dec = sum(w * d.all_complaints for d, w in weights.items())
    t_dec = sum(w * d.trap_hits for d, w in weights.items())
    p = min(1.0, c_dec / n)
    p_lo, p_hi = wilson(p, n, cfg.z)
    trap_rate = t_dec / n
    age_days = _age(today, first_seen) if first_seen is not None else 0
    low = _clamp(_terms(p_hi, n, trap_rate, age_days, listed, cfg).total)
    high = _clamp(_terms(p_lo, n, trap_rate, age_days, listed, cfg).total)
    score = round(min(high, max(low, 0.0)), 1)
    if not explain:
        return Reputation(score + 0.0, _r(low), _r(high), confidence_word(low, high, cfg), mag_day, mag_month,
                          day, month, first_seen, listed, ())
    at = _terms(p, n, trap_rate, age_days, listed, cfg)
    src = "messages" if month.volume >= month.dns_queries else "DNS queries on bl. (standing in for volume)"
    expl = [
        Factor("volume", _r(at.volume),
               f"{n} {src} in {cfg.window_days} days: up to {cfg.volume_max:g} points for clean volume, "
               f"none at a complaint rate of {_pct(cfg.complaint_cutoff)} or more"),
        Factor("complaints", _r(at.complaints),
               f"{month.complaints} complaints ({c_dec:.3g} after decay, half-life {cfg.half_life_days:g} days): "
               f"rate {_pct(p)}, 95% interval {_pct(p_lo)}..{_pct(p_hi)}; {_pct(cfg.complaint_ref)} costs "
               f"{cfg.complaint_weight * math.log10(2):.2g} points"),
        Factor("trap_hits", _r(at.traps),
               f"{month.trap_hits} trap hits ({t_dec:.3g} after decay): {trap_rate * 1e5:.3g} per 100,000 messages"),
        Factor("age", _r(at.age),
               f"first seen {age_days} days ago; full credit ({cfg.age_max:g}) at {cfg.age_full_days} days"),
    ]
    if listed:
        expl.append(Factor("listed", at.listed, "listed on the blocklist now"))
    expl.append(Factor("score", score, f"interval {low:.1f}..{high:.1f} over the complaint rate's 95% interval; "
                                       f"the score is its value nearest 0 (formula {FORMULA})"))
    return Reputation(score + 0.0, _r(low), _r(high), confidence_word(low, high, cfg), mag_day, mag_month,
                      day, month, first_seen, listed, tuple(expl))


# -- bulk path --------------------------------------------------------------------------------
# `Scorer` is a COPY of `reputation(..., explain=False)` for the recompute's hot loop (one call
# per entity, 1M+ entities): no `Day`/`Window`/`_Terms` objects, the shared terms and the
# config looked up once, rows taken as plain tuples. It must give the same answers bit for bit
# (same operations in the same order; tests/policy/test_reputation.py checks it against
# `reputation()` with hypothesis). Change the formula in `reputation()` and here together.

CountRow = tuple[Any, ...]  # (day, volume, dns_queries, complaints, fbl, trap_hits[, ...])
# score, confidence, mag_day, mag_month, volume_day, complaints_day, trap_hits_day,
# dns_queries_day, first_seen, listed, formula: the columns of a current reputation row
Scored = tuple[float | None, str, float | None, float | None, int, int, int, int, date | None, bool, int]


class Scorer:
    """`reputation(rows, totals, now, first_seen=..., listed=..., cfg=cfg, explain=False)` as
    a flat tuple (`Scored`), for many entities at one `now`. Rows: one per day (the recompute
    never repeats a day; `reputation()` would also count a repeated day once in its decayed
    sums only when the two rows are equal)."""

    def __init__(self, totals: World, now: datetime, cfg: RepConfig) -> None:
        self.cfg = cfg
        self.now = now
        self.today = today = today_of(now)
        self.yesterday = today - timedelta(days=1)
        self.share = max(0.0, 1.0 - (now - datetime.combine(today, datetime.min.time(), now.tzinfo)
                                     ).total_seconds() / 86400.0)
        self.w_day = totals.day
        self.w_month = totals.month
        self._decay: dict[int, float] = {}
        # config read once: attribute look-ups are a good part of a call's cost
        self._k = (cfg.window_days, cfg.min_volume, cfg.z, cfg.volume_max, cfg.volume_weight, cfg.volume_ref,
                   -cfg.trap_weight, cfg.trap_ref, cfg.age_max, cfg.age_full_days, cfg.listed_penalty,
                   -cfg.complaint_weight, cfg.complaint_ref, cfg.complaint_cutoff, cfg.high_width,
                   cfg.medium_width, cfg.half_life_days)

    def magnitudes(self, volume_day: int, volume_month: int) -> tuple[float | None, float | None]:
        """`magnitude()` of the last 24 h and the month against this world."""
        w_day, w_month = self.w_day, self.w_month
        return (None if volume_day <= 0 or w_day <= 0 else
                round(math.log10(min(1.0, volume_day / w_day)) + MAGNITUDE_TOP, 2),
                None if volume_month <= 0 or w_month <= 0 else
                round(math.log10(min(1.0, volume_month / w_month)) + MAGNITUDE_TOP, 2))

    def __call__(self, rows: Sequence[CountRow], first_seen: date | None, listed: bool) -> Scored:
        (window, min_volume, z, volume_max, volume_weight, volume_ref, neg_trap_weight, trap_ref, age_max,
         age_full_days, listed_penalty, neg_complaint_weight, complaint_ref, complaint_cutoff, high_width,
         medium_width, half_life) = self._k
        today = self.today
        yesterday = self.yesterday
        share = self.share
        decay = self._decay
        mv = mq = mc = mt = 0
        v = q = c = t = 0.0
        earliest: date | None = None
        if len(rows) == 1:
            # the common case (one day of evidence): no per-day lists; the same operations
            r = rows[0]
            d = earliest = r[0]
            age = (today - d).days
            c_dec = t_dec = 0.0
            if 0 <= age < window:
                mv, mq, mc, mt = r[1], r[2], r[3] + r[4], r[5]
                w = 1.0 if d == today else share if d == yesterday else 0.0
                if w:
                    v, q, c, t = w * mv, w * mq, w * mc, w * mt
                f = decay.get(age)
                if f is None:
                    f = decay[age] = 0.5 ** (age / half_life)
                c_dec, t_dec = f * mc, f * mt
        else:
            inside: list[tuple[int, CountRow]] = []
            for r in rows:
                d = r[0]
                if earliest is None or d < earliest:
                    earliest = d
                age = (today - d).days
                if 0 <= age < window:
                    inside.append((age, r))
                    comp = r[3] + r[4]
                    mv += r[1]
                    mq += r[2]
                    mc += comp
                    mt += r[5]
                    w = 1.0 if d == today else share if d == yesterday else 0.0
                    if w:
                        v += w * r[1]
                        q += w * r[2]
                        c += w * comp
                        t += w * r[5]
            ws: list[float] = []
            for age, _ in inside:
                f = decay.get(age)
                if f is None:
                    f = decay[age] = 0.5 ** (age / half_life)
                ws.append(f)
            c_dec = sum([f * (r[3] + r[4]) for f, (_, r) in zip(ws, inside, strict=True)])
            t_dec = sum([f * r[5] for f, (_, r) in zip(ws, inside, strict=True)])
        vd, qd, cd, td = round(v), round(q), round(c), round(t)
        w_day, w_month = self.w_day, self.w_month
        log10 = math.log10
        mag_day = (None if vd <= 0 or w_day <= 0 else round(log10(min(1.0, vd / w_day)) + MAGNITUDE_TOP, 2))
        mag_month = (None if mv <= 0 or w_month <= 0 else round(log10(min(1.0, mv / w_month)) + MAGNITUDE_TOP, 2))
        if first_seen is None:
            first_seen = earliest
        n = max(mv, mq)
        if n < min_volume:
            return (None, "none", mag_day, mag_month, vd, cd, td, qd, first_seen, listed, FORMULA)
        p = min(1.0, c_dec / n)
        p_lo, p_hi = wilson(p, n, z)
        trap_rate = t_dec / n
        age_days = (today - first_seen).days if first_seen is not None else 0
        credit = min(volume_max, volume_weight * log10(1.0 + n / volume_ref))
        traps = neg_trap_weight * log10(1.0 + trap_rate / trap_ref)
        aged = age_max * min(1.0, max(0, age_days) / age_full_days)
        lst = -listed_penalty if listed else 0.0
        lo = (neg_complaint_weight * log10(1.0 + p_hi / complaint_ref)
              + credit * max(0.0, 1.0 - p_hi / complaint_cutoff) + traps + aged + lst)
        hi = (neg_complaint_weight * log10(1.0 + p_lo / complaint_ref)
              + credit * max(0.0, 1.0 - p_lo / complaint_cutoff) + traps + aged + lst)
        low = min(SCORE_MAX, max(SCORE_MIN, lo))
        high = min(SCORE_MAX, max(SCORE_MIN, hi))
        score = round(min(high, max(low, 0.0)), 1) + 0.0
        width = high - low
        word = "high" if width <= high_width else "medium" if width <= medium_width else "low"
        return (score, word, mag_day, mag_month, vd, cd, td, qd, first_seen, listed, FORMULA)
