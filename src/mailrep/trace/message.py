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

_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$", re.S)


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


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def read_message(raw: bytes | str) -> Message:
    """Parse raw message bytes. Raises `NotMail` when there is no header block."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    flags: list[Flag] = []
    # Find the end of the header block on the raw bytes first, so a huge body costs nothing.
    m = _BLANK_LINE.search(raw, 0, MAX_HEADER_BYTES + 4)
    if m is None:
        if len(raw) > MAX_HEADER_BYTES:
            head, body = raw[:MAX_HEADER_BYTES], b""
            flags.append(Flag("header_cut", f"header block longer than {MAX_HEADER_BYTES} bytes; the rest was not read"))
        else:
            head, body = raw, b""
    else:
        head, body = raw[: m.start()], raw[m.end():]
    lines = _LINE_SPLIT.split(head)

    mbox_from = None
    if lines and lines[0].startswith(b"From ") and not _FIELD.match(lines[0]):
        mbox_from = _text(lines[0][5:])
        lines = lines[1:]
    while lines and lines[0].startswith(b">From "):
        lines = lines[1:]

    headers: list[tuple[str, str]] = []
    name: str | None = None
    parts: list[str] = []
    rest: list[bytes] = []
    for i, line in enumerate(lines):
        if line[:1] in (b" ", b"\t"):
            if name is None:
                if not headers and not parts:
                    continue  # leading whitespace line before any header: tolerate
            else:
                parts.append(_text(line).strip())
                continue
        fm = _FIELD.match(line)
        if fm is None:
            if not line.strip():
                continue
            rest = lines[i:]
            break
        if name is not None:
            headers.append((name, " ".join(p for p in parts if p)))
        name = fm.group(1).decode("ascii")
        parts = [_text(fm.group(2)).strip()]
    if name is not None:
        headers.append((name, " ".join(p for p in parts if p)))

    if not headers:
        raise NotMail("not an e-mail message: no header block found (expected 'Name: value' lines)")
    if b"\x00" in head:
        flags.append(Flag("nul_bytes", "the header block contains NUL bytes"))
    if rest:
        flags.append(Flag("header_garbage", f"a line that is not a header ended the header block early: {_text(rest[0])[:80]!r}"))
        body = b"\n".join(rest) + (b"\n" + body if body else b"")

    received = [k for k, (n, _) in enumerate(headers) if n.lower() == "received"]
    if len(received) > MAX_RECEIVED:
        drop = set(received[MAX_RECEIVED:])
        headers = [h for k, h in enumerate(headers) if k not in drop]
        flags.append(Flag("received_cut", f"{len(received)} Received headers; only the first {MAX_RECEIVED} were read"))
    return Message(headers=headers, body=body, flags=flags, mbox_from=mbox_from)
