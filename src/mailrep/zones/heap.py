"""Give freed heap memory back to the OS after building a big zone.

Loading a million entries makes large short-lived temporaries; glibc keeps the freed pages
(its mmap threshold grows after the first big free), so a DNS node would look 3x bigger
than its data. `trim()` calls glibc's malloc_trim(0) when available, else does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    """glibc's malloc_trim, loaded once; None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    return fn


def trim() -> bool:
    """Return freed memory to the OS; True when malloc_trim was available and called."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True
