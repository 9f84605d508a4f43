"""Abuse Reporting Format (RFC 5965) feedback reports, and the common ways providers bend it.

`parse_arf(msg)` finds the `message/feedback-report` part wherever the report put it, reads its
fields (`Feedback-Type`, `User-Agent`, `Version`, `Source-IP`, `Arrival-Date` or the older
`Received-Date`, `Original-Mail-From`, `Original-Rcpt-To`, `Reported-Domain`, `Reported-URI`)
and the embedded original: a `message/rfc822` part (`original_kind='message'`) or a header
dump (`text/rfc822-headers`, `original_kind='headers'`). It raises `NotArf(reason)` for
anything that is not a usable feedback report, and nothing else.

`variant` names the first quirk the report needed (see `Quirk`), else the provider recognised
by its User-Agent, else 'standard'. Quirks handled:

- the report part base64-encoded, or the whole report in multipart/mixed (forwarded reports);
- the header dump typed `text/rfc822-header` (misspelt) or `message/rfc822-headers`;
- CR-only line ends; fields after the report part's MIME headers without a blank line;
- Hotmail/Outlook JMRP complaints: multipart/mixed with only the original message, whose
  `X-HmXmrOriginalRecipient` names the complainant and whose Subject names the source IP;
- plain-text DMARC failure reports (Exim) with `Sender IP Address:` lines and the headers
  pasted below, read as an `auth-failure` report with `original_kind='headers'`;
- Apple Mail unsubscribe requests (`X-Apple-Unsubscribe: true`), read as `opt-out`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from mailrep.errors import BadInput
from mailrep.net import parse_literal
from mailrep.trace import mime
from mailrep.trace.message import Flag, Message, read_message

MAX_PARTS = 64
MAX_DEPTH = 4
MAX_DESCRIPTION = 4000
_SNIFF_BYTES = 256 * 1024

FEEDBACK_TYPE = "message/feedback-report"
_HEADERS_DUMP = "text/rfc822-headers"


class NotArf(BadInput):
    """Not a usable feedback report."""

    code = "not_arf"


class Quirk:
    """Names of the deviations from RFC 5965 that `parse_arf` accepts (used as `variant`)."""

    STANDARD = "standard"
    NOT_MULTIPART_REPORT = "multipart-mixed"
    BASE64_REPORT = "base64-report-part"
    MISSPELT_HEADERS = "text/rfc822-header"
    MESSAGE_HEADERS = "message/rfc822-headers"
    CR_LINES = "cr-line-ends"
    HOTMAIL = "hotmail-jmrp"
    DMARC_TEXT = "dmarc-plain-text"
    APPLE_UNSUBSCRIBE = "apple-unsubscribe"


# Feedback-Type values registered with IANA (RFC 5965, 6591, 6650) and the old ARF drafts'.
FEEDBACK_TYPES = frozenset({"abuse", "fraud", "other", "virus", "not-spam", "auth-failure", "opt-out",
                            "opt-out-list", "dkim"})

# The fields RFC 5965 defines (section 3.1-3.2); a report part with none of them is not one.
ARF_FIELDS = frozenset({"feedback-type", "user-agent", "version", "original-envelope-id", "original-mail-from",
                        "arrival-date", "received-date", "reporting-mta", "source-ip", "incidents",
                        "authentication-results", "original-rcpt-to", "reported-domain", "reported-uri",
                        "removal-recipient"})

# User-Agent prefixes of feedback loops seen in the wild -> provider name for `variant`.
_PROVIDERS = (
    ("aol scomp", "aol"),
    ("yahoo!-mail-feedback", "yahoo"),
    ("returnpathfbl", "returnpath"),
    ("spamexperts", "spamexperts"),
    ("opendmarc", "opendmarc"),
    ("ntesdmarcreporter", "netease"),
)

_SNIFF_MARKERS = (b"message/feedback-report", b"x-hmxmroriginalrecipient")
_COMMENT = re.compile(r"\([^()]*\)")
_JMRP_SUBJECT = re.compile(r"complaint about message from\s+\[?([0-9a-fA-F:.]{3,45})", re.I)
_TEXT_FIELD = re.compile(r"^[ \t]*(Sender Domain|Sender IP Address|Received date)[ \t]*:[ \t]*(.+?)[ \t]*$", re.I | re.M)
_HEADERS_COPY = re.compile(r"^-{2,}[^\n]*\bcopy of the headers\b[^\n]*$", re.I | re.M)


@dataclass
class Arf:
    """A feedback report: its fields, the original message (or its headers), and flags."""

    feedback_type: str | None = None
    user_agent: str | None = None
    version: str | None = None
    source_ip: str | None = None
    arrival_date: datetime | None = None
    original_mail_from: str | None = None
    original_rcpt_to: list[str] = field(default_factory=list)
    reported_domain: list[str] = field(default_factory=list)
    reported_uri: list[str] = field(default_factory=list)
    original: Message | None = None
    original_kind: str | None = None
    variant: str = Quirk.STANDARD
    flags: list[Flag] = field(default_factory=list)
    description: str | None = None  # the human-readable first part, trimmed
    fields: list[tuple[str, str]] = field(default_factory=list)  # every field of the report part

    def to_dict(self) -> dict[str, Any]:
        original = None
        if self.original is not None:
            original = {
                "headers": len(self.original.headers),
                "subject": self.original.decoded("subject"),
                "body_bytes": len(self.original.body),
            }
        return {
            "feedback_type": self.feedback_type,
            "user_agent": self.user_agent,
            "version": self.version,
            "source_ip": self.source_ip,
            "arrival_date": self.arrival_date.isoformat() if self.arrival_date else None,
            "original_mail_from": self.original_mail_from,
            "original_rcpt_to": list(self.original_rcpt_to),
            "reported_domain": list(self.reported_domain),
            "reported_uri": list(self.reported_uri),
            "original_kind": self.original_kind,
            "original": original,
            "variant": self.variant,
            "flags": [f.to_dict() for f in self.flags],
        }


def looks_like_arf(msg: Message) -> bool:
    """Cheap test: might this be a feedback report of a kind `parse_arf` reads?"""
    ctype = (msg.get("content-type") or "").lower()
    if "feedback-report" in ctype:
        return True
    if (msg.get("x-apple-unsubscribe") or "").strip().lower() == "true":
        return True
    head = msg.body[:_SNIFF_BYTES].lower()  # bytes.lower + `in` beat a case-blind regex 20x
    return any(marker in head for marker in _SNIFF_MARKERS) or (b"sender ip address" in head and b"dmarc" in head)


def parse_arf(msg: Message) -> Arf:
    """Read a feedback report. Raises `NotArf` with the reason when it is not one."""
    try:
        return _parse(msg)
    except NotArf:
        raise
    except Exception as exc:  # a safety net: the contract is NotArf or a result
        raise NotArf(f"unreadable feedback report ({type(exc).__name__})") from exc


def _parse(msg: Message) -> Arf:
    top_type, top_params = mime.parse_content_type(msg.get("content-type"))
    parts = list(mime.walk(msg, max_parts=MAX_PARTS, max_depth=MAX_DEPTH))
    report_at = next((i for i, p in enumerate(parts) if p.content_type == FEEDBACK_TYPE), None)
    if report_at is None:
        return _without_report_part(msg, parts, top_type, top_params)

    arf = Arf()
    if top_type != "multipart/report" or top_params.get("report-type", "").lower() != "feedback-report":
        _quirk(arf, Quirk.NOT_MULTIPART_REPORT, f"the report is {top_type} (report-type={top_params.get('report-type')!r}), not multipart/report; report-type=feedback-report")
    if b"\r" in msg.body and b"\n" not in msg.body:
        _quirk(arf, Quirk.CR_LINES, "the report uses CR-only line ends")
    report = parts[report_at]
    extra = sum(1 for p in parts[report_at + 1:] if p.content_type == FEEDBACK_TYPE)
    if extra:
        arf.flags.append(Flag("arf_many_reports", f"{extra + 1} message/feedback-report parts; only the first was read"))
    if (report.get("content-transfer-encoding") or "").strip().lower() == "base64":
        _quirk(arf, Quirk.BASE64_REPORT, "the message/feedback-report part is base64-encoded")
    arf.fields = _report_fields(report)
    if not arf.fields:
        raise NotArf("the message/feedback-report part holds no fields")
    if not any(name.lower() in ARF_FIELDS for name, _ in arf.fields):
        raise NotArf(f"the message/feedback-report part has no ARF fields (found {arf.fields[0][0][:40]!r}...)")
    _read_fields(arf)

    siblings = _siblings(parts, report_at)
    arf.description = _description(parts, report_at)
    _attach_original(arf, siblings)
    if arf.original is None:
        arf.flags.append(Flag("arf_no_original", "the report carries neither the original message nor its headers"))
    if arf.variant == Quirk.STANDARD:
        arf.variant = _provider(arf.user_agent) or Quirk.STANDARD
    return arf


def _report_fields(report: mime.Part) -> list[tuple[str, str]]:
    """The `Name: value` fields of the report part (folded lines joined)."""
    data = report.payload().lstrip(b"\r\n")
    if not data:
        # Some generators put the fields right after the part's MIME headers.
        return [(n, v) for n, v in report.headers if n.lower() not in ("content-type", "mime-version", "content-transfer-encoding", "content-disposition", "content-id")]
    try:
        fields = read_message(data).headers
    except Exception:
        return []
    return fields


def _read_fields(arf: Arf) -> None:
    def one(name: str) -> str | None:
        for n, v in arf.fields:
            if n.lower() == name:
                value = v.strip()
                return value or None
        return None

    def every(name: str) -> list[str]:
        return [v.strip() for n, v in arf.fields if n.lower() == name and v.strip()]

    ftype = one("feedback-type")
    arf.feedback_type = _COMMENT.sub("", ftype).strip().lower() or None if ftype else None
    if arf.feedback_type is None:
        arf.flags.append(Flag("arf_missing_field", "the report has no Feedback-Type"))
    elif arf.feedback_type not in FEEDBACK_TYPES:
        arf.flags.append(Flag("arf_unknown_type", f"unregistered Feedback-Type {arf.feedback_type[:40]!r}"))
    arf.user_agent = one("user-agent")
    arf.version = one("version")
    source = one("source-ip")
    if source is not None:
        arf.source_ip = _ip(source)
        if arf.source_ip is None:
            arf.flags.append(Flag("arf_bad_field", f"Source-IP is not an IP address: {source[:80]!r}"))
    date_text = one("arrival-date") or one("received-date")
    if date_text is not None:
        arf.arrival_date = _date(date_text, arf.flags)
    arf.original_mail_from = one("original-mail-from")
    arf.original_rcpt_to = every("original-rcpt-to")
    arf.reported_domain = every("reported-domain")
    arf.reported_uri = every("reported-uri")


def _siblings(parts: list[mime.Part], at: int) -> list[mime.Part]:
    """The parts beside the report part in its container: those after it first (RFC 5965
    puts the original third), then those before it (some generators reorder)."""
    depth = parts[at].depth
    after = []
    for part in parts[at + 1:]:
        if part.depth < depth:
            break
        if part.depth == depth:
            after.append(part)
    before = []
    for part in reversed(parts[:at]):
        if part.depth < depth:
            break
        if part.depth == depth:
            before.append(part)
    return after + before[::-1]


def _description(parts: list[mime.Part], at: int) -> str | None:
    depth = parts[at].depth
    for part in parts[:at]:
        if part.depth == depth and part.content_type == "text/plain":
            return part.text().strip()[:MAX_DESCRIPTION] or None
    return None


def _attach_original(arf: Arf, siblings: list[mime.Part]) -> None:
    for part in siblings:
        ctype = part.content_type
        if ctype in mime.MESSAGE_TYPES:
            arf.original, arf.original_kind = mime.embedded_message(part), "message"
        elif ctype in mime.HEADER_TYPES:
            if ctype == "text/rfc822-header":
                _quirk(arf, Quirk.MISSPELT_HEADERS, "the headers part is typed text/rfc822-header (misspelt)")
            elif ctype != _HEADERS_DUMP:
                _quirk(arf, Quirk.MESSAGE_HEADERS, f"the headers part is typed {ctype}, not {_HEADERS_DUMP}")
            arf.original, arf.original_kind = mime.embedded_message(part), "headers"
        else:
            continue
        if arf.original is None:
            arf.original_kind = None
            arf.flags.append(Flag("arf_bad_original", f"the {ctype} part does not hold a readable message"))
        return


def _without_report_part(msg: Message, parts: list[mime.Part], top_type: str, top_params: dict[str, str]) -> Arf:
    """The non-RFC 5965 shapes we accept, or NotArf with the reason."""
    for part in parts:
        if part.content_type in mime.MESSAGE_TYPES and part.depth == 1:
            inner = mime.embedded_message(part)
            if inner is not None and inner.get("x-hmxmroriginalrecipient"):
                return _hotmail(msg, inner)
    if (msg.get("x-apple-unsubscribe") or "").strip().lower() == "true":
        arf = Arf(feedback_type="opt-out", user_agent=msg.get("x-mailer"), variant=Quirk.APPLE_UNSUBSCRIBE)
        arf.description = next((p.text().strip()[:MAX_DESCRIPTION] for p in parts if p.content_type == "text/plain"), None)
        arf.flags.append(Flag("arf_quirk", "an Apple Mail unsubscribe request, read as an opt-out report without the original"))
        return arf
    for part in parts[:4]:
        if part.content_type == "text/plain":
            text = part.text()
            if "Sender IP Address" in text and "DMARC" in text:
                return _dmarc_text(text)
    report_type = top_params.get("report-type", "").lower()
    if top_type == "multipart/report" and report_type and report_type != "feedback-report":
        raise NotArf(f"a multipart/report of report-type={report_type}, not a feedback report")
    if top_type == "multipart/report":
        raise NotArf("multipart/report without a message/feedback-report part")
    raise NotArf(f"content type {top_type} and no message/feedback-report part: not a feedback report")


def _hotmail(msg: Message, inner: Message) -> Arf:
    arf = Arf(feedback_type="abuse", variant=Quirk.HOTMAIL, original=inner, original_kind="message")
    arf.flags.append(Flag("arf_quirk", "a Hotmail/Outlook JMRP complaint (multipart/mixed with the original only), read as an abuse report"))
    arf.original_rcpt_to = [v.strip() for v in inner.get_all("x-hmxmroriginalrecipient") if v.strip()]
    m = _JMRP_SUBJECT.search(msg.decoded("subject") or "")
    if m:
        arf.source_ip = _ip(m.group(1))
    if arf.source_ip is None:
        arf.flags.append(Flag("arf_missing_field", "no source IP in the complaint's Subject"))
    return arf


def _dmarc_text(text: str) -> Arf:
    arf = Arf(feedback_type="auth-failure", variant=Quirk.DMARC_TEXT)
    arf.flags.append(Flag("arf_quirk", "a plain-text DMARC failure report without a message/feedback-report part"))
    for m in _TEXT_FIELD.finditer(text):
        name, value = m.group(1).lower(), m.group(2)
        if name == "sender domain":
            arf.reported_domain.append(value)
        elif name == "sender ip address":
            arf.source_ip = arf.source_ip or _ip(value)
        elif arf.arrival_date is None:
            arf.arrival_date = _date(value, arf.flags)
    copy = _HEADERS_COPY.search(text)
    arf.description = (text[: copy.start()] if copy else text).strip()[:MAX_DESCRIPTION] or None
    if copy:
        try:
            arf.original = read_message(text[copy.end():].lstrip("\r\n").encode("utf-8", "surrogateescape"))
            arf.original_kind = "headers"
        except Exception:
            arf.original = None
    if arf.source_ip is None:
        raise NotArf("a plain-text DMARC report without a usable Sender IP Address")
    return arf


def _ip(text: str) -> str | None:
    value = _COMMENT.sub("", text).strip().strip("[]<>").strip()
    ip = parse_literal(value.split()[0]) if value else None
    return None if ip is None else str(ip)


def _date(text: str, flags: list[Flag]) -> datetime | None:
    try:
        when = parsedate_to_datetime(_COMMENT.sub("", text).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        flags.append(Flag("arf_bad_field", f"unreadable Arrival-Date: {text[:80]!r}"))
        return None
    if when.tzinfo is None:  # "-0000" (RFC 5322: UTC, local zone unknown) or an unknown zone name
        if not re.search(r"[-+]0000\b", text):
            flags.append(Flag("arf_date_zone", f"Arrival-Date has no usable time zone, read as UTC: {text[:80]!r}"))
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _provider(user_agent: str | None) -> str | None:
    ua = (user_agent or "").lower()
    return next((name for prefix, name in _PROVIDERS if ua.startswith(prefix)), None)


def _quirk(arf: Arf, name: str, detail: str) -> None:
    if arf.variant == Quirk.STANDARD:
        arf.variant = name
    arf.flags.append(Flag("arf_quirk", detail))
