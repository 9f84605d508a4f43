"""One Received header value in, one relay (hop) out.

`parse_received(value)` returns a `Relay` (the sending host as the receiving MTA recorded
it), an `Ignored` (a known line that is not a handover between hosts: qmail's `invoked by`,
local pickup, fetchmail, virus scanners...) or None (a line we cannot read). It never raises.

Field meanings follow SpamAssassin's `parse_received_line`, the de-facto reference for
which part of each MTA's format is the IP, the rDNS, the HELO name and so on; the formats
themselves are tabled in `received_formats`. Beyond SpamAssassin we: strip NUL bytes; cap
the length we look at (MAX_RECEIVED_CHARS); lower-case IPv6 addresses; read the hop's date;
leave `by` empty when it is a mail address rather than a host; and read a sendmail/Postfix
line cut before its `by` (`from helo (rdns [ip])`), which SpamAssassin calls unparseable.
Every other line gets the same parse as SpamAssassin 4.0.1 (tests/trace/test_received_oracle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from mailrep.trace.date import parse_date
from mailrep.trace.received_formats import (
    FETCHMAIL,
    FROM_RULES,
    LOCAL,
    NO_ADDRESS,
    NOT_FROM,
    PAREN_RULES,
    QMAIL_SCANNER,
    UPPER_RULES,
)
from mailrep.trace.received_patterns import ENOUGH, Skipped, compile_, run

__all__ = [
    "FETCHMAIL",
    "LOCAL",
    "MAX_RECEIVED_CHARS",
    "NOT_FROM",
    "NO_ADDRESS",
    "QMAIL_SCANNER",
    "Ignored",
    "Relay",
    "parse_date",
    "parse_received",
]

MAX_RECEIVED_CHARS = 4096
"""Longer values (after unfolding and squeezing blanks) are not parsed: real ones are < 1 KB."""


@dataclass(frozen=True, slots=True)
class Relay:
    """One handover: who connected (ip, rdns, helo, ident, auth) to whom (by), and when.

    Text fields are '' when absent. Characters that cannot be in these names (blanks, NUL,
    `#[]()<>|`) are replaced by `!`, so an address-literal HELO `[1.2.3.4]` reads `!1.2.3.4!`.
    """

    ip: str  # IPv4 dotted, or IPv6 lower-case without brackets, `IPv6:` tag or zone
    rdns: str  # reverse DNS name as the receiving MTA recorded it
    helo: str  # HELO/EHLO name the sender gave
    by: str  # the receiving host
    ident: str  # RFC 1413 ident / user name, when recorded
    envfrom: str  # envelope sender, when recorded
    id: str  # the receiving MTA's queue id
    auth: str  # how the sender authenticated (ESMTPA, ESMTPSA, Sendmail, ...), as SA says
    date: datetime | None  # the hop's timestamp in UTC; None if absent or unreadable
    raw: str  # the value as given, unfolded


@dataclass(frozen=True, slots=True)
class Ignored:
    """A Received line deliberately skipped: it records no handover between hosts."""

    reason: str


@dataclass(slots=True)
class _Work:
    ip: str = ""
    rdns: str = ""
    helo: str = ""
    by: str = ""
    ident: str = ""
    envfrom: str | None = None
    id: str = ""
    auth: str = ""


# ---- cheap normalisation --------------------------------------------------------------------

_FOLD = re.compile(r"\r?\n[ \t]+")
_DAY = r"(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un))"
_MONTH = r"(?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec)"
# The date at the end, searched for only near the end (see _date_start). A match can only
# start where a run of blanks/semicolons starts, and never gives back part of that run:
# both keep the search linear.
_DATE_TAIL = re.compile(
    rf"(?<![ ;])[ ;]++(?:{_DAY}, )?\d+ {_MONTH} \d+ \d+:\d+(?::\d+)? \S+$", re.ASCII
)
_DATE_WINDOW = 120

# ---- lines that are not handovers ----------------------------------------------------------

_STARTS_FROM = re.compile(r"\(?from ", re.ASCII | re.IGNORECASE)
_WITH_LOCAL_FOR = re.compile(r"\bwith local for\b", re.ASCII)
_NAME_BY_NAME = re.compile(r"from (\S+) by [^\s;]+ ?;", re.ASCII | re.IGNORECASE)
_BRACKETED_V4 = re.compile(r"\[[\d.]+\]", re.ASCII)

# ---- fields found anywhere in the line ----------------------------------------------------

_ID = re.compile(r" id <?([^\s<>;]{3,})", re.ASCII)
_HELO_CHARS = r"[-A-Za-z0-9.^+_&:=?!@%*$\\/]"
_HELO_EQ = re.compile(rf"\bhelo=({_HELO_CHARS}+)(?:[^-A-Za-z0-9.^+_&:=?!@%*$\\/]|$)", re.ASCII)
_HELO_CMD = re.compile(
    rf"\b(?:HELO|EHLO) ({_HELO_CHARS}+)(?:[^-A-Za-z0-9.^+_&:=?!@%*$\\/]|$)", re.ASCII
)
_BY = re.compile(r" by (\S+)(?:[^-A-Za-z0-9;.]|$)", re.ASCII)
_ENVFROM = re.compile(r"(?:return-path:? |envelope-(?:sender|from)[ =])(\S+)\b", re.ASCII | re.I)
_FALLBACK_IP = compile_(r"\[({IP})\]")
# `from helo (rdns [ip])` and nothing more: a sendmail/Postfix line cut before its `by`.
_CUT_BEFORE_BY = compile_(r"(\S+) \((\S+) \[({IP})\]\)")

# ---- authentication markers (first that matches wins) -------------------------------------

_AUTH_WITH = re.compile(
    r" with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)", re.ASCII | re.I
)
_GMAIL = re.compile(
    r" by mx\.google\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\.[0-9]{1,3}\.[0-9]{4}\."
    r"(?:[0-6][0-9]\.){4}[0-6][0-9]",
    re.ASCII,
)
_GMAIL_TLS = re.compile(r"\(version=([^ ]+) cipher=([^)]+)\)", re.ASCII)
_COURIER_AUTH = re.compile(r"(?:\]\)|\)\]) \(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) ", re.ASCII)
_SENDMAIL_CLOSE = re.compile(r"(?:\](?: \([^)]*\))?\)|\)\]) ", re.ASCII)
_GMX = compile_(
    r"from \S* \((?:HELO|EHLO) (\S*)\) \[({IP})\] by (mail\.gmx\.(?:net|com)) \([^)]+\) with (ESMTP|SMTP)"
)
_CRITICAL_PATH_VERSION = re.compile(
    r" \(\d{1,2}\.\d\.\d{3}(?:\.\d{1,3})?\) \(authenticated as ", re.ASCII
)
_POSTFIX_SASL = re.compile(r"\) \(Authenticated sender: \S+\) by \S+ \(([^)]+)\) with ", re.ASCII)
_COMMUNIGATE = re.compile(r"CommuniGate Pro (?:HTTP|SMTP|XIMSS|IMAP)", re.ASCII)
_HTTP_DAV = re.compile(r" with Microsoft Exchange Server HTTP-DAV\b", re.ASCII)
_VIA_HTTP = re.compile(r" \(via (HTTP.?)\)(?: |;|$)", re.ASCII | re.I)

# ---- final clean-up -----------------------------------------------------------------------

_BAD_CHARS = re.compile(r"[\s\x00#\[\]()<>|]", re.ASCII)
_ZONE = re.compile(r"%[A-Za-z0-9._~-]*$", re.ASCII)
_MAPPED_V4 = re.compile(r"^0*:0*:(?:0*:)*ffff:(\d+\.\d+\.\d+\.\d+)$", re.ASCII | re.I)


def parse_received(value: str) -> Relay | Ignored | None:
    """Parse one Received header value (folded or not). Never raises."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    elif not isinstance(value, str):
        return None
    if len(value) > 16 * MAX_RECEIVED_CHARS:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    text = " ".join(value.split())  # every run of blanks (folds included) becomes one space
    if len(text) > MAX_RECEIVED_CHARS:
        return None
    while text.endswith(";"):  # stray semicolons at the end, each with one blank before it
        text = text[:-2] if text.endswith(" ;") else text[:-1]
    work = _Work()
    outcome = _classify(text, work)
    if outcome is None:
        return None
    if isinstance(outcome, Skipped):
        return Ignored(outcome.reason)
    raw = _FOLD.sub(" ", value).strip() if "\n" in value else value.strip()
    return _relay(work, raw, text)


def _classify(text: str, work: _Work) -> object:
    if not _STARTS_FROM.match(text):
        return Skipped(NOT_FROM)
    if "with local for" in text and _WITH_LOCAL_FOR.search(text):
        return Skipped(LOCAL)
    if (m := _NAME_BY_NAME.match(text)) and not _BRACKETED_V4.fullmatch(m.group(1)):
        return Skipped(NO_ADDRESS)

    if (cut := _date_start(text)) >= 0:
        text = text[:cut]
    text = text.replace(")by ", ") by ", 1)

    if " id " in text and (m := _ID.search(text)):
        work.id = m.group(1)
    if ("helo=" in text and (m := _HELO_EQ.search(text))) or (
        ("HELO " in text or "EHLO " in text) and (m := _HELO_CMD.search(text))
    ):
        work.helo = m.group(1)
    if m := _BY.search(text):
        work.by = m.group(1)
    work.auth = _auth(text)

    outcome: object = None
    if text.startswith("from "):
        text = text[5:]
        low = text.lower()
        if ("return-path" in low or "envelope-" in low) and (m := _ENVFROM.search(text)):
            work.envfrom = m.group(1)
        outcome = run(FROM_RULES, text, work)
        if outcome is None and not work.helo:
            work.helo = _guess_helo(text)
    elif text.startswith("FROM "):
        text = text[5:]
        outcome = run(UPPER_RULES, text, work)
        if outcome is ENOUGH and work.rdns == "unverified":
            work.rdns = ""
    elif text.startswith("(from "):
        text = text[6:]
        outcome = run(PAREN_RULES, text, work)
    if outcome is not None:
        return outcome

    if not work.ip and (m := _FALLBACK_IP.search(text)):
        work.ip = m.group(1)
    if work.ip and work.by:
        return ENOUGH
    if " by " not in text and (m := _CUT_BEFORE_BY.fullmatch(text)):
        # Beyond SpamAssassin (which needs a `by`): the sending host is plainly recorded.
        work.helo, work.rdns, work.ip, work.by = m.group(1), m.group(2), m.group(3), ""
        return ENOUGH
    return None


def _guess_helo(text: str) -> str:
    """The first word, when nothing better named the sender (cut at its last odd char
    when the line is that one word)."""
    head, space, _ = text.partition(" ")
    if space:
        return head
    for i in range(len(head) - 1, 0, -1):
        c = head[i]
        if not (c.isascii() and (c.isalnum() or c in "-.")):
            return head[:i]
    return ""


def _auth(text: str) -> str:
    """How the sender authenticated, as SpamAssassin names it; '' if the line does not say."""
    has_by = " by " in text
    if has_by and (m := _AUTH_WITH.search(text)):
        return m.group(1)
    gmail = " by mx.google.com with ESMTPS id " in text and _GMAIL.search(text)
    if gmail and (m := _GMAIL_TLS.search(text)):
        return f"GMail - transport={m.group(1)} cipher={m.group(2)}"
    if "(AUTH: " in text and (method := _courier_auth(text)):
        return method
    if "authenticated" in text and _sendmail_authenticated(text):
        return "Sendmail"
    if "mail.gmx." in text and (m := _GMX.search(text)):
        return f"GMX ({m.group(4)} / {m.group(3)})"
    if " (authenticated as " in text and _critical_path(text):
        return "CriticalPath"
    if "(Authenticated sender: " in text and (m := _POSTFIX_SASL.search(text)):
        return "Postfix" if m.group(1) == "Postfix" else f"Postfix ({m.group(1)})"
    if " (account " in text and _COMMUNIGATE.search(text):
        return "Communigate"
    if " with Microsoft Exchange Server HTTP-DAV" in text and _HTTP_DAV.search(text):
        return "HTTP-DAV"
    if has_by and (m := _VIA_HTTP.search(text)):
        return m.group(1)
    return ""


def _courier_auth(text: str) -> str:
    """Courier's `from host (rdns [ip]) (AUTH: LOGIN user) by ...`: the method, or ''.

    The format is `(AUTH: METHOD user)` or `(AUTH: METHOD user, more...)` after `])` or
    `)]`, with `) by ` to follow. Each candidate is checked in constant time plus one scan
    of its user word, so the whole check is linear.
    """
    if not text.startswith("from "):
        return ""
    last_by = text.rfind(") by ")
    for m in _COURIER_AUTH.finditer(text, 5):
        start = m.end()
        space = text.find(" ", start)
        if space - start < 2:  # no user word of 2+ characters (or none at all) before a blank
            continue
        closing = text[space - 1]
        if closing == ")" and text.startswith(" by ", space):
            return m.group(1)
        if closing == "," and last_by > space:
            return m.group(1)
    return ""


def _critical_path(text: str) -> bool:
    """Critical Path: `) by host (5.5.123) (authenticated as user) id ...`.

    SpamAssassin's pattern has two unbounded wildcards (quadratic on hostile input); as
    each only has to exist, the earliest `) by `, the first version comment after it and
    the last `) id ` decide the same question in one pass.
    """
    first_by = text.find(") by ")
    if first_by < 0:
        return False
    version = _CRITICAL_PATH_VERSION.search(text, first_by + 6)
    return version is not None and text.rfind(") id ") > version.end()


def _sendmail_authenticated(text: str) -> bool:
    """`from host (name [ip]) ... (... authenticated ...) ... by`: sendmail's AUTH comment.

    Each gap may hold anything, so the earliest occurrence of each piece is the best
    choice; scanning piece by piece keeps this linear.
    """
    if not text.startswith("from "):
        return False
    m = _SENDMAIL_CLOSE.search(text, 5)
    if m is None:
        return False
    opened = text.find("(", m.end())
    if opened < 0:
        return False
    word = text.find("authenticated", opened + 1)
    if word < 0:
        return False
    closed = text.find(")", word + len("authenticated"))
    return closed >= 0 and text.find(" by", closed + 1) >= 0


def _clean(field: str) -> str:
    return _BAD_CHARS.sub("!", field) if field else field


def _date_start(text: str) -> int:
    """Where the trailing date (with the blanks and semicolons before it) starts, or -1.

    Only the last _DATE_WINDOW characters before the last word are searched: a date is
    never longer, and this keeps the search linear whatever the line holds.
    """
    last = text.rfind(" ")
    if last < 0:
        return -1
    semi = text.rfind(";", max(0, last - _DATE_WINDOW), last)
    # usually the date follows the last ';' directly: one anchored try before the search
    m = _DATE_TAIL.match(text, semi) if semi >= 0 else None
    if m is None:
        pos = max(0, last - _DATE_WINDOW)
        while pos > 0 and text[pos - 1] in " ;":  # a run that begins before the window
            pos -= 1
        m = _DATE_TAIL.search(text, pos)
    return -1 if m is None else m.start()


def _relay(work: _Work, raw: str, text: str) -> Relay:
    rdns = work.rdns.rstrip(".")
    if rdns.lower() == "unknown" or rdns.startswith("["):
        rdns = ""
    ip = work.ip
    if ip[:5].lower() == "ipv6:":
        ip = ip[5:]
    ip = ip.removeprefix("[").removesuffix("]")
    if "%" in ip:
        ip = _ZONE.sub("", ip)
    if ":" in ip:  # IPv4-mapped IPv6 is read as the IPv4 address
        ip = m.group(1) if (m := _MAPPED_V4.match(ip)) else ip.lower()
    by = work.by.removesuffix(";")
    if "@" in by:  # a mail address where the receiving host's name belongs: not a host
        by = ""
    envfrom = ""
    if work.envfrom is not None:
        envfrom = work.envfrom.lstrip().lstrip("<").rstrip().rstrip(">")
    names = (ip, rdns, work.helo, by, work.ident, envfrom)
    if _BAD_CHARS.search("!".join(names)):  # rare: clean each
        ip, rdns, helo, by, ident, envfrom = (_clean(name) for name in names)
    else:
        helo, ident = work.helo, work.ident
    return Relay(
        ip=ip,
        rdns=rdns,
        helo=helo,
        by=by,
        ident=ident,
        envfrom=envfrom,
        id=work.id,
        auth=work.auth,
        date=_hop_date(text),
        raw=raw,
    )


def _hop_date(text: str) -> datetime | None:
    """The date after the last ';' (RFC 5322 3.6.7), else a date-shaped tail."""
    semi = text.rfind(";")
    if semi >= 0:
        return parse_date(text[semi + 1 :])
    start = _date_start(text)
    return parse_date(text[start:].lstrip(" ;")) if start >= 0 else None
