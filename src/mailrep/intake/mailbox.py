"""Reading messages in bulk: mbox, Maildir, a directory of .eml files, one message on stdin.

    open_source(path)  -> Source    (kind, path, count(), __iter__ -> MailItem(key, raw))

Every reader yields the message *without* an mbox envelope line (`From sender date`), so the
same message read from an mbox, a Maildir or an .eml file has the same bytes and the same
sha256 (the dedupe key). mbox is read as mboxrd: `>From ` lines lose one `>`. Keys name where a
message came from (`mbox:<byte offset>`, a Maildir file name, a relative path) for summaries.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mailrep.errors import BadInput, NotFound

_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.M)
MAX_MESSAGE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MailItem:
    key: str
    raw: bytes


def strip_envelope(raw: bytes) -> bytes:
    """Drop a leading mbox `From ` envelope line (it is not part of the RFC 5322 message)."""
    if raw.startswith(b"From "):
        nl = raw.find(b"\n")
        return raw[nl + 1 :] if nl >= 0 else b""
    return raw


def iter_mbox(stream: BinaryIO, name: str = "mbox") -> Iterator[MailItem]:
    """Messages of an mboxrd/mboxo stream, split at `From ` lines after a blank line."""
    lines: list[bytes] = []
    start = offset = 0
    prev_blank = True
    size = 0

    def flush() -> MailItem | None:
        if not lines:
            return None
        body = list(lines)
        if body and body[-1].strip() == b"":  # the blank line before the next From_ is the separator's
            body.pop()
        raw = _MBOXRD_QUOTED.sub(rb"\1", b"".join(body))
        return MailItem(f"{name}:{start}", raw) if raw.strip() else None

    for line in stream:
        if line.startswith(b"From ") and prev_blank:
            item = flush()
            if item is not None:
                yield item
            lines, start, size = [], offset, 0
        else:
            size += len(line)
            if size > MAX_MESSAGE:
                raise BadInput(f"{name}: message at byte {start} is larger than {MAX_MESSAGE} bytes")
            lines.append(line)
        offset += len(line)
        prev_blank = line.strip() == b""
    item = flush()
    if item is not None:
        yield item


def count_mbox(path: Path) -> int:
    n = 0
    prev_blank = True
    with path.open("rb") as f:
        for line in f:
            if prev_blank and line.startswith(b"From "):
                n += 1
            prev_blank = line.strip() == b""
    return n


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def looks_like_mbox(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(5) == b"From " and count_mbox(path) >= 1


class Source:
    """One PATH argument of `mailrep import`: what it is and the messages in it."""

    def __init__(self, path: str, *, stdin: BinaryIO | None = None) -> None:
        self.name = path
        self._stdin = stdin
        if path == "-":
            self.kind = "stdin"
            self._files: list[Path] = []
            return
        p = Path(path)
        if not p.exists():
            raise NotFound(f"{path}: no such file or directory")
        self.path = p
        if is_maildir(p):
            self.kind = "maildir"
            self._files = sorted(f for sub in ("new", "cur") for f in (p / sub).iterdir()
                                 if f.is_file() and not f.name.startswith("."))
        elif p.is_dir():
            self.kind = "eml-dir"
            self._files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".eml")
        elif looks_like_mbox(p):
            self.kind = "mbox"
            self._files = [p]
        else:
            self.kind = "eml"
            self._files = [p]

    def count(self) -> int:
        if self.kind == "mbox":
            return count_mbox(self.path)
        if self.kind == "stdin":
            return 1
        return len(self._files)

    def __iter__(self) -> Iterator[MailItem]:
        if self.kind == "stdin":
            stream = self._stdin or sys.stdin.buffer
            raw = stream.read(MAX_MESSAGE + 1)
            if len(raw) > MAX_MESSAGE:
                raise BadInput(f"stdin: message larger than {MAX_MESSAGE} bytes")
            yield MailItem("-", strip_envelope(raw))
        elif self.kind == "mbox":
            with self.path.open("rb") as stream:
                yield from iter_mbox(stream, self.path.name)
        else:
            base = self.path if self.path.is_dir() else self.path.parent
            for f in self._files:
                if f.stat().st_size > MAX_MESSAGE:
                    raise BadInput(f"{f}: larger than {MAX_MESSAGE} bytes")
                yield MailItem(str(f.relative_to(base)), strip_envelope(f.read_bytes()))


def mbox_escape(raw: bytes) -> bytes:
    """mboxrd quoting of one message body (for writers and tests): `>*From ` gains a `>`."""
    return re.sub(rb"^(>*From )", rb">\1", raw, flags=re.M)


def write_mbox(out: BinaryIO, messages: list[bytes], sender: str = "MAILER-DAEMON",
               date: str = "Thu Jan  1 00:00:00 1970") -> None:
    """Write messages (without envelope lines) as an mboxrd file."""
    for raw in messages:
        out.write(f"From {sender} {date}\n".encode())
        body = mbox_escape(raw)
        out.write(body)
        if not body.endswith(b"\n"):
            out.write(b"\n")
        out.write(b"\n")
