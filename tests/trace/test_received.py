"""The Received parser: SpamAssassin's and rspamd's case tables, our own edge cases, the
date parser, generated well-formed lines, and hostile input."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.trace import received as received_module
from mailrep.trace import received_formats as parse_formats
from mailrep.trace import received_patterns, received_quirks
from mailrep.trace.received import (
    FETCHMAIL,
    MAX_RECEIVED_CHARS,
    QMAIL_SCANNER,
    Ignored,
    Relay,
    parse_date,
    parse_received,
)
from tests.peers import CORPUS

FIELDS = ("ip", "rdns", "helo", "by", "ident", "envfrom", "id", "auth")


def _cases(name: str) -> list[dict]:
    path = CORPUS / "received" / name
    return json.loads(path.read_text())["cases"] if path.exists() else []


SA_CASES = _cases("sa_rcvd_cases.json")
RSPAMD_CASES = _cases("rspamd_received_cases.json")


def test_case_tables_are_present(corpus):
    assert len(SA_CASES) == 145
    assert sum(c["ignored"] for c in SA_CASES) == 34
    assert len(RSPAMD_CASES) == 13


# ---- SpamAssassin's t/rcvd_parser.t ---------------------------------------------------------


@pytest.mark.parametrize("case", SA_CASES, ids=lambda c: c["received"][:60])
def test_spamassassin_case(case):
    got = parse_received(case["received"])
    if case["ignored"]:
        assert isinstance(got, Ignored), got
        return
    assert isinstance(got, Relay), got
    # SA's test drops ` intl=[01] ` (trust, not parse) and `msa` is always 0 from the parser
    expected = {f: case["expected"][f] for f in FIELDS}
    assert {f: getattr(got, f) for f in FIELDS} == expected


# ---- rspamd's received.cxx doctests ---------------------------------------------------------
# rspamd names: real_ip -> ip, real_hostname -> rdns, by_hostname -> by. from_hostname is "the
# name after `from`", which is the HELO in sendmail/Postfix lines and the rDNS in Exim/qmail
# lines, so it must equal one of our helo/rdns (an address-literal HELO like `[1.2.3.4]` is
# written `!1.2.3.4!`, as SpamAssassin does). for_mbox has no field in Relay. An absent
# by_hostname means rspamd saw no usable receiving host: our `by` must then be empty.

RSPAMD_DIFFERENT = {
    "Invalid hostinfo": (
        None,
        "no address at all (`([])`): nothing to trace, so unparseable as in SpamAssassin; "
        "the trust path flags it instead of inventing a hop",
    ),
    "No from part": (
        Ignored,
        "no sending host (`by` only): a local handover, skipped as SpamAssassin does",
    ),
    "From part is in the comment": (
        Ignored,
        "`(from user@localhost)`: local submission by sendmail -t, skipped as SpamAssassin does",
    ),
}


@pytest.mark.parametrize("case", RSPAMD_CASES, ids=lambda c: c["comment"])
def test_rspamd_case(case):
    got = parse_received(case["received"])
    if case["comment"] in RSPAMD_DIFFERENT:
        kind, _reason = RSPAMD_DIFFERENT[case["comment"]]
        assert got is None if kind is None else isinstance(got, kind), got
        return
    assert isinstance(got, Relay), got
    want = case["expected"]
    assert got.ip == want.get("real_ip", "")
    if "real_hostname" in want:
        assert got.rdns == want["real_hostname"]
    assert got.by == want.get("by_hostname", "")
    if "from_hostname" in want:
        assert want["from_hostname"] in (got.helo.strip("!"), got.rdns)
    assert "\x00" not in got.raw


def test_rspamd_differences_name_real_cases():
    assert set(RSPAMD_DIFFERENT) <= {c["comment"] for c in RSPAMD_CASES}


# ---- our own edge cases -----------------------------------------------------------------------

EDGE_CASES = [
    # (value, expected fields as a dict, or the expected type)
    (
        "from a.example (b.example [IPv6:2001:DB8::1]) by mx.example (Postfix) with ESMTP id 1A",
        {"ip": "2001:db8::1", "rdns": "b.example", "helo": "a.example", "by": "mx.example"},
    ),
    (
        "from a.example (b.example [::ffff:192.0.2.7]) by mx.example (Postfix) with ESMTP id 1A",
        {"ip": "192.0.2.7"},
    ),
    (
        "from x.example ([fe80::19bd:C588:dd17:5226%6]) by x.example ([fe80::19bd:c588:dd17:5226%6])"
        " with mapi id 15.20.1943.023",
        {"ip": "fe80::19bd:c588:dd17:5226", "helo": "x.example", "id": ""},
    ),
    # a mail address where the receiving host belongs is not a host name
    (
        "from [192.0.2.1] (HELLO x) (192.0.2.1) by someone@example.com with gg login",
        {"ip": "192.0.2.1", "by": ""},
    ),
    # cut before its `by`: the connecting host is still plainly recorded
    (
        "from helo.example (rdns.example [192.0.2.9])",
        {"ip": "192.0.2.9", "rdns": "rdns.example", "helo": "helo.example", "by": ""},
    ),
    (
        "from mx.example (mx.example [192.0.2.1]) by x.example (8.12.9) with ESMTP id h81A "
        "(envelope-from <bounce@list.example>); Mon, 1 Sep 2003 10:00:00 +0200",
        {"envfrom": "bounce@list.example", "id": "h81A"},
    ),
    # SpamAssassin's synthetic line for X-Originating-IP and the like
    ("from X-Originating-IP: 192.0.2.5", {"ip": "192.0.2.5", "by": ""}),
    ("from pop.example [192.0.2.3] by localhost with POP3 (fetchmail-5.9.0)", Ignored),
    ("(qmail 1234 invoked by uid 89); 14 Nov 2003 08:05:52 -0000", Ignored),
    ("by mail.example (Postfix, from userid 1002) id DABBD1BED3", Ignored),
    ("from [192.0.2.1] by", None),
    ("", Ignored),
    ("from", Ignored),
    ("from ", Ignored),  # blanks trimmed first: just `from`
    ("garbage without any structure", Ignored),
]


@pytest.mark.parametrize(("value", "want"), EDGE_CASES, ids=lambda v: str(v)[:50])
def test_edge_case(value, want):
    got = parse_received(value)
    if isinstance(want, dict):
        assert isinstance(got, Relay), got
        assert {k: getattr(got, k) for k in want} == want
    elif want is None:
        assert got is None
    else:
        assert isinstance(got, want), got


def test_ignored_reasons_tell_fetchmail_and_qmail_scanner_apart():
    fetch = parse_received("from pop.example [192.0.2.3] by localhost with IMAP (fetchmail-6.2.4)")
    scanner = parse_received(
        "from 192.0.2.4 by mx.example (envelope-from <a@b.example>, uid 502) with qmail-scanner-1.24 "
        "(clamdscan: 0.80/594. Clear:RC:0(192.0.2.4):. Processed in 0.288806 secs)"
    )
    assert fetch == Ignored(FETCHMAIL)
    assert scanner == Ignored(QMAIL_SCANNER)


def test_hop_date_is_the_text_after_the_last_semicolon_in_utc():
    got = parse_received(
        "from a (b [192.0.2.1]) by c (Postfix) with ESMTP id X; Fri, 14 Nov 2003 09:05:49 +0100 (CET)"
    )
    assert isinstance(got, Relay)
    assert got.date == datetime(2003, 11, 14, 8, 5, 49, tzinfo=UTC)


def test_hop_date_without_semicolon_and_without_date():
    no_semi = parse_received(
        "from [192.0.2.1] by mail.unearthed.com with ESMTP id BQB0hUH2 Thu, 20 Feb 2003 16:13:20 -0700"
    )
    no_date = parse_received("from [192.0.2.1] by relay.example with SMTP id 1")
    assert isinstance(no_semi, Relay) and isinstance(no_date, Relay)
    assert no_semi.date == datetime(2003, 2, 20, 23, 13, 20, tzinfo=UTC)
    assert no_date.date is None


def test_raw_is_the_unfolded_value():
    got = parse_received("from a (b [192.0.2.1])\r\n\tby c (Postfix)\n    with ESMTP id X")
    assert isinstance(got, Relay)
    assert got.raw == "from a (b [192.0.2.1]) by c (Postfix) with ESMTP id X"


def test_over_long_values_are_unparseable_not_slow():
    line = "from a (b [192.0.2.1]) by c (Postfix) with ESMTP id X "
    assert isinstance(parse_received(line + "x" * (MAX_RECEIVED_CHARS - len(line) - 1)), Relay)
    assert parse_received(line + "x" * MAX_RECEIVED_CHARS) is None
    assert parse_received(line + "x" * 10_000_000) is None


def test_bytes_and_non_text_input():
    assert isinstance(parse_received(b"from a (b [192.0.2.1]) by c (Postfix) with ESMTP"), Relay)
    assert parse_received(None) is None  # type: ignore[arg-type]
    assert parse_received(12) is None  # type: ignore[arg-type]


# ---- dates --------------------------------------------------------------------------------

DATES = [
    ("Fri, 14 Nov 2003 09:05:49 +0100 (CET)", datetime(2003, 11, 14, 8, 5, 49)),
    ("14 Nov 2003 08:05:50 -0000", datetime(2003, 11, 14, 8, 5, 50)),
    ("Wed, 12 Feb 2003 14:22:21 PST", datetime(2003, 2, 12, 22, 22, 21)),
    ("3 Jul 2002 15:43:50 UT", datetime(2002, 7, 3, 15, 43, 50)),
    ("Wed, 26 Mar 03 20:43:24 -0600", datetime(2003, 3, 27, 2, 43, 24)),
    ("Wed, 26 Mar 99 20:43:24 +0000", datetime(1999, 3, 26, 20, 43, 24)),
    ("Thu, 22 Aug 0102 23:36:23 -0300", datetime(2002, 8, 23, 2, 36, 23)),  # Y2K-era bug
    ("Thu, 02 Apr 2020 07:53:55.516 +0000 (UTC)", datetime(2020, 4, 2, 7, 53, 55)),
    ("Mon, 7 Aug 2006 17:48 +0200", datetime(2006, 8, 7, 15, 48, 0)),
    ("Mon, 07 Oct 2002 15:10:41 +100", datetime(2002, 10, 7, 14, 10, 41)),
    ("Aug, 22 2002 8:02:13 AM +0400", datetime(2002, 8, 22, 4, 2, 13)),
    ("Sep, 24 2002 12:30:14 AM -0100", datetime(2002, 9, 24, 1, 30, 14)),
    ("Sep, 24 2002 10:25:15 PM +1100", datetime(2002, 9, 24, 11, 25, 15)),
    ("Fri Feb 07 10:18:12 2003 -0800", datetime(2003, 2, 7, 18, 18, 12)),
    ("Fri Sep 14 14:36:56 EDT 2018", datetime(2018, 9, 14, 18, 36, 56)),
    ("Sun Nov 13 14:50:12 2005", datetime(2005, 11, 13, 14, 50, 12)),
    ("28/08/2002 09:22:41", datetime(2002, 8, 28, 9, 22, 41)),
    ("08/28/2002 09:22:41", datetime(2002, 8, 28, 9, 22, 41)),
    ("Thu, 20 Mar 03 10:06:43 +0100 for <asrg@ietf.org>", datetime(2003, 3, 20, 9, 6, 43)),
    ("31 Dec 2003 23:59:60 +0000", datetime(2003, 12, 31, 23, 59, 59)),
    ("31 Feb 2003 10:00:00 +0000", None),
    ("1 Jan 1969 00:00:00 +0000", None),
    ("14 Nov 2003 25:61:00 +0000", None),
    ("14 Foo 2003 10:00:00 +0000", None),
    ("id XA00251", None),
    ("", None),
    ("\x00\x01 14 Nov", None),
]


@pytest.mark.parametrize(("text", "want"), DATES, ids=[d[0] or "empty" for d in DATES])
def test_parse_date(text, want):
    got = parse_date(text)
    assert got == (want.replace(tzinfo=UTC) if want else None)
    if got is not None:
        assert got.utcoffset() == timedelta(0)


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_parse_date_reads_what_rfc5322_writes(moment, offset_minutes):
    zone = timezone(timedelta(minutes=offset_minutes))
    local = moment.replace(microsecond=0, tzinfo=zone)
    assert parse_date(format_datetime(local)) == local


@given(st.text(max_size=300))
def test_parse_date_never_raises(text):
    got = parse_date(text)
    assert got is None or got.tzinfo is UTC


# ---- generated well-formed lines: the parse returns what was written ----------------------

_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
hosts = st.lists(_label, min_size=2, max_size=4).map(".".join)
ipv4s = st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified).map(str)
ipv6s = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None and not a.is_unspecified)
ids = st.text("ABCDEF0123456789", min_size=6, max_size=12)
dates = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


def _postfix(helo, rdns, ip, by, qid, when):
    literal = f"IPv6:{ip}" if ":" in ip else ip
    line = (
        f"from {helo} ({rdns} [{literal}])\n\t(using TLSv1.2 with cipher X (256/256 bits))\n\t"
        f"by {by} (Postfix) with ESMTPS id {qid}\n\tfor <u@{by}>; {format_datetime(when)}"
    )
    return line, {"helo": helo, "rdns": rdns, "ip": ip, "by": by, "id": qid}


def _sendmail(helo, rdns, ip, by, qid, when):
    line = (
        f"from {helo} ({rdns} [{ip}]) by {by} (8.12.11/8.12.11) with ESMTP id {qid} "
        f"for <u@{by}>; {format_datetime(when)}"
    )
    return line, {"helo": helo, "rdns": rdns, "ip": ip, "by": by, "id": qid}


def _exim(helo, rdns, ip, by, qid, when):
    line = (
        f"from {rdns} ([{ip}]:52313 helo={helo})\n\tby {by} with esmtps (TLS1.2) (Exim 4.92)\n\t"
        f"(envelope-from <b@{rdns}>)\n\tid {qid}-0002Oz-7b; {format_datetime(when)}"
    )
    return line, {"helo": helo, "rdns": rdns, "ip": ip, "by": by, "envfrom": f"b@{rdns}"}


def _qmail(helo, rdns, ip, by, qid, when):
    line = f"from {rdns} (HELO {helo}) ({ip}) by {by} with SMTP; {format_datetime(when)}"
    return line, {"helo": helo, "rdns": rdns, "ip": ip, "by": by, "id": ""}


def _smtpsvc(helo, rdns, ip, by, qid, when):
    line = f"from {helo} ([{ip}]) by {by} with Microsoft SMTPSVC(6.0.3790.4675); {format_datetime(when)}"
    return line, {"helo": helo, "rdns": "", "ip": ip, "by": by}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([_postfix, _sendmail, _exim, _qmail, _smtpsvc]),
    hosts,
    hosts,
    st.one_of(ipv4s, ipv6s.map(str)),
    hosts,
    ids,
    dates,
)
def test_generated_lines_parse_back(fmt, helo, rdns, ip, by, qid, when):
    if ":" in ip and fmt in (_qmail, _smtpsvc, _sendmail):
        ip = str(ipaddress.ip_address(ip).exploded)  # these MTAs' IPv6 forms vary; keep it plain
    line, want = fmt(helo, rdns, ip, by, qid, when)
    got = parse_received(line)
    assert isinstance(got, Relay), line
    assert {k: getattr(got, k) for k in want} == {**want, "ip": want["ip"].lower()}
    assert got.date == when


# ---- hostile input -----------------------------------------------------------------------------

_PIECES = [
    "[", "]", "(", ")", ".", "1", "1.", "1.2.3.4", "[1.2.3.4]", "(1.2.3.4)", " ", ";", "a", "@",
    ":", "::", "ffff:", "by ", "from ", ") by ", "(HELO ", "helo=", " with ", "SMTP ", "\x00",
    "(authenticated ", " (AUTH: LOGIN ", "Exim ", " SMTPSVC ", "(Postfix) with ", "with HTTP ",
    "envelope-from ", "[<", "IPv6:", "\t", "\r\n ", "é", "\udcff", "%", "id <", "<", ">",
]  # fmt: skip
_STARTS = ["", "from ", "from a (", "from [1.2.3.4] (", "(from ", "FROM a (b [1.2.3.4]) BY "]


@st.composite
def hostile_values(draw):
    """Long runs of one to three awkward pieces after a plausible start: mostly just under
    the length the parser reads (where its patterns do run), sometimes up to ~100 KB."""
    start = draw(st.sampled_from(_STARTS))
    unit = "".join(draw(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=3)))
    read = MAX_RECEIVED_CHARS - 60
    count = draw(
        st.one_of(
            st.integers(min_value=max(1, read // len(unit) - 5), max_value=read // len(unit)),
            st.integers(min_value=1, max_value=read // len(unit)),
            st.integers(min_value=1, max_value=100_000 // len(unit)),
        )
    )
    tail = draw(
        st.sampled_from(["", ") by x (y) with SMTP", " by x with SMTP; 1 Jan 2003 00:00:00 -0000"])
    )
    return start + unit * count + tail


def _check_result(got):
    assert got is None or isinstance(got, Ignored | Relay)
    if isinstance(got, Relay):
        for name in ("ip", "rdns", "helo", "by", "ident", "envfrom"):
            assert not re.search(r"[\s\x00#\[\]()<>|]", getattr(got, name)), (name, got)
        if got.ip:
            ipaddress.ip_address(got.ip)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_values())
def test_hostile_values_never_raise(value):
    _check_result(parse_received(value))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_arbitrary_text_never_raises(value):
    _check_result(parse_received(value))
    _check_result(parse_received("from " + value))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SA_CASES or [{"received": "from a"}]), st.data())
def test_folding_and_blanks_do_not_change_the_parse(case, data):
    line = case["received"].replace("\n", " ")
    words = line.split(" ")
    folded = "".join(
        w + data.draw(st.sampled_from([" ", "  ", "\r\n\t", "\n ", "\t"])) for w in words
    )
    plain, refolded = parse_received(line), parse_received(folded)
    if isinstance(plain, Relay):
        assert isinstance(refolded, Relay)
        assert {f: getattr(refolded, f) for f in FIELDS} == {f: getattr(plain, f) for f in FIELDS}
    else:
        assert type(refolded) is type(plain)


# ---- the rule engine: its speed-ups do not change a parse ------------------------------------


def _combined_steps(steps):
    for step in steps:
        if isinstance(step, received_patterns.Family):
            for _guard, inner in step.branches:
                yield from _combined_steps(inner)
        elif hasattr(step, "rules"):
            yield step


_FROM_TEXTS = sorted(
    {" ".join(c["received"].split()).partition("from ")[2] for c in SA_CASES} - {""}
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_FROM_TEXTS or ["x"]),
    st.integers(0, 200),
    st.sampled_from(["", " ", "@", "(", "[", "]"]),
)
def test_combined_alternation_decides_like_the_rules_in_order(text, cut, extra):
    """Rules merged into one alternation give exactly what trying them in turn gives."""
    text = text[:cut] + extra + text[cut:]
    for combined in _combined_steps(parse_formats.FROM_RULES):
        fast, slow = received_module._Work(), received_module._Work()
        got = combined.apply(text, fast)
        want = None
        for rule in combined.rules:
            if (want := rule.apply(text, slow)) is not None:
                break
        assert got == want
        assert fast == slow


POSSESSIVE = [
    (r"(\S+) \((\S+) \[", r"(\S++) \((\S++) \["),
    (r"\S+ by \S* with", r"\S++ by \S*+ with"),
    (r"(\S+)\[", r"(\S+)\["),  # followed by something \S can match: left alone
    (r"by (\S+)\b", r"by (\S+)\b"),
]


@pytest.mark.parametrize(("pattern", "want"), POSSESSIVE)
def test_possessive_rewrites_only_words_followed_by_a_blank(pattern, want):
    assert received_patterns.possessive(pattern) == want


@given(st.text(" ab@.([", max_size=40))
def test_possessive_words_match_the_same(text):
    for pattern in (r"(\S+) \((\S+) \[", r"\S+@\S+ by ", r"{MAILBOX_WORD}by ", r"(\S*) \(x"):
        plain = re.compile(pattern.replace("{MAILBOX_WORD}", r"\S+@\S+ "), re.ASCII).match(text)
        fast = received_patterns.compile_(pattern).match(text)
        assert (plain and plain.groups()) == (fast and fast.groups())


# The three authentication tests that SpamAssassin writes as patterns with several
# wildcards (quadratic on hostile input) are rewritten as linear scans; the reference
# patterns are kept here to show the rewrite answers the same.
SA_COURIER = re.compile(
    r"from .*?(?:\]\)|\)\]) \(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \S+(?:, .*?)?\) by ", re.ASCII
)
SA_SENDMAIL_AUTH = re.compile(
    r"from .*?(?:\](?: \([^)]*\))?\)|\)\]) .*?\(.*?authenticated.*?\).*? by", re.ASCII
)
SA_CRITICAL_PATH = re.compile(
    r"\) by .+ \(\d{1,2}\.\d\.\d{3}(?:\.\d{1,3})?\) \(authenticated as .+\) id ", re.ASCII
)
_AUTH_PIECES = [
    "from ", "a", "])", ")]", "]", " (x)", ")", " (", "(", "authenticated", " by", " ", "x y",
    "[", "]) ", ")] ", "] (a)) ", " (AUTH: ", "LOGIN", "PLAIN", ",", ", ", ") by ", "b(",
    " (1.2.333) ", " (12.3.456.7) ", "(authenticated as ", ") id ", " id ",
]  # fmt: skip


@settings(max_examples=500)
@given(st.booleans(), st.lists(st.sampled_from(_AUTH_PIECES), max_size=16).map("".join))
def test_linear_auth_scans_answer_like_the_reference_patterns(prefixed, text):
    text = ("from " + text) if prefixed else text
    courier = SA_COURIER.match(text)
    assert received_module._courier_auth(text) == (courier.group(1) if courier else "")
    sendmail = SA_SENDMAIL_AUTH.match(text) is not None
    assert received_module._sendmail_authenticated(text) == sendmail
    critical_path = SA_CRITICAL_PATH.search(text) is not None
    assert received_module._critical_path(text) == critical_path


SA_HELO_USER_IP = received_patterns.compile_(
    r"(\S+) \((?:HELO|EHLO) (\S*)\) \((?:(\S+)\@)?({IP}).*?\) by (\S+) with "
)
_HELO_PIECES = [
    "a", "b.c", " (HELO x) (", "(EHLO ) (", "@", "1.2.3.4", "::1", "[", "]", ")", " ", "u@",
    "with plain", ") by y with ", ") by z with ", "(", ") by ", " with ", "2001:db8::1", "@1.2.3.4",
]  # fmt: skip


@settings(max_examples=500)
@given(st.booleans(), st.lists(st.sampled_from(_HELO_PIECES), max_size=14).map("".join))
def test_linear_helo_user_ip_format_answers_like_the_reference_pattern(prefixed, text):
    text = ("host (HELO h) (" + text) if prefixed else text
    work = received_module._Work()
    outcome = received_quirks.helo_then_user_at_ip(text, work)
    m = SA_HELO_USER_IP.match(text)
    assert (outcome is not None) == (m is not None)
    if m:
        want = {"rdns": m[1], "helo": m[2], "ident": m[3] or "", "ip": m[4], "by": m[5]}
        assert {k: getattr(work, k) for k in want} == want
