"""The `[web]` table of the settings: who may speak for clients, how big a request head may
be, and how fast one client network may look addresses up.

    trusted_proxies     []      networks of reverse proxies whose X-Forwarded-For /
                                X-Forwarded-Proto are believed; from anyone else those
                                headers are ignored and the peer address is the client
    max_header_bytes    16384   the request line and headers together; above it: 431
    max_headers         100     header fields per request; above it: 431
    lookups_per_minute  120     public lookups per client network (0: no limit); above: 429
    client_prefix_v4    24      a client network: the /24 of an IPv4 client ...
    client_prefix_v6    56      ... and the /56 of an IPv6 one
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mailrep.errors import BadInput
from mailrep.net import IPNetwork, client_network, parse_network


@dataclass(frozen=True, slots=True)
class WebConfig:
    trusted_proxies: tuple[IPNetwork, ...] = field(default_factory=tuple)
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    lookups_per_minute: int = 120
    client_prefix_v4: int = 24
    client_prefix_v6: int = 56

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> WebConfig:
        unknown = set(section) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadInput(f"[web]: unknown keys {sorted(unknown)}")
        d = cls()
        proxies = section.get("trusted_proxies", ())
        if isinstance(proxies, str):
            proxies = proxies.split()
        try:
            cfg = cls(
                trusted_proxies=tuple(parse_network(str(p), strict=False) for p in proxies),
                max_header_bytes=int(section.get("max_header_bytes", d.max_header_bytes)),
                max_headers=int(section.get("max_headers", d.max_headers)),
                lookups_per_minute=int(section.get("lookups_per_minute", d.lookups_per_minute)),
                client_prefix_v4=int(section.get("client_prefix_v4", d.client_prefix_v4)),
                client_prefix_v6=int(section.get("client_prefix_v6", d.client_prefix_v6)),
            )
        except (TypeError, ValueError) as e:
            raise BadInput(f"[web]: {e}") from e
        except BadInput as e:
            raise BadInput(f"[web] trusted_proxies: {e.message}") from e
        if cfg.max_header_bytes < 1024 or cfg.max_headers < 8 or cfg.lookups_per_minute < 0:
            raise BadInput("[web]: max_header_bytes >= 1024, max_headers >= 8, lookups_per_minute >= 0")
        if not (8 <= cfg.client_prefix_v4 <= 32 and 16 <= cfg.client_prefix_v6 <= 128):
            raise BadInput("[web]: client_prefix_v4 is 8..32, client_prefix_v6 16..128")
        return cfg

    @property
    def forwarded_allow_ips(self) -> list[str]:
        """uvicorn's `forwarded_allow_ips`: the trusted proxies as CIDR text."""
        return [str(n) for n in self.trusted_proxies]

    def client_network(self, host: str) -> str:
        """The network whose requests one rate limit counts together."""
        return client_network(host, v4_prefix=self.client_prefix_v4, v6_prefix=self.client_prefix_v6)
