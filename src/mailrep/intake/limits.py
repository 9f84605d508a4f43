"""Intake limits and tuning, read from the `[intake]` table of the settings.

    max_bytes          10 MiB   hard reject above this (enforced while reading the body)
    keep_bytes         50 KiB   stored size; the rest is cut and the cut is flagged
    max_age_hours      48       older mail is stored but not counted (reason too_old)
    forwarder_reporters 2       a source that this many OTHER reporters' traces show receiving
                                their mail is a probable forwarder: not counted (policy.counting)
    daily_quota        5000     per reporter per 24 h when the reporter row has none
    feed_quota         20000    complaints per feed account per 24 h (fbl@, POST /api/v1/feedback)
    batch_size         500      most items one writer transaction commits
    batch_wait_ms      10       how long a batch waits for reports still being traced
    trace_workers      2        processes tracing messages (0: trace in the calling thread)
    trace_nice         10       niceness of those processes (0: as the server; see intake.tracing)
    operator_mailhosts []       networks / host names of the operator's spamtrap relays
    delisting_per_hour 10       delisting requests per client address per hour
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mailrep.errors import BadInput
from mailrep.roles import DAILY_QUOTA

MiB = 1024 * 1024
KiB = 1024


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_bytes: int = 10 * MiB
    keep_bytes: int = 50 * KiB
    max_age: timedelta = timedelta(hours=48)
    forwarder_reporters: int = 2
    daily_quota: int = DAILY_QUOTA
    feed_quota: int = 20000
    batch_size: int = 500
    batch_wait: float = 0.010
    trace_workers: int = 2
    trace_nice: int = 10
    operator_mailhosts: tuple[str, ...] = field(default_factory=tuple)
    delisting_per_hour: int = 10
    volume_batch_max: int = 10000

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> IntakeLimits:
        known = {
            "max_bytes", "keep_bytes", "max_age_hours", "forwarder_reporters", "daily_quota", "feed_quota",
            "batch_size",
            "batch_wait_ms", "trace_workers", "trace_nice", "operator_mailhosts", "delisting_per_hour",
            "volume_batch_max",
        }
        unknown = set(section) - known
        if unknown:
            raise BadInput(f"[intake]: unknown keys {sorted(unknown)}")
        d = cls()
        try:
            return cls(
                max_bytes=int(section.get("max_bytes", d.max_bytes)),
                keep_bytes=int(section.get("keep_bytes", d.keep_bytes)),
                max_age=timedelta(hours=float(section.get("max_age_hours", 48))),
                forwarder_reporters=max(1, int(section.get("forwarder_reporters", d.forwarder_reporters))),
                daily_quota=int(section.get("daily_quota", d.daily_quota)),
                feed_quota=int(section.get("feed_quota", d.feed_quota)),
                batch_size=max(1, int(section.get("batch_size", d.batch_size))),
                batch_wait=float(section.get("batch_wait_ms", d.batch_wait * 1000)) / 1000.0,
                trace_workers=max(0, int(section.get("trace_workers", d.trace_workers))),
                trace_nice=min(19, max(0, int(section.get("trace_nice", d.trace_nice)))),
                operator_mailhosts=tuple(str(h) for h in section.get("operator_mailhosts", ())),
                delisting_per_hour=int(section.get("delisting_per_hour", d.delisting_per_hour)),
                volume_batch_max=int(section.get("volume_batch_max", d.volume_batch_max)),
            )
        except (TypeError, ValueError) as e:
            raise BadInput(f"[intake]: {e}") from e
