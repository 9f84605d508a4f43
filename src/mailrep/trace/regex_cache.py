"""Compiled regular expressions that a new process can load instead of compiling again.

The Received formats are ~130 patterns, most of them carrying the long IPv4/IPv6 address
pattern; compiling them costs ~0.25 s of CPU, which every `mailrep trace` process paid before
tracing its first message. `re` compiles in two steps: parsing the pattern and generating the
engine's code (pure Python, the slow part), then building the pattern object from that code
(`_sre.compile`, fast). This module keeps the generated code so that the next process only
does the second step:

    load(blob)          install code saved by an earlier process (bytes from `export`)
    compile_(p, flags)  a compiled pattern: from the loaded code when there, else compiled
    export()            everything compiled or loaded so far, as bytes; `changed()` says if
                        there is anything new to save

It stays pure (bytes in, bytes out): the command (cli/trace.py) owns the file, in the user's
own cache dir (trusted like the `.pyc` files beside it). The code is only reused by the very
Python that generated it (its bytecode magic number, `_sre.MAGIC` and code size are the saved
header, the caller keys the file by the exact Python version; a CRC covers the rest against damage), and anything unexpected (another Python, a damaged blob, code
the engine refuses, `re` internals that moved) falls back to compiling, so the patterns are
always the ones `re` would build; tests/trace/test_regex_cache.py checks that they match alike.
"""

from __future__ import annotations

import marshal
import re
import zlib
from array import array
from importlib.util import MAGIC_NUMBER
from typing import Any

try:  # CPython's regex engine internals (3.11+); without them: plain re.compile
    import _sre  # type: ignore[import-not-found]
    from re import _compiler, _parser  # type: ignore[attr-defined]

    _HEADER: tuple[Any, ...] | None = ("mailrep-regex-1", MAGIC_NUMBER, _sre.MAGIC, _sre.CODESIZE)
    if array("I").itemsize != _sre.CODESIZE:  # pragma: no cover - the code is stored as 'I' words
        _HEADER = None
except ImportError:  # pragma: no cover - other Pythons
    _HEADER = None

_Entry = tuple[int, bytes, int, dict[str, int], tuple[str | None, ...]]
_code: dict[tuple[str, int], _Entry] = {}
_changed = False


def load(blob: bytes) -> bool:
    """Install code saved by `export` (of this very Python); False when it cannot be used:
    another Python or `re` engine, or a blob whose checksum does not match (damaged)."""
    if _HEADER is None:
        return False
    try:
        header, digest, payload = marshal.loads(blob)
        if tuple(header) != _HEADER or zlib.crc32(payload) != digest:
            return False
        entries = marshal.loads(payload)
        if not isinstance(entries, dict):
            return False
    except Exception:  # a damaged or foreign file: ignore it
        return False
    global _changed
    _changed = any(key not in entries for key in _code)  # compiled before the load
    for key, entry in entries.items():
        _code.setdefault(key, entry)
    return True


def export() -> bytes:
    """The code of every pattern compiled or loaded in this process, for `load`."""
    global _changed
    _changed = False
    payload = marshal.dumps(_code)
    return marshal.dumps((_HEADER, zlib.crc32(payload), payload))


def changed() -> bool:
    """Whether patterns were compiled since the last `load`/`export` (worth saving)."""
    return _changed


def compile_(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`re.compile(pattern, flags)`, from loaded code when available."""
    flags = int(flags)
    entry = _code.get((pattern, flags))
    if entry is not None:
        try:
            return _build(pattern, entry)
        except Exception:  # code from elsewhere that this engine refuses: compile afresh
            del _code[(pattern, flags)]
    if _HEADER is None:
        return re.compile(pattern, flags)
    try:
        entry = _generate(pattern, flags)
        rx = _build(pattern, entry)
    except Exception:  # re internals not as expected: the public way
        return re.compile(pattern, flags)
    global _changed
    _code[(pattern, flags)] = entry
    _changed = True
    return rx


def _generate(pattern: str, flags: int) -> _Entry:
    """What `re._compiler.compile` computes before handing over to `_sre.compile`."""
    parsed = _parser.parse(pattern, flags)
    code = _compiler._code(parsed, flags)
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    return (int(flags | parsed.state.flags), array("I", code).tobytes(), parsed.state.groups - 1,
            groupindex, tuple(indexgroup))


def _build(pattern: str, entry: _Entry) -> re.Pattern[str]:
    flags, code, groups, groupindex, indexgroup = entry
    words = array("I")
    words.frombytes(code)
    rx: re.Pattern[str] = _sre.compile(pattern, flags, words.tolist(), groups, groupindex, indexgroup)
    return rx
