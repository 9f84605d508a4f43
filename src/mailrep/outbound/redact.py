"""RFC 6590 redaction of a reported spam, pure: what the reporter's side added goes, what the
spammer sent stays.

    redacted = redact(raw, trace)          # bytes, CRLF line ends

Removed, in this order:
1. The trusted part of the header block: every field above and including the Received
   header the reporter's last trusted relay wrote (the one naming the traced source), so
   their relays' Received lines, Delivered-To, X-Original-To, Authentication-Results and
   spam-filter stamps go with it. Return-Path (the spammer's envelope sender) is kept.
2. The reporter's addresses, found in the recipient headers (To, Cc, Delivered-To, ...) and
   in the removed Received lines' `for <...>` clauses: the local part becomes `redacted`
   everywhere (headers and every text part, plain or %-encoded).
3. The reporter's relay names (the `by` of the removed Received lines, the names of trusted
   hops) become `redacted.invalid` wherever they still occur.
4. Tracking tokens in URLs (path segments, query values and fragments that look like unique
   ids, or carry an address) become `redacted`; the host stays, so the URL still says where
   it points.
Text parts are decoded (base64, quoted-printable, charset), redacted and re-encoded the same
way; other parts are left alone.
"""

from __future__ import annotations

import base64
import email
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy as email_policy
from email.utils import getaddresses
from urllib.parse import quote

from mailrep.trace.hop import HopKind
from mailrep.trace.trace import Trace

REDACTED = "redacted"
REDACTED_HOST = "redacted.invalid"
RECIPIENT_HEADERS = frozenset({
    "to", "cc", "bcc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to",
    "x-rcpt-to", "apparently-to", "x-apparently-to", "x-delivered-to", "original-recipient",
})
KEEP_FROM_TRUSTED = frozenset({"return-path"})
TOKEN_MIN = 12  # a path segment this long with letters and digits is an id, not a word
VALUE_MIN = 6  # a query value this long with letters and digits is an id
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.M)
_FOR = re.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+?)>?(?=[\s;]|$)", re.I)
_BY = re.compile(r"\bby\s+([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})", re.I)
_URL = re.compile(r"https?://[^\s\"'<>()\[\]]+", re.I)
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-=.%+~]+$")


@dataclass(frozen=True, slots=True)
class Secrets:
    """What must not leave: the reporter's addresses and their relays' names."""

    addresses: tuple[str, ...]
    hosts: tuple[str, ...]


def _split(raw: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its continuation lines, line ends normalised to CRLF) and body."""
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    end = raw.find(b"\r\n\r\n")
    head, body = (raw, b"") if end < 0 else (raw[: end + 2], raw[end + 4:])
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields, body


def _name(field: bytes) -> str:
    m = _FIELD.match(field)
    return m.group(1).decode("ascii").lower() if m else ""


def _value(field: bytes) -> str:
    return field.split(b":", 1)[1].decode("utf-8", "surrogateescape") if b":" in field else ""


def _cut(fields: list[bytes], trace: Trace) -> int:
    """How many header fields the reporter's side wrote: up to the Received line of the
    deepest trusted hop or of the source hop, whichever is lower; 0 when none."""
    positions = [h.position for i, h in enumerate(trace.hops)
                 if h.kind == HopKind.RECEIVED and h.position >= 0 and (h.trusted or i == trace.source_hop)]
    if not positions:
        return 0
    deepest, seen = max(positions), -1
    for k, f in enumerate(fields):
        if _name(f) == "received":
            seen += 1
            if seen == deepest:
                return k + 1
    return 0


def secrets_of(raw: bytes, trace: Trace, extra_addresses: Iterable[str] = ()) -> Secrets:
    fields, _ = _split(raw)
    cut = _cut(fields, trace)
    addrs = {a.strip().lower() for a in extra_addresses if "@" in a}
    hosts: set[str] = set()
    for f in fields:
        if _name(f) in RECIPIENT_HEADERS:
            addrs.update(a.lower() for _, a in getaddresses([_value(f)]) if "@" in a)
    for f in fields[:cut]:
        if _name(f) == "received":
            value = _value(f)
            addrs.update(m.group(1).lower() for m in _FOR.finditer(value))
            hosts.update(m.group(1).lower().rstrip(".") for m in _BY.finditer(value))
    for i, hop in enumerate(trace.hops):
        if hop.trusted:
            hosts.update(n.lower() for n in (hop.relay.rdns, hop.relay.helo, hop.relay.by) if "." in n)
        elif i == trace.source_hop and "." in hop.relay.by:
            hosts.add(hop.relay.by.lower())
    spammer = {n.lower() for n in trace.source.names()} if trace.source is not None else set()
    return Secrets(tuple(sorted(addrs, key=len, reverse=True)),
                   tuple(sorted(hosts - spammer, key=len, reverse=True)))


def _tokenish(text: str, minimum: int) -> bool:
    return (len(text) >= minimum and bool(_TOKENISH.match(text))
            and any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


def redact_url(url: str) -> str:
    """The URL with tracking tokens replaced (host kept)."""
    m = re.match(r"(?i)(https?://[^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$", url)
    if m is None:
        return url
    origin, path, query, frag = m.group(1), m.group(2), m.group(3) or "", m.group(4) or ""
    path = "/".join(REDACTED if _tokenish(seg, TOKEN_MIN) else seg for seg in path.split("/"))
    if query:
        parts = []
        for pair in query[1:].split("&"):
            key, eq, val = pair.partition("=")
            if eq and (_tokenish(val, VALUE_MIN) or "@" in val or "%40" in val.lower()):
                val = REDACTED
            elif not eq and _tokenish(key, VALUE_MIN):
                key = REDACTED
            parts.append(key + eq + val)
        query = "?" + "&".join(parts)
    if frag and _tokenish(frag[1:], VALUE_MIN):
        frag = "#" + REDACTED
    return origin + path + query + frag


def scrub(text: str, secrets: Secrets) -> str:
    """`text` without the secrets and the URLs' tracking tokens."""
    for addr in secrets.addresses:
        domain = addr.rpartition("@")[2]
        text = re.sub(re.escape(addr), f"{REDACTED}@{domain}", text, flags=re.I)
        text = re.sub(re.escape(quote(addr, safe="")), f"{REDACTED}%40{domain}", text, flags=re.I)
    for host in secrets.hosts:
        text = re.sub(rf"(?<![A-Za-z0-9.-]){re.escape(host)}(?![A-Za-z0-9-])", REDACTED_HOST, text, flags=re.I)
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def _scrub_parts(body_msg: email.message.Message, secrets: Secrets) -> None:
    for part in body_msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "surrogateescape")
        except LookupError:
            charset = "utf-8"
            text = payload.decode(charset, "surrogateescape")
        new = scrub(text, secrets)
        if new == text:
            continue
        data = new.encode(charset, "surrogateescape")
        cte = (part.get("Content-Transfer-Encoding") or "").strip().lower()
        if cte == "base64":
            part.set_payload(base64.encodebytes(data).decode("ascii"))
        elif cte == "quoted-printable":
            part.set_payload(quopri.encodestring(data).decode("ascii"))
        else:
            part.set_payload(data.decode("ascii", "surrogateescape"))


def redact(raw: bytes, trace: Trace, *, extra_addresses: Iterable[str] = ()) -> bytes:
    """The message as it may be shown to the network owner (RFC 6590), CRLF line ends."""
    secrets = secrets_of(raw, trace, extra_addresses)
    fields, body = _split(raw)
    cut = _cut(fields, trace)
    kept = [f for k, f in enumerate(fields) if k >= cut or _name(f) in KEEP_FROM_TRUSTED]
    head = scrub(b"\r\n".join(kept).decode("utf-8", "surrogateescape"), secrets)
    whole = head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body
    msg = email.message_from_bytes(whole, policy=email_policy.compat32)
    if msg.is_multipart() or msg.get_content_maintype() == "text":
        _scrub_parts(msg, secrets)
        body = msg.as_bytes(policy=email_policy.compat32.clone(linesep="\r\n", max_line_length=0)).split(b"\r\n\r\n", 1)[-1]
    return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + re.sub(rb"\r?\n", b"\r\n", body)
