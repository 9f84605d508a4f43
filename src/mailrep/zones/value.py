"""What a listed entry answers: A value(s), a TXT template, a TTL; and the table that interns them.

A TXT template is kept as `segments`: the text split where the queried key goes, so that
answering is `key.join(segments)`. rbldnsd's `$n` variables, `$=` base template and `$$`
escapes are resolved when the template is compiled, not per query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from mailrep.errors import BadInput
from mailrep.zones.zone import Hit

EXCLUDED: Final = 0  # value index of an exclusion entry
LISTED_A: Final = b"\x7f\x00\x00\x02"  # 127.0.0.2, the default listing value
_new_tuple: Final = tuple.__new__


Segments = tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Value:
    a: tuple[bytes, ...]
    txt: Segments | None  # template segments; the key goes between them
    ttl: int
    more: tuple[Segments, ...] = ()  # further TXT templates (duplicate entries, merged)

    def hit(self, key: bytes) -> Hit:
        t = self.txt
        txt = None if t is None else (t[0] if len(t) == 1 else key.join(t))
        if not self.more:
            return _new_tuple(Hit, (self.a, txt, self.ttl, ()))  # Hit(...) without the Python __new__
        return Hit(self.a, txt, self.ttl, tuple(m[0] if len(m) == 1 else key.join(m) for m in self.more))

    @property
    def static(self) -> bool:
        """True when the answer does not depend on the queried key."""
        return all(len(t) == 1 for t in self.templates())

    def templates(self) -> tuple[Segments, ...]:
        return ((self.txt,) if self.txt is not None else ()) + self.more

    def template(self) -> str | None:
        """The first TXT template in rbldnsd form ('$' for the key, '$$' for a dollar)."""
        return None if self.txt is None else template_text(self.txt)


def template_text(segs: Segments) -> str:
    return "$".join(s.decode("utf-8", "surrogateescape").replace("$", "$$") for s in segs)


def merge_values(values: Iterable[Value]) -> Value:
    """One value answering for several entries with the same key: all A values, all TXTs."""
    vs = list(values)
    a: list[bytes] = []
    txts: list[Segments] = []
    for v in vs:
        a.extend(x for x in v.a if x not in a)
        txts.extend(t for t in v.templates() if t not in txts)
    return Value(tuple(a), txts[0] if txts else None, min(v.ttl for v in vs), tuple(txts[1:]))


def compile_template(
    text: str | None, *, subst: Mapping[str, str] | None = None, base: str | None = None,
) -> tuple[bytes, ...] | None:
    """Template text -> segments, rbldnsd style.

    `$` is the queried key, `$$` a dollar sign, `$0`..`$9` substitution variables. With a
    base template (`$=` line) the base is expanded and the entry's text goes, verbatim,
    where the base says `$=` (the key when the entry has no text), unless the entry text
    starts with `=`, which opts out of the base template (as rbldnsd 1.0 does).
    """
    subst = subst or {}
    if base is not None:
        if text is not None and text.startswith("="):
            return _compile(text[1:], subst, None)
        return _compile(base, subst, text or None, base_mode=True)
    if text is None:
        return None
    return _compile(text, subst, None)


def _compile(tmpl: str, subst: Mapping[str, str], entry: str | None, *, base_mode: bool = False) -> tuple[bytes, ...]:
    parts: list[str] = []
    cur: list[str] = []
    i, n = 0, len(tmpl)
    while i < n:
        c = tmpl[i]
        if c != "$":
            cur.append(c)
            i += 1
            continue
        nxt = tmpl[i + 1] if i + 1 < n else ""
        if nxt == "$":
            cur.append("$")
            i += 2
        elif nxt.isdigit() and nxt.isascii():
            cur.append(subst.get(nxt, "$" + nxt))  # an undefined $n stays as written
            i += 2
        elif nxt == "=" and base_mode:
            if entry is not None:
                cur.append(entry)  # the entry's own text, not expanded again
            else:
                parts.append("".join(cur))
                cur = []
            i += 2
        else:
            parts.append("".join(cur))
            cur = []
            i += 1
    parts.append("".join(cur))
    return tuple(p.encode("utf-8", "surrogateescape") for p in parts)


def a_bytes(text: str) -> bytes:
    """'127.0.0.2' (or rbldnsd's short form '2' = 127.0.0.2) -> 4 bytes."""
    parts = text.strip().split(".")
    if len(parts) == 1:
        parts = ["127", "0", "0", parts[0]]
    if len(parts) != 4 or not all(p.isdigit() and p.isascii() and int(p) <= 255 for p in parts):
        raise BadInput(f"bad A value: {text!r}")
    return bytes(int(p) for p in parts)


class ValueTable:
    """The values a dataset builder interns, so that entries refer to them by a small index.

    Index 0 is the exclusion (`values[0]` is None); equal values share one index.
    """

    def __init__(self, values: Sequence[Value | None] | None = None) -> None:
        self.values: list[Value | None] = list(values) if values is not None else [None]
        self._index: dict[Value, int] = {v: i for i, v in enumerate(self.values) if v is not None}

    def value_index(self, v: Value | None) -> int:
        if v is None:
            return EXCLUDED
        i = self._index.get(v)
        if i is None:
            i = self._index[v] = len(self.values)
            self.values.append(v)
        return i

    def merge_group(self, group: list[int]) -> int:
        """The one value index for a key given several: an exclusion wins (as in rbldnsd),
        else the values merged."""
        if EXCLUDED in group:
            return EXCLUDED
        uniq = list(dict.fromkeys(group))
        if len(uniq) == 1:
            return uniq[0]
        return self.value_index(merge_values(self.values[i] for i in uniq))  # type: ignore[misc]
