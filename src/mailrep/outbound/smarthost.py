"""Sending mail through a smarthost by SMTP (blocking; callers run it in a thread).

    host = Smarthost.parse("127.0.0.1:2526", starttls=False, username="", password="")
    host.send("reports@mailrep.test", ["abuse@net.example"], mail_bytes)   # or SendError

STARTTLS is used when asked (`starttls`), AUTH when a user name is set (AUTH needs TLS unless
the smarthost is on loopback). A 5xx answer is permanent (`SendError.permanent`, a bounce);
anything else (4xx, connection or timeout) is worth a retry.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from mailrep.errors import MailrepError
from mailrep.net import parse_hostport

SEND_TIMEOUT = 30.0
DEFAULT_PORT = 25


class SendError(MailrepError):
    """The smarthost did not take the mail."""

    code = "send_failed"

    def __init__(self, message: str | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Smarthost:
    host: str
    port: int
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = SEND_TIMEOUT

    @classmethod
    def parse(cls, spec: str, **kw: object) -> Smarthost:
        host, port = parse_hostport(spec, DEFAULT_PORT)
        return cls(host, port, **kw)  # type: ignore[arg-type]

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as s:
                if self.starttls:
                    s.starttls(context=ssl.create_default_context())
                if self.username:
                    s.login(self.username, self.password)
                refused = s.sendmail(sender, list(recipients), data)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [c for c, _ in e.recipients.values()]
            raise SendError(f"recipients refused: {e.recipients}", permanent=all(c >= 500 for c in codes)) from e
        except smtplib.SMTPResponseException as e:
            text = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            raise SendError(f"{e.smtp_code} {text}", permanent=e.smtp_code >= 500) from e
        except (OSError, smtplib.SMTPException) as e:
            raise SendError(f"{type(e).__name__}: {e}") from e
        if refused:
            raise SendError(f"some recipients refused: {refused}",
                            permanent=all(c >= 500 for c, _ in refused.values()))

    def send_message(self, msg: EmailMessage) -> None:
        """An `EmailMessage` to its own To, from its own From."""
        self.send(str(msg["From"]), [a.strip() for a in str(msg["To"]).split(",")], msg.as_bytes())
