"""mbox (mboxrd / mboxo) as pure bytes: splitting, counting and quoting; no files.

    split(data)              -> [message, ...]          a whole mbox in memory
    split_lines(lines, ...)  -> (byte offset, message)  streamed, line by line
    count(lines)             -> how many messages
    strip_envelope(raw)      the message without its `From ` envelope line
    escape(raw)              mboxrd quoting of one message (`>*From ` gains a `>`)

A message starts at the first line, and at each `From <sender> <date>` envelope line that
follows a blank line and is followed by a header line (so an unescaped `From ` line in a body,
mboxo style, does not split a message). Messages come out without the envelope line and with
mboxrd quoting undone (`>From ` loses one `>`), so the same message read from an mbox or from
an .eml file has the same bytes. Data that does not start with `From ` is one message as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from mailrep.errors import TooBig

_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.M)
_FROM_QUOTE = re.compile(rb"^(>*From )", re.M)
_ENVELOPE = re.compile(rb"From [^\r\n ]{1,300} +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\r\n]{1,100}\r?\n")
_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]{1,100}[ \t]*:")


def strip_envelope(raw: bytes) -> bytes:
    """Drop a leading mbox `From ` envelope line (it is not part of the RFC 5322 message)."""
    if raw.startswith(b"From "):
        nl = raw.find(b"\n")
        return raw[nl + 1 :] if nl >= 0 else b""
    return raw


def escape(raw: bytes) -> bytes:
    """mboxrd quoting of one message body (for writers and tests): `>*From ` gains a `>`."""
    return _FROM_QUOTE.sub(rb">\1", raw)


def _starts(from_line: bytes, next_line: bytes | None) -> bool:
    """Whether a `From ` line after a blank line starts a message: an envelope line
    (`From <sender> <asctime date>`) followed by a header line. An unescaped body line such as
    `From the desk of ...` (mboxo) is not a separator."""
    return (next_line is not None and _ENVELOPE.match(from_line) is not None
            and _HEADER.match(next_line) is not None)


def split_lines(lines: Iterable[bytes], *, max_message: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(byte offset of its `From ` line, message) for each message of an mbox given as lines
    (with their line ends, as a binary file yields them). `TooBig` when a message is over
    `max_message` bytes."""
    body: list[bytes] = []
    start = offset = size = 0
    prev_blank = True
    pending: tuple[int, bytes] | None = None  # a candidate separator and its offset

    def done() -> bytes | None:
        if body and body[-1].strip() == b"":  # the blank line before the next From_ is the separator's
            body.pop()
        raw = _MBOXRD_QUOTED.sub(rb"\1", b"".join(body))
        return raw if raw.strip() else None

    def add(line: bytes) -> None:
        nonlocal size
        size += len(line)
        if max_message is not None and size > max_message:
            raise TooBig(f"the message at byte {start} is larger than {max_message} bytes")
        body.append(line)

    for line in lines:
        if pending is not None:
            at, from_line = pending
            pending = None
            if _starts(from_line, line):
                raw = done()
                if raw is not None:
                    yield start, raw
                body, start, size = [], at, 0
            else:
                add(from_line)
        if line.startswith(b"From ") and prev_blank:
            if offset == 0:  # the first line of an mbox is its first envelope line
                body, start, size = [], 0, 0
            else:
                pending = (offset, line)
        else:
            add(line)
        offset += len(line)
        prev_blank = line.strip() == b""
    if pending is not None:
        add(pending[1])
    raw = done()
    if raw is not None:
        yield start, raw


def split(data: bytes) -> list[bytes]:
    """The messages of an mbox in memory; data not starting with `From ` is one message."""
    if not data.startswith(b"From "):
        return [data]
    if not _may_split(data):
        return [_single(data)]
    return [raw for _, raw in split_lines(data.splitlines(keepends=True))] or [data]


def _may_split(data: bytes) -> bool:
    """Whether a `From ` line after the first could start a message: only one shaped like an
    envelope line can (`_starts`), and body lines such as `From the desk of` are not, so most
    single messages skip the line-by-line walk."""
    for eol in (b"\nFrom ", b"\rFrom "):
        at = data.find(eol)
        while at >= 0:
            if _ENVELOPE.match(data, at + 1):
                return True
            at = data.find(eol, at + 1)
    return False


def _single(data: bytes) -> bytes:
    """`split` of an mbox with no `From ` line after its first: the same bytes `split_lines`
    gives (envelope line dropped, a blank last line dropped, mboxrd quoting undone), without
    walking the message line by line."""
    nl, cr = data.find(b"\n"), data.find(b"\r")
    if nl < 0 and cr < 0:
        return data  # the envelope line alone: no message
    end = min(i for i in (nl, cr) if i >= 0)
    end += 2 if data[end : end + 2] == b"\r\n" else 1
    body = data[end:]
    core = body[:-2] if body.endswith(b"\r\n") else body[:-1] if body.endswith((b"\n", b"\r")) else body
    last = max(core.rfind(b"\n"), core.rfind(b"\r")) + 1
    if body[last:].strip() == b"":
        body = body[:last]
    raw = _MBOXRD_QUOTED.sub(rb"\1", body)
    return raw if raw.strip() else data


def count(lines: Iterable[bytes]) -> int:
    """How many messages an mbox given as lines holds."""
    return sum(1 for _ in split_lines(lines))
