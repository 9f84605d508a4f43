"""Reading a mail that arrived at the SMTP door: what reports it carries (pure, picklable).

    reading = read_mail(raw, doors, config)   # in the trace pool or a thread, never on the loop

Checks the mail (size, wire form, header section: `content`), then finds the spams a
submission carries (`forward.extract`) and the complaints a feedback-loop mail carries, each
held to the same header limits. What cannot be taken is counted by reason in `refused`, so the
reply says so; a mail of which nothing can be taken raises the first reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mailrep.errors import TooBig
from mailrep.intake.addresses import Door, SmtpConfig
from mailrep.intake.forward import MAX_DEPTH, MAX_SPAMS, extract, feedback_reports
from mailrep.intake.smtp.content import HeaderTooBig, check_headers, check_wire
from mailrep.trace.message import Flag


@dataclass
class Reading:
    """The spams (with what extraction noticed) and complaints of a mail, and what was refused."""

    spams: list[tuple[bytes, tuple[Flag, ...]]] = field(default_factory=list)
    complaints: list[bytes] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)

    def refused_text(self) -> str:
        return "; ".join(f"{n} {why}" for why, n in self.refused.items())


def read_mail(raw: bytes, doors: frozenset[Door], config: SmtpConfig) -> Reading:
    if len(raw) > config.max_message_bytes:
        raise TooBig(f"the message is {len(raw)} bytes; the limit is {config.max_message_bytes}")
    check_wire(raw)
    check_headers(raw, config)
    reading = Reading()
    found: list[tuple[bytes, tuple[Flag, ...], bool]] = []
    if Door.SUBMIT in doors:
        extraction = extract(raw)
        found.extend((s.raw, s.flags, True) for s in extraction.spams)
        if extraction.over:
            reading.refused[f"over the limit of {MAX_SPAMS} spams per mail (send them in another mail)"] += extraction.over
        if extraction.too_deep:
            reading.refused[f"nested deeper than {MAX_DEPTH} levels of MIME (not read)"] += 1
    if Door.FBL in doors:
        found.extend((r, (), False) for r in feedback_reports(raw))
    first: HeaderTooBig | None = None
    for n, (one, flags, spam) in enumerate(found, 1):
        try:
            check_headers(one, config, what=f"attached message {n}")
        except HeaderTooBig as e:
            first = first or e
            reading.refused[e.message.replace(f"attached message {n}", "an attached message")] += 1
            continue
        if spam:
            reading.spams.append((one, flags))
        else:
            reading.complaints.append(one)
    if first is not None and not (reading.spams or reading.complaints or Door.TRAP in doors):
        raise first
    return reading
