"""Reloading: watch the files a snapshot came from and swap in a fresh snapshot when they change.

The load runs in a worker thread (the UDP thread keeps answering meanwhile); the new snapshot
passes the RFC 5782 checks before `DnsServer.swap` installs it. A failed load or check is
logged and the last good snapshot keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from mailrep.dns.server import DnsServer
from mailrep.errors import MailrepError

log = logging.getLogger("mailrep.dns")

Stamp = tuple[tuple[int, int, int], ...]


def stamp(paths: Sequence[str]) -> Stamp:
    """What identifies the current contents: (inode, size, mtime_ns) per file (0s when missing)."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((0, 0, 0))
    return tuple(out)


class Reloader:
    """Polls `paths`; when their stamp changes, loads with `load()` and swaps into `servers`."""

    def __init__(self, paths: Sequence[str], load: Callable[[], Any], servers: Sequence[DnsServer],
                 *, interval: float = 1.0) -> None:
        self.paths = list(paths)
        self.load = load
        self.servers = list(servers)
        self.interval = interval
        self.last = stamp(self.paths)
        self.reloads = 0
        self.failures = 0

    async def reload_now(self) -> bool:
        """Load and swap once; True when the new snapshot is being served."""
        self.last = stamp(self.paths)
        try:
            snap = await asyncio.to_thread(self.load)
            for server in self.servers:
                server.swap(snap)
        except (MailrepError, OSError, ValueError) as e:
            self.failures += 1
            log.error("dns: reload failed, still serving the last good snapshot: %s", e)
            return False
        self.reloads += 1
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            now = stamp(self.paths)
            if now != self.last:
                await asyncio.sleep(min(self.interval, 0.2))  # let a writer finish a rename burst
                await self.reload_now()
