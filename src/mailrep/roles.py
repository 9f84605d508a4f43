"""Who an account is, and what it may submit: `Role`, the staff roles, the report quotas.

    Role.REPORTER   submits spam (quota: DAILY_QUOTA reports per 24 h unless set per reporter)
    Role.FEED       feedback loops, spamtraps, volume telemetry (FEED_QUOTA: unlimited in practice)
    Role.DEPUTY     reviews delisting requests; lists, delists, exempts by hand
    Role.ADMIN      everything a deputy may, and every route of every other role
    Role.SENDER     a bonded sender: reads its own bond, ledger and debits; disputes debits

A `Role` is a str, so it compares equal to the text stored in the accounts table. Pure.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DEPUTY = "deputy"
    REPORTER = "reporter"
    FEED = "feed"
    SENDER = "sender"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
STAFF_ROLES: frozenset[Role] = frozenset({Role.DEPUTY, Role.ADMIN})

DAILY_QUOTA = 5000
"""Reports per reporter per 24 h, unless the reporter row or `[intake] daily_quota` says
otherwise."""

FEED_QUOTA = 10**9
"""The quota a feed account submits under: no practical limit."""
