"""Domain dataset with rbldnsd `dnset` semantics.

    a.com      the name a.com only
    *.a.com    every name below a.com (any depth), not a.com itself
    .a.com     both
    !a.com     exclusion of an exact name; !*.a.com / !.a.com exclude below a.com

An exact entry (listing or exclusion) decides first; otherwise the closest wildcard above
the name decides. The TXT key (`$`) is the listed entry's name: the queried name for an
exact entry, the wildcard's base for a wildcard (as rbldnsd does). Names above an entry
are empty non-terminals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from mailrep.zones.value import EXCLUDED, Value, ValueTable
from mailrep.zones.zone import ENT, Answer


class DnSet:
    """An immutable domain dataset; keys are lowercase dotted names without a final dot."""

    kind: Final = "dn"
    __slots__ = ("_ents", "_hits", "_maxw", "exact", "values", "wild")

    def __init__(self, exact: Mapping[bytes, int], wild: Mapping[bytes, int],
                 values: tuple[Value | None, ...] | list[Value | None]) -> None:
        self.exact = dict(exact)
        self.wild = dict(wild)
        self.values = tuple(values)
        self._hits = tuple(v.hit(b"") if v is not None and v.static else None for v in self.values)
        self._maxw = max((k.count(b".") + 1 for k in self.wild), default=0)
        ents: set[bytes] = set()
        for start, table in ((1, self.exact), (0, self.wild)):
            for key, vi in table.items():
                if vi == EXCLUDED:
                    continue
                labels = key.split(b".")
                for i in range(start, len(labels)):
                    ents.add(b".".join(labels[i:]))
        self._ents = frozenset(ents)

    def _answer(self, vi: int, key: bytes) -> Answer:
        if vi == EXCLUDED:
            return None
        h = self._hits[vi]
        if h is not None:
            return h
        return self.values[vi].hit(key)  # type: ignore[union-attr]

    def lookup(self, sub: tuple[bytes, ...]) -> Answer:
        if not sub:
            return None
        name = b".".join(sub)
        vi = self.exact.get(name)
        if vi is not None:
            return self._answer(vi, name)
        wild = self.wild
        if wild:
            n = len(sub)
            for i in range(max(1, n - self._maxw), n):
                base = b".".join(sub[i:])
                vi = wild.get(base)
                if vi is not None:
                    return self._answer(vi, base)
        return ENT if name in self._ents else None

    def __len__(self) -> int:
        return len(self.exact) + len(self.wild)

    def entries(self) -> Iterator[tuple[bytes, bool, int]]:
        """(name, is_wildcard, value index) sorted by name, exact entries first."""
        for k in sorted(self.exact):
            yield k, False, self.exact[k]
        for k in sorted(self.wild):
            yield k, True, self.wild[k]

    def __repr__(self) -> str:
        return f"<DnSet exact={len(self.exact)} wild={len(self.wild)}>"


class DnBuilder(ValueTable):
    """Collects dnset entries (duplicates merged, exclusions win), then builds a `DnSet`."""

    def __init__(self) -> None:
        super().__init__()
        self._exact: dict[bytes, list[int]] = {}
        self._wild: dict[bytes, list[int]] = {}

    def add(self, name: bytes, vi: int, *, exact: bool = True, wild: bool = False) -> None:
        if exact:
            self._exact.setdefault(name, []).append(vi)
        if wild:
            self._wild.setdefault(name, []).append(vi)

    def build(self) -> DnSet:
        exact = {k: self.merge_group(v) for k, v in self._exact.items()}
        wild = {k: self.merge_group(v) for k, v in self._wild.items()}
        return DnSet(exact, wild, self.values)
