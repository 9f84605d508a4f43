"""rbldnsd data files, the common part: lines, specials, `:A:TXT` values, per-dataset state.

Every dataset type reads its files through a `Loader`: lines are stripped; empty lines and
lines starting with `#` or `;` are comments; `$SOA`, `$NS`, `$TTL`, `$MAXRANGE4`, `$0`-`$9`
and `$=` are specials (also written `#$` / `:$`); a line starting with `:` sets the default
`:A:TXT` for the rest of the file; anything else is an entry for the type's `entry()`.
Bad lines are warnings, never exceptions. One deliberate difference: a trailing CR is
stripped (rbldnsd keeps it, so every line of a CRLF file is invalid there).
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mailrep.errors import BadInput
from mailrep.zones import ip4parse
from mailrep.zones.value import LISTED_A, Value, compile_template
from mailrep.zones.zone import DEFAULT_TTL, Dataset, normalize_name

COMMENT = ("#", ";")


class RbldnsdError(BadInput):
    """An rbldnsd dataset specification cannot be used."""


@dataclass(frozen=True, slots=True)
class RawValue:
    """An rbldnsd (A, TXT) pair before template compilation; txt '' means no TXT."""

    a: bytes
    txt: str


DEFAULT_RAW = RawValue(LISTED_A, "")
TRIVIAL = frozenset({"ip4tset", "ip6tset"})


def parse_a_txt(s: str, default: RawValue) -> RawValue | str:
    """`:A:TXT`, `:A`, or `TXT` -> RawValue, or an error message (rbldnsd's rules)."""
    s = s.lstrip(" \t")
    if s.startswith(":"):
        a, rest = ip4parse.a_value(s[1:])
        if a is None:
            return "invalid A RR"
        rest = rest.lstrip(" \t")
        if rest.startswith(":"):
            txt = rest[1:].lstrip(" \t")
        elif rest:
            return "unrecognized value for an entry"
        else:
            return RawValue(a, default.txt)
    else:
        a, txt = default.a, s
    if len(txt.encode("utf-8", "surrogateescape")) > 255:
        txt = txt.encode("utf-8", "surrogateescape")[:255].decode("utf-8", "surrogateescape")
    return RawValue(a, txt)


@dataclass
class DatasetState:
    """What one dataset accumulates while its files are read."""

    kind: str
    name: str = ""
    ttl: int = DEFAULT_TTL
    soa: tuple | None = None
    ns: list[str] | None = None
    ns_ttl: int | None = None
    subst: dict[str, str] = field(default_factory=dict)
    maxrange4: int = 0
    mtime: int = 0  # newest data file (the serial when $SOA says 0)
    default: RawValue = DEFAULT_RAW
    raw: list = field(default_factory=list)  # type-specific parsed entries

    def value(self, rv: RawValue) -> Value:
        base = self.subst.get("=")
        txt = compile_template(rv.txt or None, subst=self.subst, base=base)
        if base is None and rv.txt == "":
            txt = None
        return Value((rv.a,), txt, self.ttl)


class Loader:
    """Reads the files of one dataset, line by line, warning on bad lines."""

    def __init__(self, kind: str, warn: Callable[[str], None]) -> None:
        self.state = DatasetState(kind)
        self.warn = warn
        self.pos: tuple[object, int] = ("", 0)  # file and line number, for warnings
        # trivial sets (ip4tset, ip6tset) have ONE value: the first good ':A:TXT' line of
        # the whole dataset, for every entry, even those above it (as in rbldnsd)
        self.trivial = kind in TRIVIAL
        self._tset_value: RawValue | None = None
        self._sentinel = RawValue(LISTED_A, "")  # a distinct object, resolved at the end
        if self.trivial:
            self.state.default = self._sentinel

    def resolve(self, rv: RawValue) -> RawValue:
        """The real value of an entry (trivial sets learn theirs only at the end)."""
        if rv is self._sentinel:
            return self._tset_value or DEFAULT_RAW
        return rv

    @property
    def where(self) -> str:
        return f"{self.pos[0]}({self.pos[1]})"

    def read_files(self, files: Sequence[str | os.PathLike[str]]) -> None:
        for f in files:
            self.start_file()
            path = Path(f)
            try:
                with open(path, "rb") as fh:
                    st0 = os.fstat(fh.fileno())
                    data = fh.read()
                    st1 = os.fstat(fh.fileno())
            except OSError as e:
                raise RbldnsdError(f"{path}: unable to open file: {e.strerror}") from e
            if (st0.st_mtime_ns, st0.st_size) != (st1.st_mtime_ns, st1.st_size) or len(data) != st1.st_size:
                raise RbldnsdError(f"{path}: file changed while we were reading it "
                                   "(write to a temp file and rename it instead)")
            self.state.mtime = max(self.state.mtime, int(st1.st_mtime))
            if data[:2] == b"\x1f\x8b":
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError) as e:
                    raise RbldnsdError(f"{path}: bad gzip data: {e}") from e
            self.feed(path, self._lines(path, data))

    def _lines(self, path: Path, data: bytes) -> Iterator[str]:
        """Lines one at a time (only '\\n' ends a line, as in rbldnsd); a big file never
        exists as a million strings at once, which would fragment the heap for good."""
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline="\n")
        for no, line in enumerate(text, 1):
            if not line.endswith("\n"):
                # rbldnsd warns "incomplete last line (ignored)" but does use the line
                self.warn(f"{path}({no}): incomplete last line")
                yield line
                return
            yield line[:-1]

    def feed(self, path: Path, lines: Iterable[str]) -> None:
        for no, line in enumerate(lines, 1):
            self.pos = (path, no)
            self.line(line.strip(" \t\r"))

    def start_file(self) -> None:
        if not self.trivial:
            self.state.default = DEFAULT_RAW  # ':A:TXT' defaults end with their file

    def line(self, line: str) -> None:
        if line.startswith("$") or (len(line) > 1 and line[0] in "#;:" and line[1] == "$"):
            if not self.special(line[1:] if line[0] == "$" else line[2:]):
                self.warn(f"{self.where}: invalid or unrecognized special entry")
            return
        if not line or line[0] in COMMENT:
            return
        self.entry(line)

    def special(self, line: str) -> bool:
        st = self.state
        parts0 = line.split(None, 1)
        w = parts0[0].lower() if parts0 else ""
        rest = parts0[1].strip(" \t") if len(parts0) > 1 else ""
        if w == "soa":
            if st.soa is not None:
                return True
            parts = rest.split()
            if len(parts) != 8:
                return False
            try:
                ttl = ip4parse.time_value(parts[0]) or st.ttl
                nums = [int(parts[3])] + [ip4parse.time_value(x) for x in parts[4:]]
                names = [normalize_name(parts[1]), normalize_name(parts[2])]
            except (ValueError, BadInput):
                return False
            st.soa = (names[0], names[1], nums[0], nums[1], nums[2], nums[3], nums[4], ttl)
            return True
        if w in ("ns", "nameserver"):
            if st.ns is not None:
                return True
            parts = rest.split()
            if not parts:
                return False
            try:
                ttl = ip4parse.time_value(parts[0]) or st.ttl
                names = [normalize_name(p) for p in parts[1:] if not p.startswith("-")]
            except (ValueError, BadInput):
                return False
            st.ns, st.ns_ttl = names[:32], ttl
            return True
        if w == "ttl":
            try:
                st.ttl = ip4parse.time_value(rest) or DEFAULT_TTL
            except ValueError:
                return False
            return True
        if w == "maxrange4":
            try:
                if rest.startswith("/"):
                    bits = int(rest[1:])
                    if not 0 < bits <= 32:
                        return False
                    r = 1 << (32 - bits)
                else:
                    r = int(rest)
                if r <= 0:
                    return False
            except ValueError:
                return False
            if st.maxrange4 and st.maxrange4 < r:
                self.warn(f"{self.where}: ignoring attempt to increase $MAXRANGE4")
            else:
                st.maxrange4 = r
            return True
        if len(line) > 1 and (line[0].isdigit() or line[0] == "=") and line[1] in " \t":
            key = line[0]
            text = line[2:].lstrip(" \t")
            if not text:
                return False
            st.subst.setdefault(key, text)
            return True
        return w == "timestamp"  # accepted and ignored (rbldnsd: experimental)

    def default_line(self, line: str) -> None:
        if self.trivial and self._tset_value is not None:
            return  # later default lines of a trivial set are ignored
        # a ':A' default line takes its TXT from the built-in default (none), not from the
        # previous default line: rbldnsd parses default lines against the global default
        rv = parse_a_txt(line, DEFAULT_RAW)
        if isinstance(rv, str):
            self.warn(f"{self.where}: {rv}")
            return
        if self.trivial:
            self._tset_value = rv
        else:
            self.state.default = rv

    def entry(self, line: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def finish(self) -> Dataset:  # pragma: no cover - overridden
        raise NotImplementedError


def _value_part(s: str) -> tuple[bool, str]:
    """After a key: (ok, value text). The key must end at space, comment or ':'."""
    if not s:
        return True, ""
    if s[0] in " \t" or s[0] in COMMENT or s[0] == ":":
        return True, s.lstrip(" \t")
    return False, ""


def dn_key(token: str) -> bytes | None:
    """A domain name as written in a data file -> lowercase key, or None if invalid."""
    t = token[:-1] if token.endswith(".") else token
    if not t:
        return None
    try:
        raw = t.encode("ascii")
    except UnicodeEncodeError:
        raw = t.encode("utf-8", "surrogateescape")
    # rbldnsd reads 'a..b' as 'a.b' (empty labels vanish); so do we, to answer alike
    labels = [lab for lab in raw.lower().split(b".") if lab]
    if not labels or any(len(lab) > 63 for lab in labels) or len(raw) > 253:
        return None
    return b".".join(labels)
