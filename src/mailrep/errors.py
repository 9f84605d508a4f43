"""The one exception tree of mailrep.

    MailrepError
     +-- BadInput          the caller sent something we cannot use (HTTP 400/413/415/422, SMTP 5xx, DNS FORMERR)
     |    +-- NotMail      bytes that are not an RFC 5322 message
     |    +-- TooBig       over a hard size limit
     +-- NotAuthenticated  no or unknown credentials (HTTP 401, SMTP 550 5.1.1)
     +-- NotAllowed        known caller, wrong role or state (HTTP 403)
     +-- NotFound          no such object (HTTP 404)
     +-- Conflict          the request clashes with current state (HTTP 409)
     |    +-- NotListed    a delisting asked for an address that is not listed
     +-- OverQuota         a rate or quota is exhausted (HTTP 429, SMTP 452 4.5.3)
     +-- StorageError      the database or disk failed (HTTP 503, SMTP 451)

Logic code raises these; each front door (HTTP, SMTP, DNS) turns them into wire codes in
exactly one place. A class docstring is its default message.
"""

from __future__ import annotations


class MailrepError(Exception):
    """mailrep failed."""

    code = "error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class BadInput(MailrepError):
    """The input is malformed."""

    code = "bad_input"


class NotMail(BadInput):
    """The input is not an RFC 5322 mail message."""

    code = "not_mail"


class TooBig(BadInput):
    """The input is larger than allowed."""

    code = "too_big"


class NotAuthenticated(MailrepError):
    """Missing or unknown credentials."""

    code = "not_authenticated"


class NotAllowed(MailrepError):
    """Not allowed for this account."""

    code = "not_allowed"


class NotFound(MailrepError):
    """No such object."""

    code = "not_found"


class Conflict(MailrepError):
    """The request conflicts with the current state."""

    code = "conflict"


class NotListed(Conflict):
    """The address is not listed."""

    code = "not_listed"


class OverQuota(MailrepError):
    """A quota or rate limit is exhausted."""

    code = "over_quota"


class StorageError(MailrepError):
    """The store failed; nothing was acknowledged."""

    code = "storage"
