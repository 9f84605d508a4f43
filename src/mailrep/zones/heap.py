"""Give freed heap memory back to the OS after building a big zone.

Loading a million entries makes large short-lived temporaries; glibc keeps the freed pages
(its mmap threshold grows after the first big free), so a DNS node would look 3x bigger
than its data. `trim()` calls glibc's malloc_trim(0) when available, else does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

_libc: Any = None


def trim() -> bool:
    """Return freed memory to the OS; True when malloc_trim was available and called."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True
