"""Finding the spams inside a reporter's submission mail.

A reporter forwards spam *as attachment* (`message/rfc822`, SpamCop's rule), possibly several
per mail; each attachment becomes one report, byte for byte as it was attached. Mail programs
that do not know how also produce two common fallbacks, which are accepted but flagged:

    attachment   a `message/rfc822` part (decoded if a client wrongly base64-encoded it)
    eml_file     any other part whose file name ends in .eml and that parses as mail
    headers      a `text/rfc822-headers` part (headers only, no body)
    inline       no attachment; the text body holds a "Forwarded message" block that starts
                 with the original header lines (Thunderbird, Gmail, Apple Mail, Outlook)

`feedback_reports(raw)` finds ARF reports (RFC 5965) in a mail sent to a feedback-loop address:
the mail itself, or each attached report.

`extract_spams(raw)` walks the MIME tree on the raw bytes (never re-serialising a part, so the
sha256 of an attachment is the sha256 of what the reporter attached) and raises `NoSpamAttached`
with a text telling the reporter how to forward properly when it finds nothing.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.utils
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mailrep.errors import BadInput, NotMail
from mailrep.trace.message import Flag, Message, read_message

MAX_DEPTH = 8
MAX_SPAMS = 100

HOW_TO_FORWARD = (
    "no spam found: forward each spam AS AN ATTACHMENT (message/rfc822) with its full "
    "headers; in most mail programs: select the message, then 'Forward as attachment'"
)


class NoSpamAttached(BadInput):
    """No spam attached: forward each spam as an attachment (message/rfc822) with full headers."""

    code = "no_spam_attached"


@dataclass(frozen=True, slots=True)
class Extracted:
    """One spam found in a submission: its raw bytes, how it was found, and flags."""

    raw: bytes
    how: str
    flags: tuple[Flag, ...] = ()


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SIMPLE_TYPE = re.compile(rf"\s*({_TOKEN})\s*/\s*({_TOKEN})\s*(?=;|$)")
_SIMPLE_PARAM = re.compile(rf';\s*({_TOKEN})\s*=\s*("(?:[^"\\\\]|\\\\.)*"|[^;\s"]*)\s*')


def content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """`text/plain; charset=x` -> ("text/plain", {"charset": "x"}); default text/plain.

    Plain values take a fast path; RFC 2231 parameters (`name*=...`) and anything odd go to the
    standard library's parser, which is slow but lenient.
    """
    if not value:
        return "text/plain", {}
    m = _SIMPLE_TYPE.match(value)
    if m is not None and "*" not in value[m.end():]:
        params: dict[str, str] = {}
        pos = m.end()
        while pos < len(value):
            pm = _SIMPLE_PARAM.match(value, pos)
            if pm is None:
                break
            val = pm.group(2)
            if val.startswith('"'):
                val = re.sub(r"\\(.)", r"\1", val[1:-1])
            params[pm.group(1).lower()] = val  # the last one wins, as in the standard library
            pos = pm.end()
        else:
            return f"{m.group(1)}/{m.group(2)}".lower(), params
    return _content_type_stdlib(value)


def _content_type_stdlib(value: str) -> tuple[str, dict[str, str]]:
    msg = email.message.Message()
    msg["Content-Type"] = value
    params: dict[str, str] = {}
    for key, val in (msg.get_params() or [])[1:]:
        if isinstance(val, tuple):  # RFC 2231 encoded value
            val = email.utils.collapse_rfc2231_value(val)
        params[key.lower()] = str(val)
    return msg.get_content_type(), params


def filename(msg: Message) -> str:
    for header in ("Content-Disposition", "Content-Type"):
        rest = (msg.get(header) or "").partition(";")[2]
        if "name" not in rest.lower():
            continue
        _, params = content_type("x/x; " + rest)
        name = params.get("filename") or params.get("name")
        if name:
            return name
    return ""


def decode_transfer(msg: Message, body: bytes) -> tuple[bytes, str | None]:
    """The body with its Content-Transfer-Encoding undone; the encoding if there was one."""
    cte = (msg.get("Content-Transfer-Encoding") or "").strip().lower()
    if cte == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body)), cte
        except (binascii.Error, ValueError):
            return body, None
    if cte == "quoted-printable":
        return quopri.decodestring(body), cte
    return body, None


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between `--boundary` delimiter lines (RFC 2046 5.1.1); preamble and epilogue dropped.

    A delimiter starts a line, may be followed by spaces or tabs, and owns the line break
    before it. Byte searching, not a regex: every mail has its own boundary, and compiling a
    pattern per mail cost more than the rest of the extraction.
    """
    dash = b"--" + boundary.encode("utf-8", "surrogateescape")
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    while (i := body.find(dash, pos)) >= 0:
        pos = i + 1
        if i == 0:
            cut = 0
        elif body[i - 1] == 0x0A:  # \n
            cut = i - 2 if i >= 2 and body[i - 2] == 0x0D else i - 1
        else:
            continue
        k = i + len(dash)
        close = body[k:k + 2] == b"--"
        end = k + 2 if close else k
        while end < len(body) and body[end] in (0x20, 0x09):
            end += 1
        if end < len(body) and not (body[end] == 0x0A or body[end:end + 2] == b"\r\n"):
            continue  # "--bx", "--b--x", "--b\r": not a delimiter line
        if start is not None:
            parts.append(body[start:cut])
        if close:
            return parts
        nl = body.find(b"\n", end)
        start = len(body) if nl < 0 else nl + 1
        pos = max(pos, end)
    if start is not None:  # no close delimiter: keep what we have
        parts.append(body[start:])
    return parts


def _part(raw: bytes) -> tuple[Message, bytes]:
    """A MIME part's headers and body. Parts may have no headers at all (text/plain default)."""
    if raw.startswith((b"\r\n", b"\n")):
        return Message(headers=[], body=raw[2 if raw.startswith(b"\r\n") else 1 :]), raw
    try:
        msg = read_message(raw)
    except NotMail:
        return Message(headers=[], body=raw), raw
    return msg, msg.body


def _looks_like_mail(raw: bytes) -> bool:
    try:
        msg = read_message(raw)
    except NotMail:
        return False
    names = {n.lower() for n, _ in msg.headers}
    return bool(names & {"received", "from", "message-id", "return-path"}) and len(names) >= 2


@dataclass(slots=True)
class Extraction:
    """What a submission carries: the spams read (at most MAX_SPAMS), how many more were
    attached and left unread, and whether parts nested deeper than MAX_DEPTH were skipped."""

    spams: list[Extracted] = field(default_factory=list)
    over: int = 0
    too_deep: bool = False
    texts: list[bytes] = field(default_factory=list)

    def add(self, spam: Extracted) -> None:
        if len(self.spams) < MAX_SPAMS:
            self.spams.append(spam)
        else:
            self.over += 1


def _walk(msg: Message, body: bytes, depth: int, found: Extraction) -> None:
    ctype, params = content_type(msg.get("Content-Type"))
    if ctype.startswith("multipart/"):
        if depth >= MAX_DEPTH:
            found.too_deep = True
            return
        boundary = params.get("boundary")
        if not boundary:
            return
        for raw_part in split_multipart(body, boundary):
            part, part_body = _part(raw_part)
            _walk(part, part_body, depth + 1, found)
        return
    if ctype in ("message/rfc822", "message/global"):
        inner, cte = decode_transfer(msg, body)
        flags = (Flag("attachment_encoded", f"the attached message was {cte}-encoded"),) if cte else ()
        if inner.strip():
            found.add(Extracted(inner, "attachment", flags))
        return
    if ctype == "text/rfc822-headers":
        inner, _ = decode_transfer(msg, body)
        if _looks_like_mail(inner + b"\n\n"):
            found.add(Extracted(inner.rstrip(b"\r\n") + b"\n\n", "headers",
                                (Flag("headers_only", "only the headers of the spam were attached"),)))
        return
    if filename(msg).lower().endswith(".eml"):
        inner, _ = decode_transfer(msg, body)
        if _looks_like_mail(inner):
            found.add(Extracted(inner, "eml_file",
                                (Flag("eml_file", f"spam attached as a file ({ctype}), not as message/rfc822"),)))
        return
    if ctype == "text/plain" and "attachment" not in (msg.get("Content-Disposition") or "").lower():
        found.texts.append(decode_transfer(msg, body)[0])


# Lines that introduce a forwarded message in the body of common mail programs.
_FORWARD_MARKER = re.compile(
    rb"^[ \t>]*(?:-{2,}[ \t]*(?:Original Message|Forwarded [Mm]essage|Weitergeleitete Nachricht|"
    rb"Message transf\xc3\xa9r\xc3\xa9|Mensaje reenviado)[ \t]*-{2,}|Begin forwarded message:)[ \t]*\r?$",
    re.M,
)
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")


def _unquote(block: bytes) -> bytes:
    head = block[:4096].splitlines()[:5]
    if head and all(line.startswith(b">") or not line.strip() for line in head):
        return re.sub(rb"(?m)^> ?", b"", block)
    return block


MAX_MARKERS = 10
"""Forward markers looked at in one text part: each candidate is a copy of the rest of the text,
so a hostile mail with thousands of them would cost memory and time without end."""


def _candidates(text: bytes) -> Iterator[tuple[bytes, str]]:
    for k, m in enumerate(_FORWARD_MARKER.finditer(text)):
        if k >= MAX_MARKERS:
            break
        yield _unquote(text[m.end():].lstrip(b"\r\n")), "after a forward marker"
    yield text.lstrip(b"\r\n \t"), "pasted as the text body"


def inline_forward(text: bytes) -> Extracted | None:
    """The message in a 'Forwarded message' block (or pasted at the top), or None."""
    for block, where in _candidates(text):
        first = block.split(b"\n", 1)[0]
        if not _HEADER_LINE.match(first) or not _looks_like_mail(block):
            continue
        msg = read_message(block)
        names = {n.lower() for n, _ in msg.headers}
        if "received" not in names and where != "after a forward marker":
            continue
        detail = f"spam forwarded inline ({where}), not as an attachment: headers may be incomplete"
        return Extracted(block, "inline", (Flag("inline_forward", detail),))
    return None


def extract(raw: bytes) -> Extraction:
    """The spams in a submission, in order, and what was left unread. Raises `NoSpamAttached`
    (naming the nesting limit when that is why nothing was found) or `NotMail`."""
    top = read_message(raw)
    found = Extraction()
    _walk(top, top.body, 0, found)
    if found.spams:
        return found
    for text in found.texts:
        got = inline_forward(text)
        if got is not None:
            found.spams.append(got)
            return found
    if found.too_deep:
        raise NoSpamAttached(f"no spam found within {MAX_DEPTH} levels of MIME nesting; deeper parts are "
                             "not read: forward each spam AS AN ATTACHMENT (message/rfc822) of the mail itself")
    raise NoSpamAttached(HOW_TO_FORWARD)


def extract_spams(raw: bytes) -> list[Extracted]:
    """Every spam in a submission (at most MAX_SPAMS), in order. Raises like `extract`."""
    return extract(raw).spams


class NoFeedbackReport(NoSpamAttached):
    """No feedback report found: send one ARF report (multipart/report; report-type=feedback-report) per mail or attach each."""

    code = "no_feedback_report"


def feedback_reports(raw: bytes) -> list[bytes]:
    """The feedback reports in a mail to a feedback address: each attached report (a digest), or
    the mail itself.

    A report is whatever the trace engine's ARF reader accepts (RFC 5965 and the provider
    variants it knows); each one becomes a report of channel `fbl`.
    """
    try:
        attached = [e.raw for e in extract_spams(raw) if e.how in ("attachment", "eml_file")]
    except NoSpamAttached:
        attached = []
    reports = [inner for inner in attached if is_feedback_report(inner)]
    if len(reports) < 2 and is_feedback_report(raw):  # one report, maybe forwarded: read it whole
        return [raw]
    if not reports:
        raise NoFeedbackReport(
            "no feedback report found: send ARF (RFC 5965, multipart/report; "
            "report-type=feedback-report), one per mail or each as a message/rfc822 attachment")
    return reports


def is_feedback_report(raw: bytes) -> bool:
    try:
        msg = read_message(raw)
    except NotMail:
        return False
    try:
        from mailrep.trace.arf import NotArf, looks_like_arf, parse_arf
    except ImportError:  # without the trace engine's reader: the RFC 5965 content type only
        ctype, params = content_type(msg.get("Content-Type"))
        return ctype == "multipart/report" and params.get("report-type", "").lower() == "feedback-report"
    if not looks_like_arf(msg):
        return False
    try:
        parse_arf(msg)
    except NotArf:
        return False
    return True
