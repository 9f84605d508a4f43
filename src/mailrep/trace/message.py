"""Reading raw RFC 5322 bytes as they arrive: any line ends, mbox `From ` lines, folding.

`read_message(raw)` splits the header block from the body, unfolds headers, decodes each
header as UTF-8 (falling back to Latin-1 byte for byte, so broken charsets never raise) and
caps what it reads. Everything it had to cut or repair is recorded as a `Flag`.
It raises `NotMail` for input that has no header block at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header

from mailrep.errors import NotMail

MAX_HEADER_BYTES = 256 * 1024
MAX_RECEIVED = 100

_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
# A field line starts with its name and a colon; its value runs to the first line end that is
# not followed by a space or tab (continuation lines). Unfolding replaces every line end and
# the blanks around it by one space. All single-character repeats: linear, and fast in sre.
_FIELD_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
# ... and with its value, which runs to the first line end that is not followed by a blank:
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:([^\n]*+(?:\n[ \t][^\n]*+)*+)")
_FOLD = re.compile(rb"[ \t]*\n[ \t\n]*")


@dataclass(frozen=True, slots=True)
class Flag:
    """Something noteworthy found while tracing: a cut, a repair, a suspected forgery."""

    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(slots=True)
class Message:
    """A parsed message: headers in order (name, unfolded value), the body, and flags."""

    headers: list[tuple[str, str]]
    body: bytes
    flags: list[Flag] = field(default_factory=list)
    mbox_from: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        size = len(key)
        for n, v in self.headers:
            if len(n) == size and n.lower() == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        size = len(key)
        return [v for n, v in self.headers if len(n) == size and n.lower() == key]

    def decoded(self, name: str) -> str | None:
        """The header with RFC 2047 encoded words decoded (never raises)."""
        value = self.get(name)
        return None if value is None else decode_words(value)

    def header_bytes(self) -> bytes:
        """The header block re-serialised with LF line ends (unfolded)."""
        return "".join(f"{n}: {v}\n" for n, v in self.headers).encode("utf-8", "surrogateescape")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; unknown charsets and bad encodings degrade to text."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # email.header raises a zoo of errors on hostile input
        return value


def decode_line(line: bytes) -> str:
    """A header line as text: UTF-8, else Latin-1 (which never fails)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def read_message(raw: bytes | str) -> Message:
    """Parse raw message bytes. Raises `NotMail` when there is no header block.

    The header block is scanned field by field (name, then the end of its continuation lines)
    with linear regexes, so the cost per line is C code, whatever the folding."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    flags: list[Flag] = []
    # Find the end of the header block on the raw bytes first, so a huge body costs nothing.
    m = _header_end(raw, MAX_HEADER_BYTES + 4)
    if m is None:
        if len(raw) > MAX_HEADER_BYTES:
            head, body = raw[:MAX_HEADER_BYTES], b""
            flags.append(Flag("header_cut", f"header block longer than {MAX_HEADER_BYTES} bytes; the rest was not read"))
        else:
            head, body = raw, b""
    else:
        head, body = raw[: m.start()], raw[m.end():]
    text = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in head else head

    pos = 0
    mbox_from = None
    if text.startswith(b"From ") and not _FIELD_NAME.match(text):
        end = _line_end(text, 0)
        mbox_from = decode_line(text[5:end])
        pos = end + 1
    while text.startswith(b">From ", pos):
        pos = _line_end(text, pos) + 1

    headers: list[tuple[str, str]] = []
    garbage_at = -1
    size = len(text)
    while pos < size:
        fm = _FIELD.match(text, pos)
        if fm is None:
            end = _line_end(text, pos)
            line = text[pos:end]
            # blank lines, and indented lines before the first field, are tolerated
            if line.strip() and not (not headers and line[:1] in (b" ", b"\t")):
                garbage_at = pos
                break
            pos = end + 1
            continue
        name, value = fm.group(1, 2)
        if b"\n" in value:
            value = _FOLD.sub(b" ", value)
        try:  # decode_line, inline: this runs for every header of every message
            text_value = value.decode("utf-8")
        except UnicodeDecodeError:
            text_value = value.decode("latin-1")
        headers.append((name.decode("ascii"), text_value.strip()))
        pos = fm.end() + 1

    if not headers:
        raise NotMail("not an e-mail message: no header block found (expected 'Name: value' lines)")
    if b"\x00" in head:
        flags.append(Flag("nul_bytes", "the header block contains NUL bytes"))
    if garbage_at >= 0:
        first = text[garbage_at:_line_end(text, garbage_at)]
        flags.append(Flag("header_garbage", f"a line that is not a header ended the header block early: {decode_line(first)[:80]!r}"))
        body = text[garbage_at:] + (b"\n" + body if body else b"")

    received = [k for k, (n, _) in enumerate(headers) if len(n) == 8 and n.lower() == "received"]
    if len(received) > MAX_RECEIVED:
        drop = set(received[MAX_RECEIVED:])
        headers = [h for k, h in enumerate(headers) if k not in drop]
        flags.append(Flag("received_cut", f"{len(received)} Received headers; only the first {MAX_RECEIVED} were read"))
    return Message(headers=headers, body=body, flags=flags, mbox_from=mbox_from)


def _header_end(raw: bytes, limit: int) -> re.Match[bytes] | None:
    """The first blank line (`_BLANK_LINE`) within `raw[:limit]`. Every blank line contains
    `\n\n`, `\n\r` or `\r\r` at its start or one byte in, so the earliest of those (found by
    `bytes.find`, C speed) tells where the regex has to look."""
    best = -1
    for pair in (b"\n\n", b"\n\r", b"\r\r"):
        p = raw.find(pair, 0, limit if best < 0 else min(limit, best + 2))
        if p >= 0 and (best < 0 or p < best):
            best = p
    if best < 0:
        return None
    return _BLANK_LINE.search(raw, max(0, best - 1), limit)


def _line_end(text: bytes, pos: int) -> int:
    end = text.find(b"\n", pos)
    return len(text) if end < 0 else end
