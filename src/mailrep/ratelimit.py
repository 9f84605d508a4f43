"""A token bucket per key (the client address): `take(key, now)` or `OverQuota`."""

from __future__ import annotations

import threading

from mailrep.errors import OverQuota


class RateLimited(OverQuota):
    """Too many requests from this address; try again later."""

    def __init__(self, message: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenBucket:
    def __init__(self, *, capacity: int, per_seconds: float, max_keys: int = 100_000) -> None:
        self.capacity = max(1, capacity)
        self.rate = self.capacity / per_seconds
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> None:
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + max(0.0, now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited(retry_after=max(1, int((1.0 - tokens) / self.rate) + 1))
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # bounded memory under a flood of addresses
            self._buckets[key] = (tokens - 1.0, now)
