"""rbldnsd `combined` datasets: several datasets in one file, each attached to subzones.

    $NS / $SOA / $TTL ...            common section ($SOA and $NS are the base zone's)
    $DATASET ip4set:proxy proxies @  following lines form an ip4set for 'proxies' and the base
    ...

A query goes to the datasets of the most specific subzone it falls in (like rbldnsd's
findqzone); the subzone's own name exists (NODATA); names between the base zone and a
subzone are empty non-terminals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Final

from mailrep.zones.datafile import DatasetState, Loader, dn_key
from mailrep.zones.datasets import LOADERS
from mailrep.zones.zone import ENT, Answer, Dataset, merge_answers


class Combined:
    """Datasets keyed by subzone (labels relative to the base zone, () for '@')."""

    kind: Final = "combined"
    __slots__ = ("_depths", "_ents", "subzones")

    def __init__(self, subzones: dict[tuple[bytes, ...], list[Dataset]]) -> None:
        self.subzones = {k: tuple(v) for k, v in subzones.items()}
        self._depths = sorted({len(k) for k in self.subzones}, reverse=True)
        ents: set[tuple[bytes, ...]] = set()
        for k in self.subzones:
            for i in range(1, len(k)):
                ents.add(k[i:])
        self._ents = frozenset(ents)

    def lookup(self, sub: tuple[bytes, ...]) -> Answer:
        n = len(sub)
        for d in self._depths:
            if d > n:
                continue
            key = sub[n - d :] if d else ()
            dss = self.subzones.get(key)
            if dss is None:
                continue
            rest = sub[: n - d]
            if not rest:
                return ENT  # the subzone's own name
            ans = merge_answers([ds.lookup(rest) for ds in dss])
            if ans is None and sub in self._ents:
                return ENT
            return ans
        return ENT if sub in self._ents else None

    def __len__(self) -> int:
        return sum(len(ds) for dss in self.subzones.values() for ds in dss)

    def __repr__(self) -> str:
        return f"<Combined subzones={len(self.subzones)}>"


class CombinedLoader(Loader):
    """Reads a combined file: specials go to the base (or the current subset), lines to it."""

    def __init__(self, kind: str, warn: Callable[[str], None]) -> None:
        super().__init__(kind, warn)
        self.current: Loader | None = None
        self.parts: list[tuple[Loader, list[tuple[bytes, ...]]]] = []

    def start_file(self) -> None:
        pass  # a $DATASET section continues into the next file, as in rbldnsd

    def special(self, line: str) -> bool:
        parts = line.split(None, 1)
        w = parts[0].lower() if parts else ""
        if w == "dataset":
            return self.new_set(parts[1] if len(parts) > 1 else "")
        cur = self.current
        if cur is not None and (w in ("ttl", "maxrange4") or (len(line) > 1 and line[1] in " \t")):
            return cur.special(line)
        return super().special(line)

    def new_set(self, rest: str) -> bool:
        for i, c in enumerate(rest):  # a comment starts at # or ; after a space
            if c in "#;" and (i == 0 or rest[i - 1] in " \t"):
                rest = rest[:i]
                break
        words = rest.split()
        if not words:
            return False
        kind = words[0].partition(":")[0].lower()
        factory = LOADERS.get(kind)
        if factory is None:
            self.warn(f"{self.where}: unknown dataset type `{kind}' (lines ignored)")
            self.current = _Ignore(kind, self.warn)
            return True
        sub = factory(kind, self.warn)
        sub.state.ttl = self.state.ttl
        sub.state.subst = dict(self.state.subst)
        sub.state.maxrange4 = self.state.maxrange4
        names: list[tuple[bytes, ...]] = []
        for w in words[1:]:
            if w == "@":
                names.append(())
                continue
            key = dn_key(w)
            if key is None:
                self.warn(f"{self.where}: invalid domain name `{w}'")
                continue
            names.append(tuple(key.split(b".")))
        if not names:
            self.warn(f"{self.where}: no subzone(s) specified for dataset, data will be ignored")
        self.current = sub
        self.parts.append((sub, names))
        return True

    def entry(self, line: str) -> None:
        if self.current is None:
            self.warn(f"{self.where}: invalid/unrecognized entry - specify $DATASET line")
            return
        self.current.pos = self.pos
        self.current.entry(line)

    def line(self, line: str) -> None:
        if self.current is not None:
            self.current.pos = self.pos
        super().line(line)

    def finish(self) -> Dataset:
        subzones: dict[tuple[bytes, ...], list[Dataset]] = {}
        for loader, names in self.parts:
            ds = loader.finish()
            for n in names:
                subzones.setdefault(n, []).append(ds)
        return Combined(subzones)


class _Ignore(Loader):
    def entry(self, line: str) -> None:
        pass


def load_combined(
    files: Sequence[str | os.PathLike[str]], warn: Callable[[str], None]
) -> tuple[DatasetState, Dataset]:
    ld = CombinedLoader("combined", warn)
    ld.read_files(files)
    return ld.state, ld.finish()  # the combined file's $SOA/$NS/$TTL/mtime are the base zone's
