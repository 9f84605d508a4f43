"""The counting rule (policy.counting): one table of cases, the first reason wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailrep.policy.counting import REASONS, CountFacts, Reason, decide_count, receiving_hosts

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AGE = timedelta(hours=48)
OLD = NOW - timedelta(days=30)


@pytest.mark.parametrize(
    "facts, reason",
    [
        (CountFacts("45.33.1.2"), None),
        (CountFacts("45.33.1.2", mailhosts=("mx.example.net", "198.51.100.0/24")), None),
        (CountFacts("45.33.1.2", mailhosts=("45.33.1.0/24",)), Reason.REPORTER_OWN_NETWORK),
        (CountFacts("45.33.1.2", mailhosts=("45.33.1.2",)), Reason.REPORTER_OWN_NETWORK),
        (CountFacts("45.33.1.2", mailhosts=("mx.example.net|45.33.1.0/24",)), Reason.REPORTER_OWN_NETWORK),
        (CountFacts("45.33.2.2", mailhosts=("45.33.1.0/24", "mx.example.net")), None),
        (CountFacts("2a00:1450::5", mailhosts=("2a00:1450::/32",)), Reason.REPORTER_OWN_NETWORK),
        (CountFacts("::ffff:45.33.1.2", mailhosts=("45.33.1.2",)), Reason.REPORTER_OWN_NETWORK),
        (CountFacts("192.0.2.7"), None),  # never listed, but evidence all the same (ranges.py)
        (CountFacts(None), Reason.NO_SOURCE),
        (CountFacts("garbage"), Reason.NO_SOURCE),
        (CountFacts(None, mail_date=OLD), Reason.NO_SOURCE),  # the first reason wins
        (CountFacts("45.33.1.2", mail_date=OLD), Reason.TOO_OLD),
        (CountFacts("45.33.1.2", mail_date=NOW - AGE), None),
        (CountFacts("45.33.1.2", mail_date=NOW - AGE - timedelta(seconds=1)), Reason.TOO_OLD),
        (CountFacts("45.33.1.2", mail_date=NOW + timedelta(hours=1)), None),
        (CountFacts("45.33.1.2", mailhosts=("45.33.1.0/24",), mail_date=OLD), Reason.REPORTER_OWN_NETWORK),
        (CountFacts("45.33.1.2", forwarded_for=1), None),
        (CountFacts("45.33.1.2", forwarded_for=2), Reason.PROBABLE_FORWARDER),
        (CountFacts("45.33.1.2", forwarded_for=5, confirmed=True), None),
        (CountFacts("45.33.1.2", forwarded_for=5, mail_date=OLD), Reason.TOO_OLD),
    ],
)
def test_decide_count(facts, reason):
    v = decide_count(facts, NOW, max_age=AGE, forwarder_reporters=2)
    assert (v.counted, v.reason) == (reason is None, reason)
    assert bool(v.detail) is (reason is not None)


def test_forwarder_threshold_is_configurable():
    facts = CountFacts("45.33.1.2", forwarded_for=2)
    assert decide_count(facts, NOW, max_age=AGE, forwarder_reporters=3).counted
    assert not decide_count(facts, NOW, max_age=AGE, forwarder_reporters=2).counted


def test_every_reason_is_explained():
    assert set(REASONS) == set(Reason)


def test_receiving_hosts_are_the_listable_trusted_relays():
    hops = [{"ip": "45.1.1.1", "trusted": True}, {"ip": "10.0.0.5", "trusted": True},
            {"ip": "45.1.1.1", "trusted": True}, {"ip": None, "trusted": True},
            {"ip": "45.2.2.2", "trusted": False}, {"ip": "not an ip", "trusted": True}]
    assert receiving_hosts(hops) == ("45.1.1.1",)
