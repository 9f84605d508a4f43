"""Every SMTP reply the intake gives (RFC 5321 codes with RFC 3463 enhanced status codes),
and `status_for()`: the one place where errors become SMTP replies.

A `Reply` is a str, so a hook returns it as aiosmtpd expects; the replies that carry a
variable text (`NO_SPAM`, `BAD`, `STORED`) are prefixes completed by `Reply.with_text`.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from mailrep.errors import (
    BadInput,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    NotMail,
    OverQuota,
    StorageError,
    TooBig,
)
from mailrep.intake.addresses import NotAFeed
from mailrep.intake.forward import NoSpamAttached
from mailrep.intake.smtp.content import HeaderTooBig, MalformedMail

log = logging.getLogger(__name__)


class Reply(StrEnum):
    OK = "250 2.0.0 OK"
    OK_RCPT = "250 2.1.5 Recipient OK"
    STORED = "250 2.0.0 "
    UNKNOWN = "550 5.1.1 No such submission address (unknown or revoked)"
    TOO_MANY_RCPT = "452 4.5.3 Too many recipients"
    OVER_QUOTA = "452 4.5.3 Submission quota exhausted; try again later"
    TOO_BIG = "552 5.3.4 Message too big for this system"
    HEADER_TOO_BIG = "552 5.3.4 Header section too big: "
    LINE_TOO_LONG = "500 5.5.2 Line too long: the limit is 1000 bytes per line, CRLF included (RFC 5321 4.5.3.1.6)"
    NO_SPAM = "554 5.6.0 "
    NOT_MAIL = "554 5.6.0 Not a mail message"
    MALFORMED = "554 5.6.0 Malformed mail: "
    REFUSED = "550 5.7.1 Not accepted"
    NOT_A_FEED = "550 5.7.1 "
    BAD = "501 5.5.4 "
    STORAGE = "451 4.3.0 Temporary storage failure; nothing was stored, try again"
    LOCAL_ERROR = "451 4.3.0 Local error; try again later"
    TOO_FAST = "421 4.7.0 Too many connections from your address; try again later"
    TOO_MANY_MAILS = "421 4.7.0 Too many mails in one connection ([smtp] max_messages); closing, reconnect"

    def with_text(self, text: str) -> str:
        """This reply's code and enhanced code followed by `text`."""
        return f"{self.value}{text}"


AIOSMTPD_TOO_BIG = "552 Error"
"""How aiosmtpd's own size refusals begin; the server gives them `Reply.TOO_BIG` instead."""

AIOSMTPD_LINE_TOO_LONG = "500 Line too long"
"""How aiosmtpd's refusal of an over-long line begins; the server gives `Reply.LINE_TOO_LONG`."""


def status_for(error: BaseException) -> str:
    """The one place where errors become SMTP replies."""
    if isinstance(error, NoSpamAttached):
        return Reply.NO_SPAM.with_text(error.message)
    if isinstance(error, HeaderTooBig):
        return Reply.HEADER_TOO_BIG.with_text(error.message)
    if isinstance(error, MalformedMail):
        return Reply.MALFORMED.with_text(error.message)
    if isinstance(error, TooBig):
        return Reply.TOO_BIG
    if isinstance(error, NotMail):
        return Reply.NOT_MAIL
    if isinstance(error, BadInput):
        return Reply.BAD.with_text(error.message[:200])
    if isinstance(error, NotAuthenticated | NotFound):
        return Reply.UNKNOWN
    if isinstance(error, OverQuota):
        return Reply.OVER_QUOTA
    if isinstance(error, NotAFeed):
        return Reply.NOT_A_FEED.with_text(error.message)
    if isinstance(error, NotAllowed):
        return Reply.REFUSED
    if isinstance(error, StorageError):
        return Reply.STORAGE
    log.error("smtp: unexpected error %s: %s", type(error).__name__, error)
    return Reply.LOCAL_ERROR
