"""MTA quirks that one pattern cannot express, used by the format table.

Each function either post-processes a rule's match (`post=`: it receives the mutable fields
and the rule's groups) or is a whole format (`Custom`: it receives the text after `from `
and returns ENOUGH, or None to let the next format try). `helo_then_user_at_ip` replaces
a pattern that SpamAssassin writes with unbounded wildcards which go quadratic on hostile
input: it gives the same answers in linear time (tests/trace/test_received.py keeps the
reference pattern to show it).
"""

from __future__ import annotations

import re
from bisect import bisect_left

from mailrep.trace.received_patterns import ENOUGH, Fields, Groups, Outcome, Post, compile_

_SUB_HELO = re.compile(r"helo=(\S+)", re.ASCII)
_SUB_IDENT = re.compile(r"ident=(\S*)", re.ASCII)


def exim_comment(group: int) -> Post:
    """Exim's `(helo=x ident=y)` comment: take helo first, then ident from what is left."""

    def post(work: Fields, m: Groups) -> None:
        sub = m.group(group) or ""
        h = _SUB_HELO.search(sub)
        if h:
            work.helo = h.group(1)
            sub = sub[: h.start()] + sub[h.end() :]
        i = _SUB_IDENT.search(sub)
        if i:
            work.ident = i.group(1)

    return post


def ident_in_rdns(work: Fields, m: Groups) -> None:
    """sendmail writes `IDENT:user@host` or `user@host` where the rDNS goes."""
    rdns = work.rdns
    if rdns.startswith("IDENT:") and "@" in rdns:
        user, _, rdns = rdns[6:].partition("@")
        work.ident = user
    if "@" in rdns:
        user, _, rdns = rdns.partition("@")
        work.ident = user
    work.rdns = rdns


def softdnserr(work: Fields, m: Groups) -> None:
    """couriertcpd writes `softdnserr` when its rDNS lookup failed: that is no name."""
    name = m.group(2) or ""
    if name != "softdnserr":
        work.rdns = name


def qmail_ident(group: int) -> Post:
    def post(work: Fields, m: Groups) -> None:
        work.ident = (m.group(group) or "").removesuffix("@")

    return post


def claiming(work: Fields, m: Groups) -> None:
    work.helo = m.group(3) or ""


_XMAIL_ID = compile_(r" id <(\S+)>")
_XMAIL_FROM = compile_(r" from <(\S+)>")


def xmail(work: Fields, m: Groups) -> None:
    text = m.string
    if found := _XMAIL_ID.search(text):
        work.id = found.group(1)
    if found := _XMAIL_FROM.search(text):
        work.envfrom = found.group(1)


_HOTMAIL_IP = compile_(r"({IP}) ")


def hotmail(work: Fields, m: Groups) -> None:
    if found := _HOTMAIL_IP.match(m.string):
        work.ip = found.group(1)


_EXIM_RDNS = compile_(r"(\S+) ")
_EXIM_HELO = compile_(r" \((\S+)\) ")
_EXIM_IP = compile_(r" \[({IP})(?:\.\d+)?\] ")
_EXIM_BY = compile_(r"by (\S+) ")


def exim_pieces(text: str, work: Fields) -> Outcome:
    """Odd Exim lines: pick up the pieces; an IP and a `by` are enough."""
    if m := _EXIM_RDNS.match(text):
        work.rdns = m.group(1)
    if m := _EXIM_HELO.search(text):
        work.helo = m.group(1)
    if m := _EXIM_IP.search(text):
        work.ip = m.group(1)
    if m := _EXIM_BY.search(text):
        work.by = m.group(1)
        if work.ip:
            return ENOUGH
    return None


_ENV = r"(?: \(envelope-sender <\S+>\))?"
_QMAIL = compile_(
    r"\S+(?: \((?:HELO|EHLO) \S*\))? \((?:\S+\@)?\[?{IP}\]?\)"
    + _ENV
    # one optional comment: `.+` already spans `(a) (b)`, so no repetition is needed
    + r" by \S+(?: \(.+\))? with (?:.* )?(?:SMTP|QMQP)(?! id )"
)
_QMAIL_FORMS = (
    (
        compile_(
            r"(\S+) \((?:HELO|EHLO) ([^ ()]*)\) \((\S*)\@\[?({IP})\]?\)" + _ENV + r" by (\S+)"
        ),
        (("rdns", 1), ("helo", 2), ("ident", 3), ("ip", 4), ("by", 5)),
    ),
    (
        compile_(r"(\S+) \((?:HELO|EHLO) ([^ ()]*)\) \(\[?({IP})\]?\)" + _ENV + r" by (\S+)"),
        (("rdns", 1), ("helo", 2), ("ip", 3), ("by", 4)),
    ),
    (
        compile_(r"(\S+) \((\S*)\@\[?({IP})\]?\)" + _ENV + r" by (\S+)"),
        (("rdns", 1), ("helo", 1), ("ident", 2), ("ip", 3), ("by", 4)),
    ),
    (
        compile_(r"(\S+) \(\[?({IP})\]?\)" + _ENV + r" by (\S+)"),
        (("rdns", 1), ("helo", 1), ("ip", 2), ("by", 3)),
    ),
)


def qmail(text: str, work: Fields) -> Outcome:
    """qmail and its many patches: `from rdns (HELO helo) (ident@ip) by host with SMTP`.

    qmail leaves out the HELO when it equals the rDNS, and writes `unknown` for no rDNS.
    """
    if _QMAIL.match(text) is None:
        return None
    for rx, fields in _QMAIL_FORMS:
        if m := rx.match(text):
            for name, group in fields:
                setattr(work, name, m.group(group))
            break
    if work.rdns == "unknown":
        work.rdns = ""
    return ENOUGH


_MS_SMTP_SERVER = compile_(
    r" with (?:Microsoft SMTP Server|mapi id) (?:\([^)]+\) )?\d+\.\d+\.\d+\.\d+(?:$| )"
)


def microsoft_smtp_server(text: str) -> bool:
    """Exchange 2007 and later: `with Microsoft SMTP Server (...) id 15.1.1261.35`."""
    has_words = "Microsoft SMTP Server" in text or " mapi id " in text
    return has_words and _MS_SMTP_SERVER.search(text) is not None


_HELO_HEAD = compile_(r"(\S+) \((?:HELO|EHLO) (\S*)\) \(")
_IP_HERE = compile_(r"{IP}")
_BY_WITH = compile_(r"\) by (\S+) with ")


def helo_then_user_at_ip(text: str, work: Fields) -> Outcome:
    r"""`rdns (HELO helo) ([user@]ip anything) by host with ...` (Yahoo, qmail patches).

    Written as a pattern this is `\((?:(\S+)@)?(IP).*?\) by (\S+) with `, which on a long
    word full of `@` retries the whole tail once per `@`. Here each `@` (last first, as the
    pattern would) costs one IP test and one lookup in the sorted list of `) by X with `.
    """
    head = _HELO_HEAD.match(text)
    if head is None:
        return None
    start = head.end()
    tails = list(_BY_WITH.finditer(text, start))
    if not tails:
        return None
    tail_starts = [t.start() for t in tails]
    word_end = text.find(" ", start)
    if word_end < 0:
        word_end = len(text)

    def attempt(user: str | None, at: int) -> bool:
        ip = _IP_HERE.match(text, at)
        if ip is None:
            return False
        i = bisect_left(tail_starts, ip.end())
        if i == len(tails):
            return False
        work.rdns, work.helo, work.ip, work.by = head[1], head[2], ip[0], tails[i][1]
        if user is not None:
            work.ident = user
        return True

    sign = text.rfind("@", start + 1, word_end)
    while sign > start:
        if attempt(text[start:sign], sign + 1):
            return ENOUGH
        sign = text.rfind("@", start + 1, sign)
    return ENOUGH if attempt(None, start) else None
