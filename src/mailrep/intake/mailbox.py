"""Reading messages in bulk: mbox, Maildir, a directory of .eml files, one message on stdin.

    open_source(path)  -> Source    (kind, path, count(), __iter__ -> MailItem(key, raw))

Every reader yields the message *without* an mbox envelope line (`From sender date`), so the
same message read from an mbox, a Maildir or an .eml file has the same bytes and the same
sha256 (the dedupe key). mbox is read as mboxrd (`trace.mbox`): `>From ` lines lose one `>`. Keys name where a
message came from (`mbox:<byte offset>`, a Maildir file name, a relative path) for summaries.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mailrep.errors import BadInput, NotFound, TooBig
from mailrep.trace import mbox

MAX_MESSAGE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MailItem:
    key: str
    raw: bytes


def iter_mbox(stream: BinaryIO, name: str = "mbox") -> Iterator[MailItem]:
    """Messages of an mboxrd/mboxo stream (split by `trace.mbox`), keyed `name:<byte offset>`."""
    try:
        for start, raw in mbox.split_lines(stream, max_message=MAX_MESSAGE):
            yield MailItem(f"{name}:{start}", raw)
    except TooBig as e:
        raise TooBig(f"{name}: {e.message}") from e


def count_mbox(path: Path) -> int:
    with path.open("rb") as f:
        return mbox.count(f)


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
            yield MailItem("-", mbox.strip_envelope(raw))
        elif self.kind == "mbox":
            with self.path.open("rb") as stream:
                yield from iter_mbox(stream, self.path.name)
        else:
            base = self.path if self.path.is_dir() else self.path.parent
            for f in self._files:
                if f.stat().st_size > MAX_MESSAGE:
                    raise BadInput(f"{f}: larger than {MAX_MESSAGE} bytes")
                yield MailItem(str(f.relative_to(base)), mbox.strip_envelope(f.read_bytes()))


def write_mbox(out: BinaryIO, messages: list[bytes], sender: str = "MAILER-DAEMON",
               date: str = "Thu Jan  1 00:00:00 1970") -> None:
    """Write messages (without envelope lines) as an mboxrd file."""
    for raw in messages:
        out.write(f"From {sender} {date}\n".encode())
        body = mbox.escape(raw)
        out.write(body)
        if not body.endswith(b"\n"):
            out.write(b"\n")
        out.write(b"\n")
