"""The one clock: `Clock` is what every service, door and command takes to learn the time.

    clock: Clock = system_clock      # the real time, timezone-aware UTC
    clock = lambda: FIXED            # a test's frozen time

Nothing below the composition root calls `datetime.now()` itself; it is handed a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, as a timezone-aware UTC datetime."""
    return datetime.now(UTC)
