"""Walking the MIME tree of a `Message`: parts, transfer decoding, charsets, text extraction.

A small, forgiving reader written for spam, not for mail composition:

- `walk(msg)` yields every `Part` depth first (multipart containers, leaves, and the parts of
  embedded `message/rfc822` messages), with its raw body still transfer-encoded.
- `Part.payload()` undoes base64 / quoted-printable without ever raising; `Part.text()`
  decodes the charset, repairing unknown or broken ones (UTF-8, then Latin-1).
- `texts(msg)` yields the decoded text of the `text/plain` and `text/html` parts (and other
  readable `text/*` parts as plain text), within caps on parts, depth and decoded bytes.

Repairs: a multipart whose declared boundary never occurs is split on the first `--token`
line instead (or read as one text part); a missing close delimiter ends at the end of the
body; parts without headers default to text/plain (message/rfc822 in a digest).

Nothing here raises on malformed input: what had to be cut or repaired can be reported as
`Flag`s (`mime_parts_cut`, `mime_depth_cut`, `mime_text_cut`, `mime_bad_boundary`) into a
list the caller passes in. The stdlib `email` package is not used: it is
several times slower on large messages and raises on hostile ones.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from mailrep.trace.message import Flag, Message, decode_line, read_message

MAX_PARTS = 100
MAX_DEPTH = 8
MAX_TEXT_BYTES = 1 << 20  # decoded text per message, over all parts
MAX_PART_HEADER_BYTES = 64 * 1024


class Kind:
    """What `texts()` says a text part is."""

    PLAIN = "plain"
    HTML = "html"


# Content types that are headers rather than readable text (RFC 5965 and a common misspelling).
HEADER_TYPES = frozenset({"text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers"})
MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})

_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
_LEADING_EOL = re.compile(rb"\A(?:\r\n|\n|\r)")
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)", re.S)
_PARAM = re.compile(r';\s*([^\s=;"]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.S)
_B64_JUNK = bytes(c for c in range(256) if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"+/="))
_GUESS_BOUNDARY = re.compile(rb"(?:\A|\r\n|\n|\r)--([\x21-\x7e][\x20-\x7e]{0,69}?)[ \t]*(?:\r\n|\n|\r)")

# Charset names seen in the wild that Python does not know, or knows under another name.
_CHARSET_ALIASES = {
    "unicode-1-1-utf-7": "utf-7",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "gb2312": "gbk",
    "x-gbk": "gbk",
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "unicode": "utf-16",
    "utf8": "utf-8",
}
_UNKNOWN_CHARSETS = frozenset({"", "x-unknown", "unknown", "default", "x-user-defined", "us-ascii", "ascii"})


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """`type/subtype` in lower case (text/plain when missing or unreadable) and the parameters."""
    if not value:
        return "text/plain", {}
    head, _, rest = value.partition(";")
    ctype = head.strip().lower()
    if "/" not in ctype:
        ctype = "text/plain"
    else:
        major, _, minor = ctype.partition("/")
        ctype = f"{major.strip()}/{minor.strip()}"
    params: dict[str, str] = {}
    if rest:
        for m in _PARAM.finditer(";" + rest):
            key = m.group(1).lower()
            val = m.group(2).strip()
            if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
                val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if "*" in key:  # RFC 2231: keep the first section, drop charset'lang' and %-escapes
                key, _, section = key.partition("*")
                section = section.rstrip("*")
                if section not in ("", "0"):
                    continue
                if m.group(1).endswith("*") and val.count("'") >= 2:
                    val = unquote(val.split("'", 2)[2], errors="replace")
            params.setdefault(key, val)
    return ctype, params


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Transfer-Encoding. Unknown encodings pass through; nothing raises."""
    enc = (encoding or "").strip().lower()
    if enc == "base64":
        return decode_base64(data)
    if enc == "quoted-printable":
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
    return data


def decode_base64(data: bytes) -> bytes:
    """Forgiving base64: junk characters are skipped and missing padding is supplied."""
    clean = data.translate(None, _B64_JUNK)
    cut = clean.find(b"=")
    if cut >= 0:
        clean = clean[:cut]
    extra = len(clean) % 4
    if extra == 1:
        clean = clean[:-1]
    elif extra:
        clean += b"=" * (4 - extra)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def decode_charset(data: bytes, charset: str | None) -> str:
    """Bytes to text in the declared charset; unknown or broken charsets fall back to
    UTF-8 and then Latin-1, so this never raises."""
    name = (charset or "").strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if name and name not in _UNKNOWN_CHARSETS and name not in ("utf-8", "utf_8"):
        try:
            return data.decode(name, "replace")
        except Exception:  # LookupError, or a codec that fails even with 'replace'
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if name in ("utf-8", "utf_8"):
            return data.decode("utf-8", "replace")
        return data.decode("latin-1")


@dataclass(slots=True)
class Part:
    """One MIME entity: its headers, its raw (still transfer-encoded) body, its type."""

    headers: list[tuple[str, str]]
    body: bytes
    content_type: str
    params: dict[str, str]
    depth: int = 0

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        size = len(key)
        for n, v in self.headers:
            if len(n) == size and n.lower() == key:  # the length first: most names differ
                return v
        return default

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")

    def payload(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone."""
        return decode_transfer(self.body, self.get("content-transfer-encoding"))

    def text(self) -> str:
        return decode_charset(self.payload(), self.charset)


def part_of(message: Message, depth: int = 0) -> Part:
    """The top-level entity of a message."""
    ctype, params = parse_content_type(message.get("content-type"))
    return Part(message.headers, message.body, ctype, params, depth)


def parse_part(raw: bytes, depth: int = 0, default_type: str = "text/plain") -> Part:
    """A body part: header lines up to the first blank line, then the body.
    A part whose first line is not a header has no headers (its text is all body)."""
    if raw[:1] in (b"\r", b"\n"):  # a blank first line: no headers at all
        return Part([], _LEADING_EOL.sub(b"", raw, count=1), default_type, {}, depth)
    m = _BLANK_LINE.search(raw, 0, MAX_PART_HEADER_BYTES)
    if m is not None:
        head, body, tail = raw[: m.start()], raw[m.end():], b"\n\n" + raw[m.end():]
    else:  # no blank line: all headers, or (more likely) all body; never split megabytes
        head, body = raw[:MAX_PART_HEADER_BYTES], b""
        tail = raw[MAX_PART_HEADER_BYTES:]
    headers: list[tuple[str, str]] = []
    lines = _LINE_SPLIT.split(head) if head else []
    for i, line in enumerate(lines):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {decode_line(line).strip()}".strip())
            continue
        fm = _FIELD.fullmatch(line)
        if fm is None:
            body = b"\n".join(lines[i:]) + tail
            break
        headers.append((fm.group(1).decode("ascii"), decode_line(fm.group(2)).strip()))
    if headers:
        ctype, params = parse_content_type(_header(headers, "content-type"))
        if _header(headers, "content-type") is None:
            ctype = default_type
    else:
        ctype, params = default_type, {}
    return Part(headers, body, ctype, params, depth)


def split_multipart(body: bytes, boundary: str, limit: int = MAX_PARTS) -> list[bytes]:
    """The raw entities between the boundary lines (preamble and epilogue dropped), at most
    `limit` of them. A missing close delimiter ends the last part at the end of the body."""
    if not boundary:
        return []
    delim = b"--" + boundary.encode("utf-8", "surrogateescape")
    size = len(body)
    chunks: list[bytes] = []
    start: int | None = None
    # bytes.find, not a regex: a pattern per boundary costs more to compile than to run.
    at = body.find(delim)
    while at >= 0:
        end = at + len(delim)
        closing = body.startswith(b"--", end)
        if closing:
            end += 2
        while end < size and body[end] in (32, 9):
            end += 1
        # A delimiter starts a line and ends one; the line end before it belongs to it.
        if (at == 0 or body[at - 1] in (10, 13)) and (end == size or body[end] in (10, 13)):
            if start is not None:
                chunk = body[start:at]
                chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk[:-1] if chunk[-1:] in (b"\n", b"\r") else chunk
                chunks.append(_LEADING_EOL.sub(b"", chunk, count=1))
            if closing or len(chunks) >= limit:
                return chunks
            start = end
        at = body.find(delim, at + 1)
    if start is not None:
        chunks.append(_LEADING_EOL.sub(b"", body[start:], count=1))
    return chunks


def guess_boundary(body: bytes) -> str | None:
    """For a multipart without a boundary parameter: the first `--token` line, if any."""
    m = _GUESS_BOUNDARY.search(body, 0, 8192)
    return m.group(1).decode("latin-1") if m else None


def embedded_message(part: Part) -> Message | None:
    """The message inside a message/rfc822 part (or a headers-only part), or None."""
    data = part.payload()
    if not data.strip():
        return None
    try:
        return read_message(data)
    except Exception:  # NotMail, or anything a hostile body provokes
        return None


def walk(
    msg: Message,
    *,
    max_parts: int = MAX_PARTS,
    max_depth: int = MAX_DEPTH,
    flags: list[Flag] | None = None,
) -> Iterator[Part]:
    """Every entity of the message, depth first, the top-level one first. Parts of an
    embedded message/rfc822 follow the part that holds it, one level deeper."""
    count = 0
    stack: list[Part] = [part_of(msg)]
    while stack:
        part = stack.pop()
        count += 1
        if count > max_parts:
            _flag(flags, "mime_parts_cut", f"more than {max_parts} MIME parts; the rest were not read")
            return
        yield part
        children: list[Part] = []
        if part.is_multipart:
            if part.depth >= max_depth:
                _flag(flags, "mime_depth_cut", f"MIME nesting deeper than {max_depth}; inner parts were not read")
                continue
            boundary = part.params.get("boundary") or guess_boundary(part.body)
            default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
            raws = split_multipart(part.body, boundary or "", max_parts - count + 1)
            if not raws:  # the declared boundary never occurs: guess, else read the body as text
                guess = guess_boundary(part.body)
                raws = split_multipart(part.body, guess, max_parts - count + 1) if guess and guess != boundary else []
                _flag(flags, "mime_bad_boundary", f"{part.content_type} whose boundary {boundary!r} never occurs")
                if not raws:
                    children = [Part([], part.body, "text/plain", {}, part.depth + 1)]
            if raws:
                children = [parse_part(raw, part.depth + 1, default) for raw in raws]
        elif part.content_type in MESSAGE_TYPES:
            if part.depth >= max_depth:
                _flag(flags, "mime_depth_cut", f"MIME nesting deeper than {max_depth}; inner parts were not read")
                continue
            inner = embedded_message(part)
            if inner is not None:
                children = [part_of(inner, part.depth + 1)]
        stack.extend(reversed(children))


def texts(
    msg: Message,
    *,
    max_parts: int = MAX_PARTS,
    max_bytes: int = MAX_TEXT_BYTES,
    flags: list[Flag] | None = None,
) -> Iterator[tuple[str, str]]:
    """(`Kind.PLAIN` | `Kind.HTML`, decoded text) for each readable text part, in order.
    Attachments with a non-text type, header dumps and containers are skipped. At most
    `max_bytes` of decoded text over the whole message; a part that overflows is cut."""
    budget = max_bytes
    try:
        for part in walk(msg, max_parts=max_parts, flags=flags):
            ctype = part.content_type
            if not ctype.startswith("text/") or ctype in HEADER_TYPES:
                continue
            if budget <= 0:
                _flag(flags, "mime_text_cut", f"more than {max_bytes} bytes of text; the rest was not read")
                return
            # Encoded text is at most 3x its decoded size (QP): decode no more than can be kept.
            data = decode_transfer(part.body[: budget * 3 + 1024], part.get("content-transfer-encoding"))
            if len(data) > budget:
                data = data[:budget]
                _flag(flags, "mime_text_cut", f"more than {max_bytes} bytes of text; the rest was not read")
            budget -= len(data)
            kind = Kind.HTML if ctype in ("text/html", "text/xhtml") else Kind.PLAIN
            yield kind, decode_charset(data, part.charset)
    except Exception as exc:  # a safety net: hostile MIME must never stop a trace
        _flag(flags, "mime_error", f"MIME walk stopped: {type(exc).__name__}")


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def _flag(flags: list[Flag] | None, code: str, detail: str) -> None:
    if flags is not None and not any(f.code == code for f in flags):
        flags.append(Flag(code, detail))
