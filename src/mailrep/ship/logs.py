"""Accepted-mail lines of Postfix and Exim logs, parsed (pure).

Postfix: `smtpd[pid]: QUEUEID: client=name[IP]` names the client of a queue id; the message is
accepted when `qmgr[pid]: QUEUEID: from=<...>, size=...` follows (the queue manager took it).
Exim: `<=` lines are arrivals: `2026-12-06 03:40:01 1abcDE-000123-AB <= a@b H=(helo) [IP] ...`.
Times: Postfix's syslog stamp `Dec  6 03:40:01` (its year is taken from `now`: a stamp later
than `now` belongs to the year before) or an RFC 3339 stamp; Exim's `YYYY-MM-DD HH:MM:SS`.
All are read as UTC.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import NamedTuple

from mailrep.errors import BadInput

KINDS = ("postfix", "exim")

_SYSLOG = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)\s")
_ISO = re.compile(r"^(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s")
_PF = re.compile(r"\spostfix[\w.-]*/(?P<svc>smtpd|qmgr)\[\d+\]: (?P<qid>[0-9A-Za-z]{5,20}): "
                 r"(?:client=[^\[\s]*\[(?P<ip>[0-9A-Fa-f:.]+)\]|(?P<from>from=<))")
_EXIM = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)?(?: [+-]\d{4})?(?: \[\d+\])? "
                   r"(?P<qid>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) <= .*?"
                   r"\sH=(?:\S+ )?(?:\([^)]*\) )?\[(?P<ip>[0-9A-Fa-f:.]+)\]")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


class Accepted(NamedTuple):
    queue_id: str
    ip: str
    at: datetime


def _ip(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _stamp(line: str, now: datetime) -> datetime | None:
    m = _ISO.match(line)
    if m:
        try:
            d = datetime.fromisoformat(m.group("iso").replace("Z", "+00:00"))
        except ValueError:
            return None
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    m = _SYSLOG.match(line)
    if not m:
        return None
    try:
        h, mi, s = (int(x) for x in m.group("hms").split(":"))
        d = datetime(now.year, _MONTHS[m.group("mon")], int(m.group("day")), h, mi, s, tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    return d.replace(year=now.year - 1) if d > now and (d - now).days > 1 else d


def parse_line(kind: str, line: str, clients: MutableMapping[str, str], now: datetime) -> Accepted | None:
    """The accepted message a line records, if any. `clients` carries Postfix's queue id ->
    client IP between the smtpd and qmgr lines (the caller keeps it across calls)."""
    if kind == "exim":
        m = _EXIM.match(line)
        if not m:
            return None
        ip = _ip(m.group("ip"))
        return None if ip is None else Accepted(m.group("qid"), ip, datetime.fromisoformat(
            m.group("date")).replace(tzinfo=UTC))
    if kind != "postfix":
        raise BadInput(f"unknown log kind {kind!r} (one of {', '.join(KINDS)})")
    m = _PF.search(line)
    if not m:
        return None
    qid = m.group("qid")
    if m.group("ip") is not None:
        ip = _ip(m.group("ip"))
        if ip is not None and m.group("svc") == "smtpd":
            clients[qid] = ip
        return None
    if m.group("svc") != "qmgr":
        return None
    ip = clients.pop(qid, None)
    at = _stamp(line, now)
    return None if ip is None or at is None else Accepted(qid, ip, at)
