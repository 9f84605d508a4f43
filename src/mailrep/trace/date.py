"""Dates as MTAs write them: RFC 5322 and the common broken variants.

`parse_date(text)` returns a timezone-aware UTC datetime, or None when the text holds no
usable date. It never raises. Accepted beyond RFC 5322: two- and three-digit years
(RFC 5322 4.3), ctime order (`Fri Feb 07 10:18:12 2003 -0800`), zone names (UT, GMT, EST...),
fractional seconds, missing seconds, trailing comments and junk after the zone
(`+0100 (CET) for <x@y>`). A missing or unknown zone, or `-0000` ("zone unknown"), is UTC.

The usual shape is read by one precompiled pattern; anything else goes through the
standard library's more forgiving `email.utils.parsedate_tz`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

MAX_DATE_CHARS = 200
"""Longer text is cut before parsing: a real date is never this long."""

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
ZONES = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}  # fmt: skip
"""RFC 5322 4.3 obsolete zone names, in hours east of UTC."""

_DAYNAME = r"\s*(?:[A-Za-z]{3}[a-z]*,?\s*)?"
_CLOCK = (
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:[.,]\d{1,9})?(?:\s*(?P<ampm>[AaPp][Mm])\b)?"
)
_ZONE = r"(?:\s*(?P<num>[+-]\d{3,4})\b|\s+(?P<name>[A-Za-z]{1,5})\b)?"
_SHAPES = tuple(
    re.compile(_DAYNAME + shape, re.ASCII)
    for shape in (
        # 14 Nov 2003 08:05:50 -0000 (RFC 5322)
        rf"(?P<d>\d{{1,2}})[\s-]+(?P<mon>[A-Za-z]{{3}})[a-z]*\.?[\s-]+(?P<y>\d{{2,4}})\s+{_CLOCK}{_ZONE}",
        # Aug, 22 2002 8:02:13 AM +0400 (bulk mailers)
        rf"(?P<mon>[A-Za-z]{{3}})[a-z]*,?\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})\s+{_CLOCK}{_ZONE}",
        # Fri Feb 07 10:18:12 2003 -0800, Fri Sep 14 14:36:56 EDT 2018 (ctime)
        rf"(?P<mon>[A-Za-z]{{3}})\s+(?P<d>\d{{1,2}})\s+{_CLOCK}{_ZONE}\s+(?P<y>\d{{4}})\b{_ZONE.replace('num', 'num2').replace('name', 'name2')}",
        # 28/08/2002 09:22:41 (day first unless that cannot be)
        rf"(?P<d>\d{{1,2}})/(?P<mo>\d{{1,2}})/(?P<y>\d{{4}})\s+{_CLOCK}{_ZONE}",
    )
)
_FRACTION = re.compile(r"(\d{1,2}:\d{2}:\d{2})[.,]\d{1,9}\b", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MIN_YEAR = 1970
_MAX_YEAR = 9999


def parse_date(text: str) -> datetime | None:
    """The instant `text` names, in UTC; None if it is not a date (never raises)."""
    if not isinstance(text, str):
        return None
    try:
        return _parse(text[:MAX_DATE_CHARS])
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


# The RFC 5322 shape with a numeric zone, by far the most common: read without the loop.
_PLAIN = re.compile(
    r"\s*(?:[A-Za-z]{3},?\s*)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d\d)(\d\d)\b",
    re.ASCII,
)


def _parse(text: str) -> datetime | None:
    m = _PLAIN.match(text)
    if m is not None and (month := MONTHS.get(m.group(2).lower())):
        day, _, year, hour, minute, second, sign, zh, zm = m.groups()
        offset = int(zh) * 3600 + int(zm) * 60
        return _build(_full_year(year), month, int(day), int(hour), int(minute), int(second),
                      -offset if sign == "-" else offset)  # fmt: skip
    for shape in _SHAPES:
        m = shape.match(text)
        if m is None:
            continue
        got = m.groupdict()
        if "mon" in got:
            month = MONTHS.get(got["mon"].lower(), 0)
            if not month:
                continue
            day = int(got["d"])
        else:  # numeric day/month: day first, unless only month first makes sense
            day, month = int(got["d"]), int(got["mo"])
            if month > 12 >= day:
                day, month = month, day
        hour = int(got["h"])
        if got["ampm"]:
            hour = hour % 12 + (12 if got["ampm"].lower() == "pm" else 0)
        offset = _offset(got.get("num") or got.get("num2"), got.get("name") or got.get("name2"))
        return _build(
            _full_year(got["y"]), month, day, hour, int(got["mi"]), int(got["s"] or 0), offset
        )
    return _fallback(text)


def _offset(numeric: str | None, named: str | None) -> int:
    """Seconds east of UTC: +HHMM (a 3-digit +HMM is tolerated), or a zone name."""
    if numeric:
        digits = numeric[1:].rjust(4, "0")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        return -minutes * 60 if numeric[0] == "-" else minutes * 60
    return ZONES.get(named.upper(), 0) * 3600 if named else 0


def _fallback(text: str) -> datetime | None:
    cleaned = _CONTROL.sub(" ", text).strip()
    if not cleaned or not any(c.isdigit() for c in cleaned):
        return None
    parts = parsedate_tz(_FRACTION.sub(r"\1", cleaned))
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    return _build(year, month, day, hour, minute, second, parts[9] or 0)


def _full_year(digits: str) -> int:
    year = int(digits)
    if len(digits) == 2:
        return year + (2000 if year < 50 else 1900)
    if 100 <= year < 1000:  # three digits (RFC 5322 4.3), or Y2K-era "0102" for 2002
        return year + 1900
    return year


def _build(
    year: int, month: int, day: int, hour: int, minute: int, second: int, offset: int
) -> datetime | None:
    if not _MIN_YEAR <= year <= _MAX_YEAR or abs(offset) >= 24 * 3600:
        return None
    if second == 60:  # a leap second: one second early is close enough
        second = 59
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return moment - timedelta(seconds=offset) if offset else moment
