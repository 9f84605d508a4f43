"""The log shipper: Postfix and Exim lines, hourly batches, position and queue ids remembered,
rotation and truncation."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from mailrep.errors import BadInput
from mailrep.ship.logs import Accepted, parse_line
from mailrep.ship.shipper import Shipper, State, batch_items

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def pf(qid: str, ip: str, t: str = "Dec 06 10:15:00") -> str:
    return (f"{t} mx postfix/smtpd[101]: {qid}: client=unknown[{ip}]\n"
            f"{t} mx postfix/cleanup[102]: {qid}: message-id=<x@y>\n"
            f"{t} mx postfix/qmgr[103]: {qid}: from=<a@example.net>, size=300, nrcpt=1 (queue active)\n")


def test_postfix_lines():
    clients: dict[str, str] = {}
    got = [parse_line("postfix", ln, clients, NOW) for ln in pf("4ABC123", "::ffff:45.7.2.2").splitlines()]
    assert got == [None, None, Accepted("4ABC123", "45.7.2.2", datetime(2026, 12, 6, 10, 15, tzinfo=UTC))]
    assert clients == {}
    # a December stamp read in January belongs to the year before; RFC 3339 stamps too
    assert parse_line("postfix", pf("4ABC124", "45.7.2.2").splitlines()[0], clients, NOW) is None
    jan = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    assert parse_line("postfix", pf("4ABC124", "1.2.3.4").splitlines()[2], clients, jan).at.year == 2026
    iso = "2026-12-06T10:15:00.123+00:00 mx postfix/qmgr[1]: 4ABC125: from=<a@b>, size=1, nrcpt=1"
    clients["4ABC125"] = "45.7.2.3"
    assert parse_line("postfix", iso, clients, NOW).ip == "45.7.2.3"
    with pytest.raises(BadInput):
        parse_line("sendmail", "x", clients, NOW)


def test_exim_lines():
    line = ("2026-12-06 10:15:00 1vabcD-000123-AB <= a@example.net H=mail.example.net (helo.example.net) "
            "[45.7.2.2]:4242 P=esmtp S=1234 id=x@y\n")
    assert parse_line("exim", line, {}, NOW) == Accepted("1vabcD-000123-AB", "45.7.2.2",
                                                         datetime(2026, 12, 6, 10, 15, tzinfo=UTC))
    assert parse_line("exim", "2026-12-06 10:15:00 1vabcD-000123-AB => b@x R=dnslookup T=remote_smtp\n",
                      {}, NOW) is None
    assert parse_line("exim", "2026-12-06 10:15:00 1vabcD-000124-AB <= <> R=1vabcD-000123-AB U=Debian-exim "
                      "P=local S=100\n", {}, NOW) is None  # a local bounce: no client


def test_batches_per_ip_and_hour():
    t = datetime(2026, 12, 6, 10, 15, tzinfo=UTC)
    items = batch_items([Accepted("a", "1.2.3.4", t), Accepted("b", "1.2.3.4", t.replace(minute=59)),
                         Accepted("c", "1.2.3.4", t.replace(hour=11)), Accepted("d", "5.6.7.8", t)])
    assert items == [
        {"ip": "1.2.3.4", "count": 2, "start": "2026-12-06T10:00:00+00:00", "end": "2026-12-06T11:00:00+00:00"},
        {"ip": "1.2.3.4", "count": 1, "start": "2026-12-06T11:00:00+00:00", "end": "2026-12-06T12:00:00+00:00"},
        {"ip": "5.6.7.8", "count": 1, "start": "2026-12-06T10:00:00+00:00", "end": "2026-12-06T11:00:00+00:00"},
    ]


def test_position_queue_ids_and_rotation(tmp_path):
    log = tmp_path / "mail.log"
    state = tmp_path / "state.json"
    posted: list[list[dict]] = []

    def run() -> int:
        return Shipper("postfix", [log], State.load(state), posted.append, clock=lambda: NOW).run_once()

    log.write_text(pf("Q1AAAA", "45.7.2.2") + pf("Q2AAAA", "45.7.2.2")[:-20])  # the last line unfinished
    assert run() == 1
    with log.open("a") as f:
        f.write(pf("Q2AAAA", "45.7.2.2")[-20:])
    assert run() == 1
    assert run() == 0
    # rotation: mail.log -> mail.log.1 gets one more line first; the new file starts afresh
    with log.open("a") as f:
        f.write(pf("Q3AAAA", "45.7.2.2"))
    os.rename(log, tmp_path / "mail.log.1")
    log.write_text(pf("Q4AAAA", "45.7.2.9"))
    assert run() == 2
    # the same log shipped again from scratch (a lost position) adds nothing: the ids are known
    data = State.load(state)
    data.files.clear()
    data.save(NOW)
    assert run() == 0
    # truncation (copytruncate): a file shorter than the position is read from the start
    log.write_text(pf("Q5AAA", "1.2.3.4"))
    assert run() == 1
    assert sum(i["count"] for batch in posted for i in batch) == 5


def test_a_failed_post_keeps_the_state(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(pf("Q1AAAA", "45.7.2.2"))
    state = tmp_path / "state.json"

    def fail(items):
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        Shipper("postfix", [log], State.load(state), fail, clock=lambda: NOW).run_once()
    got: list = []
    assert Shipper("postfix", [log], State.load(state), got.append, clock=lambda: NOW).run_once() == 1
