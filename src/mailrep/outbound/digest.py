"""The daily digest to a network that asked for one, pure: one mail listing a day's reports.

    mail = build_digest(network, lines, sender=..., recipients=[...], day=date, now=now)

Each line is one report: when it arrived, its source, the domains it advertised. The spam
itself is not attached (a network wanting it asks for `full` reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import format_datetime

from mailrep.outbound.arf import CRLF, mail_headers, message_id


@dataclass(frozen=True, slots=True)
class DigestLine:
    report_id: int
    arrival: datetime
    source_ip: str
    domains: tuple[str, ...] = ()


def build_digest(network: str, lines: Sequence[DigestLine], *, sender: str,
                 recipients: Sequence[str], day: date, now: datetime) -> bytes:
    n = len(lines)
    text = [
        f"mailrep received {n} spam report{'s' if n != 1 else ''} on {day.isoformat()} (UTC)",
        f"about sources in your network {network}:", "",
    ]
    for line in sorted(lines, key=lambda x: (x.arrival, x.report_id)):
        ads = f"  advertising {', '.join(line.domains)}" if line.domains else ""
        text.append(f"{format_datetime(line.arrival)}  {line.source_ip}  report {line.report_id}{ads}")
    text += ["", "You receive a daily digest because your network asked for one; reply to ask",
             "for one report per message (ARF) or for none."]
    key = f"{network.replace('/', '_').replace(', ', '+')}-{day.isoformat()}"
    head = mail_headers(sender, recipients, f"Spam reports about {network} on {day.isoformat()}", now,
                    message_id("digest", key, sender), "text/plain; charset=utf-8")
    return (head + "Content-Transfer-Encoding: 8bit" + CRLF + CRLF + CRLF.join(text) + CRLF).encode()
