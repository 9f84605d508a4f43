"""RFC 5782 section 5 test points: every served zone must list 127.0.0.2 (or ::FFFF:7F00:2, or
TEST for a domain list) and must not list 127.0.0.1 (::FFFF:7F00:1, INVALID).

Checked before a snapshot is ever served (startup and every swap); a snapshot that fails is
refused with a message naming the zone and the point, and the last good one keeps serving.
"""

from __future__ import annotations

from typing import Any

from mailrep.errors import BadInput


class TestPointsMissing(BadInput):
    """A zone fails the RFC 5782 test points (127.0.0.2 listed, 127.0.0.1 not)."""

    __test__ = False  # not a pytest class


def _v4(ip: str) -> tuple[bytes, ...]:
    return tuple(x.encode() for x in reversed(ip.split(".")))


def _v6(last32: int) -> tuple[bytes, ...]:
    # ::FFFF:7F00:000x as 32 reversed nibbles
    value = (0xFFFF << 32) | last32
    nibbles = f"{value:032x}"
    return tuple(c.encode() for c in reversed(nibbles))


# (listed point, its labels, never-listed point, its labels)
POINTS: tuple[tuple[str, tuple[bytes, ...], str, tuple[bytes, ...]], ...] = (
    ("127.0.0.2", _v4("127.0.0.2"), "127.0.0.1", _v4("127.0.0.1")),
    ("::FFFF:7F00:2", _v6(0x7F000002), "::FFFF:7F00:1", _v6(0x7F000001)),
    ("TEST", (b"test",), "INVALID", (b"invalid",)),
)


def _is_hit(result: Any) -> bool:
    return result is not None and hasattr(result, "ttl")


def check_zone(zone: Any) -> None:
    listed = []
    for yes_text, yes, no_text, no in POINTS:
        if _is_hit(zone.lookup(no)):
            raise TestPointsMissing(f"zone {zone.name}: RFC 5782 test point {no_text} must not be listed")
        hit = zone.lookup(yes)
        if _is_hit(hit):
            if not hit.a or any(a[:1] != b"\x7f" for a in hit.a):
                raise TestPointsMissing(f"zone {zone.name}: RFC 5782 test point {yes_text} "
                                        "answers outside 127/8")
            listed.append(yes_text)
    if not listed:
        raise TestPointsMissing(f"zone {zone.name}: RFC 5782 test point not listed "
                                "(need 127.0.0.2, ::FFFF:7F00:2 or TEST)")


def check_snapshot(snapshot: Any) -> None:
    """Raise TestPointsMissing unless every zone of the snapshot passes."""
    if not snapshot.zones:
        raise TestPointsMissing("the snapshot has no zones")
    for zone in snapshot.zones.values():
        check_zone(zone)
