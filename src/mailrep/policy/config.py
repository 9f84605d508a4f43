"""Every constant of the blocklist policy, with the SCBL defaults from the brief.

Read from the `[policy]` table of the settings (`PolicyConfig.from_section(settings.section(
"policy"))`); unknown keys are an error so a typo cannot silently leave a default in force.

The volume rule: reports are held against the source's mail volume, as SpamCop held them
against its "reputation points" (one per blocklist query not followed by a report):

    threshold = max(base_threshold + volume_slope * log10(1 + volume),
                    volume / messages_per_point)

`volume` is the number of messages (telemetry) or unreported queries seen from the IP over the
evidence window (`max_age_days`). A source with no known volume needs `base_threshold` (2.0:
two reports at their weakest, 48 h old); one sending a thousand a week needs 8 (two fresh
reports), a million 14 (four fresh reports, or three trap hits). Above about 1.5 million a
week the proportional term takes over: the score must reach one point per `messages_per_point`
(100,000) messages, so ten million a week needs 100 and a handful of complaints (9 reports from
3 reporters weigh at most 36) no longer lists a big sender, while broad complaints, or spamtrap
hits (squared from 6 on), still do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mailrep.errors import BadInput

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    # freshness: a report weighs `fresh_weight` when new, falling linearly to 1.0 at
    # `fresh_hours`, stays 1.0 until `max_age_days`, and is ignored after that.
    fresh_weight: float = 4.0
    fresh_hours: float = 48.0
    max_age_days: float = 7.0
    # spamtrap hits: below `trap_square_from` hits each counts `trap_weight`; from it on the
    # trap term is hits squared.
    trap_weight: float = 5.0
    trap_square_from: int = 6
    # independence: distinct reporters needed when there is no trap evidence.
    min_reporters: int = 2
    # anti-poisoning: only each reporter's `per_reporter_reports` heaviest reports count.
    per_reporter_reports: int = 3
    # threshold and the volume term (see module docstring).
    base_threshold: float = 2.0
    volume_slope: float = 2.0
    messages_per_point: float = 100_000.0
    # lifetime: a listing expires `expiry_hours` after the last evidence; one that rests on at
    # most `short_listing_reports` reports and no trap lasts at most `short_listing_hours`.
    expiry_hours: float = 24.0
    short_listing_reports: int = 2
    short_listing_hours: float = 12.0
    # a deputy's manual listing lasts this long unless evidence keeps it longer.
    manual_listing_hours: float = 168.0
    # the widest network a deputy may list by hand (prefix lengths).
    min_prefix_v4: int = 16
    min_prefix_v6: int = 32
    # the operator's own networks that are never listed (besides the reserved ranges).
    exemptions: tuple[IPNetwork, ...] = ()
    # how much evidence `explain` itemises (the totals always cover everything).
    explain_items: int = 50

    def __post_init__(self) -> None:
        if not (self.fresh_weight >= 1.0 and self.fresh_hours > 0 and self.max_age_days * 24 >= self.fresh_hours):
            raise BadInput("policy: need fresh_weight >= 1, fresh_hours > 0, max_age_days*24 >= fresh_hours")
        if self.min_reporters < 2:
            raise BadInput("policy: min_reporters must be at least 2 (one reporter never lists alone)")
        if self.trap_weight < 0 or self.trap_square_from < 1 or self.per_reporter_reports < 1:
            raise BadInput("policy: trap_weight >= 0, trap_square_from >= 1, per_reporter_reports >= 1")
        if self.base_threshold <= 0 or self.volume_slope < 0 or self.messages_per_point <= 0:
            raise BadInput("policy: base_threshold > 0, volume_slope >= 0 and messages_per_point > 0")
        if not (0 < self.short_listing_hours <= self.expiry_hours) or self.manual_listing_hours <= 0:
            raise BadInput("policy: 0 < short_listing_hours <= expiry_hours, manual_listing_hours > 0")
        if self.short_listing_reports < 0 or self.explain_items < 0:
            raise BadInput("policy: short_listing_reports and explain_items must be >= 0")

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> PolicyConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise BadInput(f"policy: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in section.items():
            if name == "exemptions":
                values[name] = parse_networks(value)
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise BadInput(f"policy: {name} must be a number")
            else:
                as_int = isinstance(known[name].default, int)
                if as_int and value != int(value):
                    raise BadInput(f"policy: {name} must be a whole number")
                values[name] = int(value) if as_int else float(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["exemptions"] = [str(n) for n in self.exemptions]
        return out


def parse_networks(value: Any) -> tuple[IPNetwork, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    try:
        return tuple(ipaddress.ip_network(str(v).strip(), strict=False) for v in items)
    except (TypeError, ValueError) as e:
        raise BadInput(f"policy: bad exemption network: {e}") from e
