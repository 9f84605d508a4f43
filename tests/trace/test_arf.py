"""ARF feedback reports: every sample of the corpus manifest, the known variants, rejections."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.errors import BadInput
from mailrep.trace.arf import Arf, NotArf, Quirk, looks_like_arf, parse_arf
from mailrep.trace.message import read_message
from tests.peers import CORPUS

MANIFEST = CORPUS / "arf" / "arf_cases.json"
ITEMS = json.loads(MANIFEST.read_text())["items"] if MANIFEST.exists() else []

# stalwart's serde names for the feedback types
STALWART_TYPES = {"Abuse": "abuse", "AuthFailure": "auth-failure", "Fraud": "fraud", "NotSpam": "not-spam",
                  "OptOut": "opt-out", "Other": "other", "Virus": "virus"}

# Our decision for every sample whose shape is not plain RFC 5965: the variant it matches and
# the kind of original it carries. Every other sample must parse as 'standard' or a provider.
VARIANTS = {
    "email-arf/example1.msg": (Quirk.MESSAGE_HEADERS, "headers"),
    "sisimai/bsd-arf-12.eml": (Quirk.MISSPELT_HEADERS, "headers"),
    "sisimai/bsd-arf-22.eml": (Quirk.HOTMAIL, "message"),
    "sisimai/bsd-arf-23.eml": (Quirk.HOTMAIL, "message"),
    "sisimai/bsd-arf-24.eml": (Quirk.HOTMAIL, "message"),
    # redacted: its message/rfc822 part holds only the word REDACTED
    "sisimai/bsd-arf-25.eml": ("returnpath", None),
    # an Apple Mail unsubscribe request: an opt-out with no original (Sisimai reads it so)
    "sisimai/bsd-arf-26.eml": (Quirk.APPLE_UNSUBSCRIBE, None),
    "sisimai/mac-arf-01.eml": (Quirk.CR_LINES, "message"),
    "parsedmarc/_Netease_DMARC_Failure_Report__Rent_Reminder.eml": (Quirk.NOT_MULTIPART_REPORT, "message"),
    # plain-text DMARC failure report (Exim): parsed, as parsedmarc does, as an auth-failure
    "parsedmarc/exim_plain_text_only_no_arf_part.eml": (Quirk.DMARC_TEXT, "headers"),
}
PROVIDERS = {"standard", "aol", "yahoo", "returnpath", "spamexperts", "opendmarc", "netease"}
THIRD_PART_KIND = {"message/rfc822": "message", "text/rfc822-headers": "headers", "message/rfc822-headers": "headers"}


def load(rel: str) -> Arf:
    return parse_arf(read_message((CORPUS / rel).read_bytes()))


def _short(item: dict) -> str:
    return item["file"].removeprefix("arf/")


@pytest.mark.parametrize("item", ITEMS, ids=[_short(i) for i in ITEMS])
def test_manifest_sample(corpus, item):
    msg = read_message((corpus / item["file"]).read_bytes())
    assert looks_like_arf(msg)
    arf = parse_arf(msg)
    json.dumps(arf.to_dict())  # JSON-safe
    variant, kind = VARIANTS.get(_short(item), (None, None))
    if variant is not None:
        assert (arf.variant, arf.original_kind) == (variant, kind)
    else:
        assert arf.variant in PROVIDERS
        helper = item.get("extracted_by_helper") or {}
        assert arf.original_kind == THIRD_PART_KIND[helper["third_part_type"]]
    if arf.original_kind == "message":
        assert arf.original is not None and arf.original.headers
    if arf.source_ip is not None:
        ipaddress.ip_address(arf.source_ip)
    if arf.arrival_date is not None:
        assert arf.arrival_date.tzinfo is not None and arf.arrival_date.utcoffset().total_seconds() == 0

    expected = item.get("upstream_expected")
    if expected is None:
        _check_against_fields(arf, item)
    elif "Feedback JSON" in expected["kind"]:
        _check_stalwart(arf, json.loads((corpus / expected["file"]).read_text()))
    elif "Email::ARF" in expected["kind"]:
        values = expected["values"]
        assert arf.feedback_type == values["feedback-type"]
        assert arf.user_agent == values["user_agent"]
        assert arf.version == values["arf_version"]
        if "source-ip" in values:
            assert arf.source_ip == values["source-ip"]
        assert arf.original.decoded("subject") == values["original_email_subject"]
        assert values["description_contains"] in arf.description
    elif "feedbacktype" in expected:  # Sisimai: one result per reported recipient
        assert arf.feedback_type == expected["feedbacktype"]
        assert max(1, len(arf.original_rcpt_to)) == expected["num_results"]
    else:  # parsedmarc: a failure (forensic) report
        assert expected["report_type"] == "failure"
        assert arf.feedback_type == expected.get("feedback_type", "auth-failure")
        if "source_ip" in expected:
            assert arf.source_ip == expected["source_ip"]


def _check_stalwart(arf: Arf, exp: dict) -> None:
    assert arf.feedback_type == STALWART_TYPES[exp["feedback_type"]]
    assert arf.user_agent == exp["user_agent"]
    assert float(arf.version) == exp["version"]
    assert arf.source_ip == exp["source_ip"]
    stamp = int(arf.arrival_date.timestamp()) if arf.arrival_date else None
    assert stamp == exp["arrival_date"]
    assert arf.original_mail_from == exp["original_mail_from"]
    assert arf.original_rcpt_to == ([exp["original_rcpt_to"]] if exp["original_rcpt_to"] else [])
    assert arf.reported_domain == exp["reported_domain"]
    assert arf.reported_uri == exp["reported_uri"]
    if exp["headers"]:
        assert arf.original_kind == "headers"
        first = exp["headers"].split(":", 1)[0]
        assert arf.original.headers[0][0] == first


def _check_against_fields(arf: Arf, item: dict) -> None:
    """No upstream assertions: cross-check with the raw fields of the report part."""
    fields = {k.lower(): v for k, v in item["extracted_by_helper"]["feedback_fields"]}
    assert arf.feedback_type == fields["feedback-type"].lower()
    assert arf.user_agent == fields["user-agent"]
    assert arf.source_ip == str(ipaddress.ip_address(fields["source-ip"]))
    assert (arf.arrival_date is not None) == ("arrival-date" in fields or "received-date" in fields)
    rcpts = [v for k, v in item["extracted_by_helper"]["feedback_fields"] if k.lower() == "original-rcpt-to"]
    assert arf.original_rcpt_to == rcpts


def test_to_dict_is_a_stable_json_contract(corpus):
    d = load("arf/stalwart-mail-auth/002.eml").to_dict()
    assert list(d) == ["feedback_type", "user_agent", "version", "source_ip", "arrival_date", "original_mail_from",
                       "original_rcpt_to", "reported_domain", "reported_uri", "original_kind", "original",
                       "variant", "flags"]
    assert d["arrival_date"] == "2005-03-08T18:00:00+00:00"
    assert d["original"] == {"headers": 2, "subject": None, "body_bytes": len(load("arf/stalwart-mail-auth/002.eml").original.body)}
    assert json.loads(json.dumps(d)) == d


def test_line_end_variants_read_alike(corpus):
    base = load("arf/sisimai/bsd-arf-01.eml")
    for name in ("dos-arf-01.eml", "mac-arf-01.eml"):
        other = load(f"arf/sisimai/{name}")
        assert (other.feedback_type, other.source_ip, other.arrival_date, other.user_agent) == (
            base.feedback_type, base.source_ip, base.arrival_date, base.user_agent)
        assert other.original.get_all("received") == base.original.get_all("received")


def test_base64_report_part(corpus):
    arf = load("arf/parsedmarc/_Netease_DMARC_Failure_Report__Rent_Reminder.eml")
    assert arf.feedback_type == "auth-failure"
    assert arf.user_agent == "NtesDmarcReporter/1.0"
    assert arf.source_ip == "167.89.69.24"
    assert arf.arrival_date == datetime(2018, 9, 28, 8, 48, 42, tzinfo=UTC)
    assert arf.reported_domain == ["cardinal.com"]
    assert any("base64" in f.detail for f in arf.flags)
    assert arf.original.decoded("subject") == "Rent Reminder"


def test_hotmail_jmrp(corpus):
    arf = load("arf/sisimai/bsd-arf-22.eml")
    assert arf.original_rcpt_to == ["kijitora@example.com"]
    assert arf.source_ip == "192.0.2.222"  # from "complaint about message from 192.0.2.222"
    assert arf.original.decoded("subject") == "Nyaan"


def test_plain_text_dmarc_report(corpus):
    arf = load("arf/parsedmarc/exim_plain_text_only_no_arf_part.eml")
    assert arf.reported_domain == ["example.com"]
    assert arf.arrival_date == datetime(2025, 4, 7, 21, 16, 9, tzinfo=UTC)
    assert arf.original.get("subject") == "Payment from your account."
    assert len(arf.original.get_all("received")) == 2
    assert "failed the published DMARC policy" in arf.description


def test_misspelt_headers_part(corpus):
    arf = load("arf/sisimai/bsd-arf-12.eml")
    assert arf.feedback_type == "opt-out"
    assert arf.original.get("subject") == "Nyaaan"
    assert "192.0.2.89" in arf.original.get("received")


def test_redacted_original_is_flagged(corpus):
    arf = load("arf/sisimai/bsd-arf-25.eml")
    assert arf.original is None
    assert {"arf_bad_original", "arf_no_original"} <= {f.code for f in arf.flags}
    assert arf.source_ip == "10.0.0.1"  # field name in odd case: Source-Ip


def test_source_ip_with_comment(corpus):
    assert load("arf/stalwart-mail-auth/004.eml").source_ip == "148.163.85.135"


def _report(fields: str, third: str = "Content-Type: message/rfc822\n\nFrom: s@example.net\nSubject: spam\n\nbuy\n",
            top: str = 'multipart/report; report-type=feedback-report; boundary="X"') -> bytes:
    return (
        f"From: fbl@example.com\nSubject: report\nMIME-Version: 1.0\nContent-Type: {top}\n\n"
        "--X\nContent-Type: text/plain\n\nThis is an abuse report.\n"
        f"--X\nContent-Type: message/feedback-report\n\n{fields}\n"
        f"--X\n{third}\n--X--\n"
    ).encode()


FIELD_CASES = [
    # (fields, attribute, expected)
    ("Feedback-Type: Abuse (user click)\nVersion: 1", "feedback_type", "abuse"),
    ("Feedback-Type: abuse\nSource-IP: [192.0.2.7]", "source_ip", "192.0.2.7"),
    ("Feedback-Type: abuse\nSource-IP: 2001:DB8:0::1", "source_ip", "2001:db8::1"),
    ("Feedback-Type: abuse\nSource-IP: IPv6:2001:db8::2", "source_ip", "2001:db8::2"),
    ("Feedback-Type: abuse\nSource-IP: not-an-ip", "source_ip", None),
    ("Feedback-Type: abuse\nArrival-Date: Thu, 8 Mar 2005 14:00:00 EDT", "arrival_date",
     datetime(2005, 3, 8, 18, 0, tzinfo=UTC)),
    ("Feedback-Type: abuse\nReceived-Date: Tue, 19 Jan 2016 14:32:40 -0500 (EST)", "arrival_date",
     datetime(2016, 1, 19, 19, 32, 40, tzinfo=UTC)),
    ("Feedback-Type: abuse\nArrival-Date: yesterday", "arrival_date", None),
    ("Feedback-Type: abuse\nOriginal-Rcpt-To: <a@x>\nOriginal-Rcpt-To: b@x", "original_rcpt_to", ["<a@x>", "b@x"]),
    ("Feedback-Type: abuse\nReported-Domain: a.example\nReported-URI: http://a.example/\n"
     "Reported-Uri: mailto:x@a.example", "reported_uri", ["http://a.example/", "mailto:x@a.example"]),
    ("Feedback-Type: abuse\nUser-Agent: Folded/1.0\n  (more)", "user_agent", "Folded/1.0 (more)"),
    ("Version: 1", "feedback_type", None),
    ("Feedback-Type: made-up", "feedback_type", "made-up"),
]


@pytest.mark.parametrize(("fields", "attr", "expected"), FIELD_CASES)
def test_fields(fields, attr, expected):
    arf = parse_arf(read_message(_report(fields)))
    assert getattr(arf, attr) == expected


def test_field_problems_are_flagged():
    arf = parse_arf(read_message(_report("Version: 1\nSource-IP: bogus\nArrival-Date: never")))
    codes = [f.code for f in arf.flags]
    assert codes.count("arf_bad_field") == 2 and "arf_missing_field" in codes


def test_unknown_type_and_extra_report_parts_are_flagged():
    arf = parse_arf(read_message(_report("Feedback-Type: made-up",
                                         "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n")))
    assert {"arf_unknown_type", "arf_many_reports", "arf_no_original"} <= {f.code for f in arf.flags}


def test_fields_without_blank_line_after_part_headers():
    raw = _report("x").replace(b"Content-Type: message/feedback-report\n\nx\n",
                               b"Content-Type: message/feedback-report\nFeedback-Type: virus\nSource-IP: 192.0.2.9\n")
    arf = parse_arf(read_message(raw))
    assert (arf.feedback_type, arf.source_ip) == ("virus", "192.0.2.9")


def test_forwarded_report_is_found_inside_an_attachment():
    inner = _report("Feedback-Type: abuse\nSource-IP: 192.0.2.44")
    raw = (b"From: admin@example.org\nSubject: Fwd: report\nContent-Type: multipart/mixed; boundary=F\n\n"
           b"--F\nContent-Type: text/plain\n\nsee attached\n--F\nContent-Type: message/rfc822\n\n" + inner + b"\n--F--\n")
    msg = read_message(raw)
    assert looks_like_arf(msg)
    arf = parse_arf(msg)
    assert (arf.source_ip, arf.variant, arf.original_kind) == ("192.0.2.44", Quirk.NOT_MULTIPART_REPORT, "message")
    assert arf.original.get("subject") == "spam"
    assert arf.description == "This is an abuse report."


def test_looks_like_arf_ignores_case_and_sees_every_shape():
    upper = _report("Feedback-Type: abuse").replace(b"message/feedback-report", b"Message/Feedback-Report")
    upper = upper.replace(b"report-type=feedback-report", b"report-type=x")
    msg = read_message(upper)
    assert looks_like_arf(msg) and parse_arf(msg).feedback_type == "abuse"
    assert looks_like_arf(read_message(b"Subject: x\n\nDMARC report. Sender IP Address: 192.0.2.1\n"))
    assert not looks_like_arf(read_message(b"Subject: x\n\nSender IP Address: 192.0.2.1\n"))
    assert looks_like_arf(read_message(b"X-Apple-Unsubscribe: TRUE\n\nbye\n"))


def test_original_before_the_report_part():
    raw = (b'Content-Type: multipart/report; report-type=feedback-report; boundary="X"\n\n'
           b"--X\nContent-Type: message/rfc822\n\nFrom: s@example.net\nSubject: early\n\nbody\n"
           b"--X\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n--X--\n")
    arf = parse_arf(read_message(raw))
    assert (arf.original_kind, arf.original.get("subject")) == ("message", "early")


def test_headers_only_original():
    arf = parse_arf(read_message(_report("Feedback-Type: fraud",
                                         "Content-Type: text/rfc822-headers\n\nReceived: from x\nSubject: hi\n")))
    assert (arf.original_kind, arf.variant) == ("headers", "standard")
    assert arf.original.get("subject") == "hi"


REJECTIONS = [
    # Email::ARF t/errors.t: wrong top-level type, and a report with no parts
    (b"MIME-Version: 1.0\nContent-Type: text/plain\n\nThis is plain.\n", "text/plain"),
    (b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=\"feedback-report\"\n\nThis is plain.\n",
     "without a message/feedback-report part"),
    # a bounce is a report, but not a feedback report
    (b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\n\nfailed\n"
     b"--B\nContent-Type: message/delivery-status\n\nAction: failed\n--B--\n", "report-type=delivery-status"),
    (_report(""), "no fields"),
    (_report("Foo: bar\nBaz: qux"), "no ARF fields"),
    (b"From: a@example.com\nSubject: x\n\nDMARC failed. Sender IP Address: not an address\n", "Sender IP Address"),
    # the DMARC plain-text shape needs the word DMARC, not just the label
    (b"From: a@example.com\nSubject: x\n\nSender IP Address: 192.0.2.1\n", "text/plain"),
]


@pytest.mark.parametrize(("raw", "reason"), REJECTIONS)
def test_rejections_give_a_reason(raw, reason):
    with pytest.raises(NotArf) as err:
        parse_arf(read_message(raw))
    assert reason in str(err.value)
    assert isinstance(err.value, BadInput) and err.value.code == "not_arf"


def test_ordinary_mail_is_not_arf(corpus):
    paths = sorted((corpus / "messages" / "spam").iterdir())[:100] + sorted((corpus / "messages" / "ham").iterdir())[:100]
    paths += [p for p in (corpus / "messages" / "hostile").iterdir()]
    for path in paths:
        msg = read_message(path.read_bytes())
        assert not looks_like_arf(msg), path.name
        with pytest.raises(NotArf):
            parse_arf(msg)


_SAMPLES = sorted(p for p in (CORPUS / "arf").rglob("*") if p.suffix in (".eml", ".msg")) if CORPUS.exists() else []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SAMPLES or [CORPUS]), st.lists(st.tuples(st.integers(0, 50_000), st.binary(max_size=8)),
                                                       min_size=1, max_size=6))
def test_mutated_reports_raise_only_notarf(path, mutations):
    if not path.is_file():
        pytest.skip("corpus missing")
    raw = bytearray(path.read_bytes())
    for at, junk in mutations:
        at %= len(raw) + 1
        raw[at:at + len(junk)] = junk
    try:
        msg = read_message(bytes(raw))
    except BadInput:
        return
    looks_like_arf(msg)
    try:
        arf = parse_arf(msg)
    except NotArf as err:
        assert str(err)
        return
    json.dumps(arf.to_dict())
