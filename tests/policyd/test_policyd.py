"""The Postfix policy service: codec and verdict tables (pure), and the TCP loop speaking the
SMTPD_POLICY_README protocol (connection reuse, malformed requests, volume counting)."""

from __future__ import annotations

import asyncio

import pytest

from mailrep.dns.querycount import QueryCounter
from mailrep.errors import BadInput
from mailrep.policyd.protocol import Action, MalformedRequest, parse, reply
from mailrep.policyd.server import PolicyServer
from mailrep.policyd.verdict import PolicydConfig, View, verdict
from mailrep.zones.build import build_snapshot

SITE = "https://rep.example"
SNAP = build_snapshot([("bl", "198.51.100.7", "127.0.0.2", f"Blocked - see {SITE}/lookup?ip=$"),
                       ("bl", "2001:db8::7", "127.0.0.2", f"Blocked - see {SITE}/lookup?ip=$")],
                      base="mailrep.test", serial=1, site_url=SITE)
SCORES = {"203.0.113.1": -6.0, "203.0.113.2": -3.0, "203.0.113.3": -1.0, "203.0.113.4": 5.0}
CFG = PolicydConfig(site_url=SITE, reject_below=-5, defer_below=-2, prepend_below=0)
VIEW = View(SNAP, "bl.mailrep.test", SCORES)


def request(ip: str, state: str = "RCPT", **extra: str) -> bytes:
    attrs = {"request": "smtpd_access_policy", "protocol_state": state, "protocol_name": "ESMTP",
             "client_address": ip, "client_name": "unknown", "helo_name": "x", "sender": "a@b.example",
             "recipient": "c@d.example", "instance": "123.456", "future_attribute": "ignored", **extra}
    return "".join(f"{k}={v}\n" for k, v in attrs.items()).encode() + b"\n"


@pytest.mark.parametrize(("ip", "action", "text"), [
    ("198.51.100.7", Action.REJECT, f"Blocked - see {SITE}/lookup?ip=198.51.100.7"),
    ("::ffff:198.51.100.7", Action.REJECT, f"Blocked - see {SITE}/lookup?ip=198.51.100.7"),
    ("2001:db8::7", Action.REJECT, f"Blocked - see {SITE}/lookup?ip=2001:db8::7"),
    ("203.0.113.1", Action.REJECT, f"Poor reputation (score -6.0) - see {SITE}/lookup?ip=203.0.113.1"),
    ("203.0.113.2", Action.DEFER_IF_PERMIT, f"Poor reputation (score -3.0) - see {SITE}/lookup?ip=203.0.113.2"),
    ("203.0.113.3", Action.PREPEND,
     f"X-Mailrep-Reputation: score=-1.0; ip=203.0.113.3; see {SITE}/lookup?ip=203.0.113.3"),
    ("203.0.113.4", Action.DUNNO, ""),
    ("192.0.2.99", Action.DUNNO, ""),
    ("unknown", Action.DUNNO, ""),
])
def test_verdict(ip, action, text):
    got = verdict(parse(request(ip)), VIEW, CFG)
    assert got[:2] == (action, text)


def test_bands_off_by_default_and_counting_state():
    cfg = PolicydConfig(site_url=SITE)
    assert verdict(parse(request("203.0.113.1")), VIEW, cfg) == (Action.DUNNO, "", "203.0.113.1")
    assert verdict(parse(request("203.0.113.1", "DATA")), VIEW, cfg)[2] is None
    eom = PolicydConfig.from_section({"count_state": "end-of-message"}, site_url=SITE)
    assert verdict(parse(request("203.0.113.1", "END-OF-MESSAGE")), VIEW, eom)[2] == "203.0.113.1"
    assert verdict(parse(request("203.0.113.1")), VIEW, eom)[2] is None


@pytest.mark.parametrize("bad", [b"request=smtpd_access_policy\nnonsense\n\n", b"client_address=1.2.3.4\n\n",
                                 b"request=other\n\n", b"=x\nrequest=smtpd_access_policy\n\n"])
def test_malformed(bad):
    with pytest.raises(MalformedRequest):
        parse(bad)


def test_reply_and_config():
    assert reply(Action.DUNNO) == b"action=DUNNO\n\n"
    assert reply(Action.REJECT, "a\nb") == b"action=REJECT a b\n\n"
    with pytest.raises(BadInput):
        PolicydConfig.from_section({"reject_bellow": 1}, site_url=SITE)
    with pytest.raises(BadInput):
        PolicydConfig.from_section({"count_state": "DATA"}, site_url=SITE)


def test_server_reuses_connections_survives_garbage_and_counts():
    flushed: list[dict[str, int]] = []

    async def main() -> list[bytes]:
        counter = QueryCounter(flushed.append, interval=3600, address=str)
        server = PolicyServer(VIEW, CFG, counter=counter)
        host, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(host, port)
        answers = []
        for block in (request("198.51.100.7"), b"garbage line\n\n", request("192.0.2.1"),
                      request("192.0.2.1"), request("192.0.2.1", "END-OF-MESSAGE")):
            writer.write(block)
            await writer.drain()
            answers.append(await reader.readuntil(b"\n\n"))
        # two requests in one write, then a too-long one: answered, then closed
        writer.write(request("192.0.2.2") + request("192.0.2.2"))
        answers += [await reader.readuntil(b"\n\n"), await reader.readuntil(b"\n\n")]
        writer.write(b"x=" + b"y" * 70_000)
        answers.append(await reader.readuntil(b"\n\n"))
        assert await reader.read() == b""
        writer.close()
        assert server.malformed == 2
        await server.stop()
        return answers

    answers = asyncio.run(main())
    assert answers[0] == f"action=REJECT Blocked - see {SITE}/lookup?ip=198.51.100.7\n\n".encode()
    assert answers[1:] == [b"action=DUNNO\n\n"] * 7
    assert flushed == [{"198.51.100.7": 1, "192.0.2.1": 2, "192.0.2.2": 2}]


def test_view_without_snapshot():
    assert verdict(parse(request("198.51.100.7")), View(None, "bl.mailrep.test", {}), CFG)[0] == Action.DUNNO

