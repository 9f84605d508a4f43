"""The reply mail to a reporter: each report's traced source, whether it counts (and why not:
`policy.counting`) and its tracking URL (SpamCop's habit).

Off by default; `[smtp] reply_smarthost = "host:port"` turns it on. Sending happens after the
250 was given and never affects the stored reports; a failure is logged by the caller.

    reply = SmarthostReply("127.0.0.1:2526", sender="mailrep@mailrep.test")
    await reply("reporter@example.net", [(submission, receipt), ...])
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid

from mailrep.intake.service import Receipt
from mailrep.intake.smtp.handler import Submission
from mailrep.outbound.smarthost import Smarthost
from mailrep.trace.message import read_message


def _subject_of(raw: bytes) -> str:
    try:
        subject = read_message(raw).decoded("Subject") or ""
    except Exception:  # the report is stored already; a bad header only costs the subject line
        subject = ""
    return " ".join(subject.split())[:120]


def build_reply(to: str, sender: str, pairs: Sequence[tuple[Submission, Receipt]]) -> EmailMessage:
    """The reply: one paragraph per report (pure)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    n = len(pairs)
    msg["Subject"] = f"mailrep: {n} report{'s' if n != 1 else ''} received"
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-replied"
    lines = [f"Thank you. {n} report{'s' if n != 1 else ''} stored:", ""]
    for k, (sub, rec) in enumerate(pairs, 1):
        source = rec.source_ip or "not found (the report is kept but does not count)"
        lines.append(f"{k}. report {rec.id}{' (already received earlier)' if rec.duplicate else ''}")
        subject = _subject_of(sub.raw)
        if subject:
            lines.append(f"   subject: {subject}")
        lines.append(f"   traced source: {source}")
        lines.append(f"   counted: {'yes' if rec.counted else f'no ({rec.reason}: {rec.detail})'}")
        for flag in sub.flags:
            lines.append(f"   note: {flag.detail}")
        lines.append(f"   tracking: {rec.url}")
        lines.append("")
    lines.append("Forward each spam as an attachment (message/rfc822) with full headers.")
    msg.set_content("\n".join(lines) + "\n")
    return msg


class SmarthostReply:
    """A `ReplyHook` that mails the reply through a smarthost (blocking send in a thread)."""

    def __init__(self, smarthost: str, *, sender: str) -> None:
        self.smarthost = Smarthost.parse(smarthost)  # fails at start-up, not on the first reply
        self.sender = sender
        self.sent = 0

    async def __call__(self, to: str, pairs: Sequence[tuple[Submission, Receipt]]) -> None:
        msg = build_reply(to, self.sender, pairs)
        await asyncio.to_thread(self.smarthost.send_message, msg)
        self.sent += 1
