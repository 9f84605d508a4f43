"""Mirror mode: a DNS node that follows a primary's snapshot file without a database.

    mailrep dns --snapshot-url https://primary.example/zones.snap --snapshot var/mirror.snap
    mailrep dns --snapshot /srv/rsync/zones.snap          # an rsync-friendly file drop

With `--snapshot-url` a fetcher downloads the snapshot every interval (conditional GET with
ETag / Last-Modified, so an unchanged file costs one small request), checks that it loads
and passes the RFC 5782 checks, and renames it over the local file; the ordinary reloader
(mailrep.dns.reload) sees the new file and swaps it in. A download that fails or does not
load leaves the last good file (and the zone being served) alone.

A file drop needs nothing extra: rsync (and most copiers) write a temp file and rename it,
and the reloader watches inode, size and mtime; a truncated copy fails to load and is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("mailrep.dns")

MAX_SNAPSHOT = 1 << 31  # refuse absurd downloads (2 GiB)


class SnapshotFetcher:
    def __init__(self, url: str, dest: str | os.PathLike[str], *, interval: float = 30.0,
                 timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://", "file://")):
            raise ValueError(f"unsupported snapshot URL {url!r}")
        self.url = url
        self.dest = Path(dest)
        self.interval = interval
        self.timeout = timeout
        self.etag: str | None = None
        self.modified: str | None = None
        self.fetches = 0  # new files installed
        self.failures = 0

    def fetch_once(self) -> bool:
        """Blocking: download if changed; True when a new, valid snapshot file was installed."""
        from mailrep.dns.testpoints import check_snapshot
        from mailrep.zones.snapshot import load_snapshot

        req = urllib.request.Request(self.url)
        if self.etag:
            req.add_header("If-None-Match", self.etag)
        if self.modified:
            req.add_header("If-Modified-Since", self.modified)
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            if e.code == 304:
                return False
            raise
        fd, tmp = tempfile.mkstemp(prefix=f".{self.dest.name}.", dir=self.dest.parent)
        try:
            with resp, os.fdopen(fd, "wb") as f:
                total = 0
                while chunk := resp.read(1 << 20):
                    total += len(chunk)
                    if total > MAX_SNAPSHOT:
                        raise ValueError("snapshot download too large")
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
                headers = resp.headers
            check_snapshot(load_snapshot(tmp))  # never install a file that would not serve
            os.replace(tmp, self.dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.etag = headers.get("ETag")
        self.modified = headers.get("Last-Modified")
        self.fetches += 1
        return True

    async def run(self) -> None:
        while True:
            try:
                if await asyncio.to_thread(self.fetch_once):
                    log.info("dns: mirror fetched a new snapshot from %s", self.url)
            except Exception as e:  # keep the last good file; try again next interval
                self.failures += 1
                log.error("dns: mirror fetch from %s failed: %s", self.url, e)
            await asyncio.sleep(self.interval)
