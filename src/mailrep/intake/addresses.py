"""Which door an SMTP recipient address opens, and the `[smtp]` settings (pure).

    submit.<code>@<domain>      a reporter's secret submission address -> reports, channel user
    fbl@<domain>                the feedback-loop address -> ARF complaints, channel fbl; only
                                from senders bound to a feed account in `fbl_feeds` (their
                                complaints are filed under that account) unless `fbl_open`
    <fbl_feeds key>             a per-ISP feedback address bound to a feed account
    <trap> or *@<trap domain>   a spamtrap -> trap hits (the address is never published)

Settings (`[smtp]` table, all optional):

    domain              intake domain of the submission and fbl addresses (default: zone_base)
    hostname            name in the banner and in our Received header (default: domain)
    max_message_bytes   10 MiB; larger mail gets 552 5.3.4
    max_header_bytes    256 KiB: the header section of a mail (and of each attached spam)
    max_header_fields   1000 header fields (Received lines included) per header section
    max_header_line     64 KiB: one header field with its continuation lines (a physical
                        line is at most 1000 bytes on the wire, RFC 5321 4.5.3.1.6)
    max_recipients      20 per message; more get 452 4.5.3
    max_messages        100 mails per connection; then 421 4.7.0 and the connection closes
    connections         60 new connections per client address ...
    connections_per     ... per 60 seconds (token bucket); beyond it 421 4.7.0
    tls_cert, tls_key   PEM files: STARTTLS is offered when both are set
    require_tls         false; true refuses MAIL before STARTTLS
    fbl_account         "fbl": feed account that owns complaints sent to fbl@<domain>
    fbl_feeds           {"fbl-isp@x.example" = "isp-feed"}: feedback addresses bound to a
                        feed account: a recipient (a per-ISP address), or, at fbl@<domain>,
                        the envelope sender's address or domain ("isp.example")
    fbl_open            false; true files complaints from any sender at fbl@<domain> under
                        `fbl_account` (logged at start)
    trap_account        "traps": feed account that owns spamtrap hits
    traps               ["trap1@example.net", ...]
    trap_domains        ["trap.example.net", ...] every address there is a trap
    reply_smarthost     "" (off) or "host:port": where reply mails to reporters are sent
    reply_from          "mailrep@<domain>"
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mailrep.errors import BadInput, NotAllowed

MiB = 1024 * 1024
KiB = 1024
SUBMIT_PREFIX = "submit."


class NotAFeed(NotAllowed):
    """The sender is not bound to a feed account: the feedback-loop address refuses it."""

    code = "not_a_feed"


class Door(enum.Enum):
    SUBMIT = "user"
    FBL = "fbl"
    TRAP = "trap"


@dataclass(frozen=True, slots=True)
class Route:
    """A recipient classified: the door, and the key (submit code, feed account name)."""

    door: Door
    key: str
    address: str


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    domain: str = "mailrep.test"
    hostname: str = ""
    max_message_bytes: int = 10 * MiB
    max_header_bytes: int = 256 * KiB
    max_header_fields: int = 1000
    max_header_line: int = 64 * KiB
    max_recipients: int = 20
    max_messages: int = 100
    connections: int = 60
    connections_per: float = 60.0
    tls_cert: str = ""
    tls_key: str = ""
    require_tls: bool = False
    fbl_account: str = "fbl"
    fbl_feeds: Mapping[str, str] = field(default_factory=dict)
    fbl_open: bool = False
    trap_account: str = "traps"
    traps: frozenset[str] = frozenset()
    trap_domains: frozenset[str] = frozenset()
    reply_smarthost: str = ""
    reply_from: str = ""

    @property
    def banner_host(self) -> str:
        return self.hostname or self.domain

    @property
    def sender(self) -> str:
        return self.reply_from or f"mailrep@{self.domain}"

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, default_domain: str = "mailrep.test") -> SmtpConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(section) - known
        if unknown:
            raise BadInput(f"[smtp]: unknown keys {sorted(unknown)}")
        d = cls()
        try:
            return cls(
                domain=str(section.get("domain") or default_domain).lower().rstrip("."),
                hostname=str(section.get("hostname", "")),
                max_message_bytes=int(section.get("max_message_bytes", d.max_message_bytes)),
                max_header_bytes=int(section.get("max_header_bytes", d.max_header_bytes)),
                max_header_fields=int(section.get("max_header_fields", d.max_header_fields)),
                max_header_line=int(section.get("max_header_line", d.max_header_line)),
                max_recipients=max(1, int(section.get("max_recipients", d.max_recipients))),
                max_messages=max(1, int(section.get("max_messages", d.max_messages))),
                connections=max(1, int(section.get("connections", d.connections))),
                connections_per=float(section.get("connections_per", d.connections_per)),
                tls_cert=str(section.get("tls_cert", "")),
                tls_key=str(section.get("tls_key", "")),
                require_tls=bool(section.get("require_tls", False)),
                fbl_account=str(section.get("fbl_account", d.fbl_account)),
                fbl_feeds={k.lower(): str(v) for k, v in dict(section.get("fbl_feeds", {})).items()},
                fbl_open=bool(section.get("fbl_open", False)),
                trap_account=str(section.get("trap_account", d.trap_account)),
                traps=frozenset(str(a).lower() for a in section.get("traps", ())),
                trap_domains=frozenset(str(d).lower().rstrip(".") for d in section.get("trap_domains", ())),
                reply_smarthost=str(section.get("reply_smarthost", "")),
                reply_from=str(section.get("reply_from", "")),
            )
        except (TypeError, ValueError) as e:
            raise BadInput(f"[smtp]: {e}") from e


def split_address(address: str) -> tuple[str, str]:
    """`"Local@Dom.Example."` -> ("local", "dom.example"); BadInput without an @."""
    addr = address.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise BadInput(f"not a mail address: {address!r}")
    return local.lower(), domain.lower().rstrip(".")


def classify(address: str, config: SmtpConfig) -> Route | None:
    """The door this recipient opens, or None (unknown address: 550 5.1.1)."""
    try:
        local, domain = split_address(address)
    except BadInput:
        return None
    full = f"{local}@{domain}"
    if full in config.traps or domain in config.trap_domains:
        return Route(Door.TRAP, config.trap_account, full)
    if full in config.fbl_feeds:
        return Route(Door.FBL, config.fbl_feeds[full], full)
    if domain != config.domain:
        return None
    if local == "fbl":
        return Route(Door.FBL, config.fbl_account, full)
    if local.startswith(SUBMIT_PREFIX) and len(local) > len(SUBMIT_PREFIX):
        return Route(Door.SUBMIT, local[len(SUBMIT_PREFIX):], full)
    return None


def admit(route: Route, sender: str, config: SmtpConfig) -> Route:
    """The route a complaint to the shared fbl@<domain> address takes from this envelope sender:
    filed under the feed account the sender (address, then domain) is bound to in `fbl_feeds`;
    under `fbl_account` when `fbl_open`; `NotAFeed` (550 5.7.1) otherwise. Other routes pass."""
    if route.door is not Door.FBL or route.address in config.fbl_feeds:
        return route
    try:
        local, domain = split_address(sender)
    except BadInput:
        local, domain = "", ""
    feed = (config.fbl_feeds.get(f"{local}@{domain}") or config.fbl_feeds.get(domain)) if domain else None
    if feed:
        return Route(Door.FBL, feed, route.address)
    if config.fbl_open:
        return route
    raise NotAFeed(f"{route.address} takes complaints only from feedback loops registered with this "
                     "service ([smtp] fbl_feeds); ask the operator to bind your sender to a feed account")


def submit_address(code: str, config: SmtpConfig) -> str:
    return f"{SUBMIT_PREFIX}{code}@{config.domain}"
