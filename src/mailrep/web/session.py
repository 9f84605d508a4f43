"""Browser sessions and CSRF tokens for the HTML pages (`web.pages`).

The session is a signed cookie (itsdangerous, HttpOnly, SameSite=Lax): a random session id and,
after `/login`, the hash of the API token the person logged in with (never the token itself).
Every state-changing form carries a CSRF token: the session id signed with another salt, so a
token is valid only with the cookie it was issued for. The signing secret is `[web]
session_secret`, else a random one written once to `<data_dir>/session_secret` (mode 0600).
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from mailrep.config import Settings
from mailrep.errors import NotAllowed

COOKIE = "mailrep_session"
MAX_AGE_S = 7 * 24 * 3600
SECRET_FILE = "session_secret"


def session_secret(settings: Settings) -> str:
    """The configured secret, else the one in the data dir (created with mode 0600 if missing)."""
    configured = settings.section("web").get("session_secret")
    if configured:
        return str(configured)
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    token_hash: str | None = None
    new: bool = False


class Sessions:
    def __init__(self, secret: str, *, secure: bool = False) -> None:
        self._cookie = URLSafeTimedSerializer(secret, salt="mailrep.session")
        self._csrf = URLSafeSerializer(secret, salt="mailrep.csrf")
        self.secure = secure

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: Any = self._cookie.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            return None
        th = data.get("th")
        return Session(data["sid"], th if isinstance(th, str) else None)

    def get(self, request: Request) -> Session:
        """The request's session, or a new anonymous one (`new`: `save` must set its cookie)."""
        return self.read(request) or Session(secrets.token_urlsafe(18), new=True)

    @staticmethod
    def start(token_hash: str | None) -> Session:
        """A fresh session (a new id at login and logout: no session fixation)."""
        return Session(secrets.token_urlsafe(18), token_hash, new=True)

    def save(self, response: Response, session: Session) -> None:
        if session.new:
            value = self._cookie.dumps({"sid": session.sid, "th": session.token_hash})
            response.set_cookie(COOKIE, value, max_age=MAX_AGE_S, httponly=True, samesite="lax",
                                secure=self.secure, path="/")

    def csrf_token(self, session: Session) -> str:
        return str(self._csrf.dumps(session.sid))

    def check_csrf(self, request: Request, token: str | None) -> Session:
        """The session of a POST whose CSRF token matches its cookie; NotAllowed (403) otherwise."""
        session = self.read(request)
        if session is None or not token:
            raise NotAllowed("the form has expired or was not sent from this site: reload it and retry")
        try:
            sid = self._csrf.loads(token)
        except BadSignature:
            sid = None
        if not isinstance(sid, str) or not hmac.compare_digest(sid, session.sid):
            raise NotAllowed("the form has expired or was not sent from this site: reload it and retry")
        return session
