"""Read mail logs from where the last run stopped and ship accepted mail as volume batches.

    shipper = Shipper(kind, [Path("/var/log/mail.log")], State.load(path), post, clock)
    shipper.run_once()         read what is new, POST it, then save the state; returns messages

The state file remembers, per log file, its inode and the offset read up to, the Postfix
clients of queue ids not yet accepted, and the queue ids already shipped (kept `KEEP_DAYS`),
so shipping the same log again, or a rotated copy of it, adds nothing. Rotation: when the
file at a path has a new inode, the rest of the old one is read first from `<path>.1` (same
inode) and the new file from its start; a file shorter than the offset (truncated) is read
from the start. Batches: one item per client IP per hour `{ip, count, start, end}` to
`POST <url>/api/v1/volume` with the feed token; the state is saved only after the server
accepted the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailrep.ship.logs import Accepted, parse_line

KEEP_DAYS = 8
HOUR = timedelta(hours=1)
MAX_BATCH = 10_000
Post = Callable[[list[dict[str, Any]]], None]


@dataclass
class State:
    path: Path
    files: dict[str, dict[str, int]] = field(default_factory=dict)  # path -> {inode, offset}
    clients: dict[str, str] = field(default_factory=dict)  # queue id -> client IP (Postfix)
    shipped: dict[str, float] = field(default_factory=dict)  # queue id -> when accepted (epoch)

    @classmethod
    def load(cls, path: Path) -> State:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        return cls(path, dict(data.get("files", {})), dict(data.get("clients", {})),
                   dict(data.get("shipped", {})))

    def save(self, now: datetime) -> None:
        horizon = (now - timedelta(days=KEEP_DAYS)).timestamp()
        self.shipped = {q: t for q, t in self.shipped.items() if t >= horizon}
        if len(self.clients) > 100_000:  # queue ids whose acceptance never came
            self.clients = dict(list(self.clients.items())[-50_000:])
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"files": self.files, "clients": self.clients, "shipped": self.shipped}))
        os.replace(tmp, self.path)


def batch_items(accepted: list[Accepted]) -> list[dict[str, Any]]:
    """One volume item per (client IP, hour)."""
    counts: dict[tuple[str, datetime], int] = {}
    for a in accepted:
        hour = a.at.replace(minute=0, second=0, microsecond=0)
        counts[(a.ip, hour)] = counts.get((a.ip, hour), 0) + 1
    return [{"ip": ip, "count": n, "start": h.isoformat(), "end": (h + HOUR).isoformat()}
            for (ip, h), n in sorted(counts.items())]


class Shipper:
    def __init__(self, kind: str, paths: list[Path], state: State, post: Post,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.kind = kind
        self.paths = paths
        self.state = state
        self.post = post
        self.clock = clock

    def _lines(self, path: Path) -> Iterator[str]:
        """New complete lines of `path` (and of its rotated predecessor), moving the offsets."""
        key = str(path.resolve()) if path.exists() else str(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            return
        known = self.state.files.get(key)
        if known is not None and known["inode"] != st.st_ino:
            old = path.with_name(path.name + ".1")
            if old.exists() and old.stat().st_ino == known["inode"]:
                yield from self._read(old, known["offset"], None)
            known = None
        offset = 0 if known is None or st.st_size < known["offset"] else known["offset"]
        rec = {"inode": st.st_ino, "offset": offset}
        self.state.files[key] = rec
        yield from self._read(path, offset, rec)

    def _read(self, path: Path, offset: int, rec: dict[str, int] | None) -> Iterator[str]:
        with path.open("rb") as f:
            f.seek(offset)
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # a line still being written: read it next time
                offset += len(raw)
                if rec is not None:
                    rec["offset"] = offset
                yield raw.decode("utf-8", "replace")

    def run_once(self) -> int:
        """Ship what is new in every log; returns the number of messages shipped."""
        now = self.clock()
        accepted: list[Accepted] = []
        shipped = self.state.shipped
        for path in self.paths:
            for line in self._lines(path):
                a = parse_line(self.kind, line, self.state.clients, now)
                if a is not None and a.queue_id not in shipped:
                    shipped[a.queue_id] = a.at.timestamp()
                    accepted.append(a)
        items = batch_items(accepted)
        for i in range(0, len(items), MAX_BATCH):
            self.post(items[i:i + MAX_BATCH])
        self.state.save(now)
        return len(accepted)
