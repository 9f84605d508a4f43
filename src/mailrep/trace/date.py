"""Dates as MTAs write them: RFC 5322 and the common broken variants.

`parse_date(text)` returns a timezone-aware UTC datetime, or None when the text holds no
usable date. It never raises. Accepted beyond RFC 5322: two- and three-digit years, ctime
order (`Fri Feb 07 10:18:12 2003 -0800`), zone names (UT, GMT, EST...), fractional seconds,
missing seconds, trailing comments and junk after the zone (`+0100 (CET) for <x@y>`).
A missing zone, or `-0000` ("zone unknown", RFC 5322 3.3), is read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

MAX_DATE_CHARS = 200
"""Longer text is cut before parsing: a real date is never this long."""

_FRACTION = re.compile(r"(\d{1,2}:\d{2}:\d{2})[.,]\d{1,9}\b", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MIN_YEAR = 1970
_MAX_YEAR = 9999


def parse_date(text: str) -> datetime | None:
    """The instant `text` names, in UTC; None if it is not a date (never raises)."""
    try:
        return _parse(text)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def _parse(text: str) -> datetime | None:
    if not isinstance(text, str):
        return None
    cleaned = _CONTROL.sub(" ", text[:MAX_DATE_CHARS]).strip()
    if not cleaned or not any(c.isdigit() for c in cleaned):
        return None
    cleaned = _FRACTION.sub(r"\1", cleaned)
    parts = parsedate_tz(cleaned)
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    if second == 60:  # a leap second: keep the instant, one second early is close enough
        second = 59
    if abs(offset) >= 24 * 3600:
        return None
    local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return local - timedelta(seconds=offset)
