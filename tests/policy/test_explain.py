from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mailrep.policy.config import PolicyConfig
from mailrep.policy.explain import explain
from mailrep.policy.listing import Action, Listing, Manual, decide
from mailrep.policy.score import Evidence, ReportRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
CFG = PolicyConfig()
SECRET_IDS = (987_654_321, 123_456_789)


def _ev() -> Evidence:
    a, b = SECRET_IDS
    return Evidence(
        reports=[ReportRow(NOW - H, a, 0.5, "mole"), ReportRow(NOW - 2 * H, b), *[ReportRow(NOW, a)] * 5,
                 ReportRow(NOW - 200 * H, b)],
        traps=[NOW - 3 * H], volume=999,
    )


def test_explanation_is_json_and_carries_the_calculation():
    ev = _ev()
    d = decide(Listing("45.33.1.2"), ev, NOW, CFG)
    x = explain(d, ev, NOW, CFG)
    text = json.dumps(x)
    for secret in SECRET_IDS:
        assert str(secret) not in text
    assert x["listed"] is True and x["qualifies"] is True
    assert x["score"] == round(d.assessment.score, 3)
    assert x["threshold"] == 8.0 and x["volume"] == 999 and x["volume_term"] == 6.0
    assert x["traps"] == 1 and x["trap_term"] == 5.0
    assert x["expires"] == "2026-11-27T12:00:00Z"
    counted = [i for i in x["evidence"] if i["counted"]]
    notes = {i["note"] for i in x["evidence"] if not i["counted"]}
    assert any("older than 7 days" in n for n in notes)
    assert any("heaviest reports" in n for n in notes)
    assert sum(i["weight"] for i in counted if i["kind"] == "report") == pytest.approx(x["report_term"], abs=0.01)
    assert {i["reporter"] for i in x["evidence"] if i["kind"] == "report"} == {"R1", "R2"}
    assert x["why"] and all(isinstance(s, str) for s in x["why"])


def test_explanation_of_a_delisting_and_a_reserved_address():
    ev = _ev()
    d = decide(Listing("45.33.1.2"), ev, NOW, CFG, Manual(Action.DELIST, "erroneous"))
    x = explain(d, ev, NOW + H, CFG)
    assert x["state"] == "delisted" and not x["listed"]
    assert all(not i["counted"] for i in x["evidence"])
    assert any("Delisted by staff" in s for s in x["why"])
    r = explain(decide(Listing("192.168.1.1"), ev, NOW, CFG), ev, NOW, CFG)
    assert r["never_listed"] and "never listed" in r["why"][0]


def test_explanation_caps_itemised_evidence():
    ev = Evidence(reports=[ReportRow(NOW - i * 0.01 * H, i) for i in range(500)])
    x = explain(decide(Listing("45.33.1.2"), ev, NOW, CFG), ev, NOW, CFG)
    assert len(x["evidence"]) == CFG.explain_items and x["evidence_total"] == 500
    assert x["reports"] == 500 and x["reporters"] == 500
