"""RDAP over HTTP(S): the bootstrap files (local paths or URLs, URLs refreshed daily) and IP
queries with a timeout, following redirects and `rdap` referral links at most twice.

    client = RdapClient(["https://data.iana.org/rdap/ipv4.json", ".../ipv6.json"], clock=clock)
    answer = await client.lookup("203.0.113.9")   # Answer | None (no network registered)
    await client.aclose()

Transport failures raise `RdapUnavailable` (the caller retries later); a malformed answer
raises `RdapError`. `client.queries` counts the IP queries sent (tests, status).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from mailrep.clock import Clock
from mailrep.errors import MailrepError
from mailrep.outbound.rdap import (
    Answer,
    IpBootstrap,
    RdapError,
    most_specific,
    parse_bootstrap,
    parse_ip_answer,
    query_url,
)

TIMEOUT_S = 10.0
MAX_REFERRALS = 2
BOOTSTRAP_REFRESH = timedelta(days=1)
MAX_ANSWER_BYTES = 1 << 20
ACCEPT = "application/rdap+json, application/json;q=0.9"
IANA_BOOTSTRAP = ("https://data.iana.org/rdap/ipv4.json", "https://data.iana.org/rdap/ipv6.json")


class RdapUnavailable(MailrepError):
    """The RDAP server could not be asked (network, timeout, server error); try again later."""

    code = "rdap_unavailable"


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class RdapClient:
    def __init__(self, bootstrap: Sequence[str] = IANA_BOOTSTRAP, *, clock: Clock,
                 timeout: float = TIMEOUT_S, http: httpx.AsyncClient | None = None) -> None:
        self.sources = tuple(bootstrap)
        self.clock = clock
        self.timeout = timeout
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=True, max_redirects=MAX_REFERRALS,
                                               headers={"Accept": ACCEPT, "User-Agent": "mailrep"})
        self._boot: IpBootstrap | None = None
        self._boot_at: datetime | None = None
        self._boot_lock = asyncio.Lock()
        self.queries = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch(self, url: str) -> tuple[int, bytes]:
        try:
            r = await self._http.get(url)
        except httpx.HTTPError as e:
            raise RdapUnavailable(f"{url}: {type(e).__name__}: {e}") from e
        return r.status_code, r.content[:MAX_ANSWER_BYTES]

    async def bootstrap(self) -> IpBootstrap:
        """The bootstrap, loaded once (and again after a day when it comes from URLs)."""
        async with self._boot_lock:
            now = self.clock()
            stale = (self._boot_at is not None and any(_is_url(s) for s in self.sources)
                     and now - self._boot_at >= BOOTSTRAP_REFRESH)
            if self._boot is None or stale:
                files = []
                for source in self.sources:
                    if _is_url(source):
                        status, body = await self._fetch(source)
                        if status != 200:
                            raise RdapUnavailable(f"bootstrap {source}: HTTP {status}")
                    else:
                        body = await asyncio.to_thread(Path(source).read_bytes)
                    files.append(parse_bootstrap(body, name=source))
                self._boot, self._boot_at = IpBootstrap.of(*files), now
            return self._boot

    async def _answer(self, url: str) -> Answer | None:
        self.queries += 1
        status, body = await self._fetch(url)
        if status == 404:
            return None
        if status != 200:
            raise RdapUnavailable(f"{url}: HTTP {status}")
        try:
            obj: Any = json.loads(body)
        except ValueError as e:
            raise RdapError(f"{url}: the answer is not JSON") from e
        return parse_ip_answer(obj, server=url)

    async def lookup(self, ip: str) -> Answer | None:
        """The most specific answer for `ip` (referrals followed), None when unregistered."""
        boot = await self.bootstrap()
        first = await self._answer(query_url(boot.server_for(ip), ip))
        if first is None:
            return None
        chain = [first]
        while len(chain) <= MAX_REFERRALS and chain[-1].referrals:
            nxt = await self._answer(chain[-1].referrals[0])
            if nxt is None or not nxt.network.contains(ip):
                break
            chain.append(nxt)
        return most_specific(chain)
