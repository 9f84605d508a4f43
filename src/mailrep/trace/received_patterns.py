"""Building blocks for the Received parser: address patterns and a tiny rule engine.

A format is a `Take` rule (a pattern anchored at the start of the text after `from `, with the
fields its groups fill) or a `Skip` rule (a known non-relay line and why it is skipped).
`Family` groups the rules of one MTA behind a cheap test, like an if/elif chain: only the
first family whose test passes is tried. Every pattern is compiled once, with re.ASCII so
that \\d, \\w, \\s and \\b mean what MTAs mean by them.

Speed and safety, without changing any answer:
- `table()` merges runs of unguarded rules into one alternation, so the regex engine, not a
  Python loop, tries them in order (the first alternative that matches is the first rule).
- `\\S+` followed by a blank is made possessive (`\\S++`): it can never usefully give back a
  character, and not retrying it keeps failing matches linear.
- Address patterns start with cheap look-aheads (the first character; two early colons for
  IPv6), so trying an address at a position that cannot hold one costs almost nothing.
- No nested quantifiers over the same characters; where SpamAssassin's own pattern retries
  an unbounded tail once per candidate, the format is written as code (received_quirks).
- Patterns are compiled on first use, through `regex_cache` (a command reuses the compiled
  code of earlier runs instead of paying ~0.25 s to compile them again).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailrep.trace import regex_cache

_OCTET = r"(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)"
_V4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
_H = r"[a-f0-9]{1,4}"

# An IPv4 or IPv6 address as MTAs print it (IPv6 with an optional `IPv6:` tag, IPv4-mapped
# forms accepted). The same address grammar SpamAssassin and RFC 4291 use.
IP = (
    r"(?=[0-9a-fA-F:Ii])"  # every form starts so: a cheap first test
    r"(?i:"
    rf"\b(?<!:){_V4}\b"
    r"|(?:IPv6:|(?<![a-f0-9:]))"
    r"(?=[a-f0-9]{0,4}:[a-f0-9]{0,4}:)"  # every IPv6 form starts with two such colons
    r"(?:"
    rf"(?:(?:{_H}:){{6}}|::(?:{_H}:){{0,5}}|(?:{_H}:){{1,5}}:|{_H}::(?:{_H}:){{1,4}}"
    rf"|(?:{_H}:){{2}}:(?:{_H}:){{1,3}}|(?:{_H}:){{3}}:(?:{_H}:){{1,2}}|(?:{_H}:){{4}}:{_H}:)"
    rf"{_V4}"
    rf"|(?:{_H}:){{7}}{_H}"
    rf"|:(?::{_H}){{1,7}}"
    rf"|(?:{_H}:){{1,7}}:"
    rf"|{_H}:(?::{_H}){{1,6}}"
    rf"|(?:{_H}:){{2}}(?::{_H}){{1,5}}"
    rf"|(?:{_H}:){{3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{6}}:{_H}"
    r"|::"
    r")(?![a-f0-9:]))"
)

_Z = r"0{1,4}"
# The ways of writing "this host": a name, 127.0.0.1, ::1 and IPv4-mapped 127.0.0.1.
LOCALHOST = (
    r"(?=[0:1IiLl])"  # every form starts so: a cheap first test
    r"(?i:localhost(?:\.localdomain)?"
    r"|\b(?<!:)127\.0\.0\.1\b"
    r"|(?:IPv6:|(?<![a-f0-9:]))"
    r"(?=0{0,4}:0{0,4}:)"  # as for IP: two colons come early
    r"(?:"
    rf"(?:(?:{_Z}:){{5}}ffff:|::(?:{_Z}:){{0,4}}ffff:|(?:{_Z}:){{1,4}}:ffff:"
    rf"|{_Z}::(?:{_Z}:){{1,3}}ffff:|(?:{_Z}:){{2}}:0{{1,2}}:ffff:|(?:{_Z}:){{3}}:0:ffff:"
    rf"|(?:{_Z}:){{4}}:ffff:)127\.0\.0\.1"
    rf"|(?:{_Z}:){{7}}0{{0,3}}1"
    rf"|:(?::{_Z}){{0,6}}:0{{0,3}}1"
    rf"|{_Z}:(?::{_Z}){{0,5}}:0{{0,3}}1"
    rf"|(?:{_Z}:){{2}}(?::{_Z}){{0,4}}:0{{0,3}}1"
    rf"|(?:{_Z}:){{3}}(?::{_Z}){{0,3}}:0{{0,3}}1"
    rf"|(?:{_Z}:){{4}}(?::{_Z}){{0,2}}:0{{0,3}}1"
    rf"|(?:{_Z}:){{5}}(?::{_Z}){{0,1}}:0{{0,3}}1"
    rf"|(?:{_Z}:){{6}}:0{{0,3}}1"
    r")(?![a-f0-9:]))"
)


# A run of non-blanks followed by a blank can never give characters back usefully, so it
# is made possessive: no backtracking into it, which keeps failing matches linear.
_WORD_THEN_BLANK = re.compile(r"\\S([+*])(\)?) ")


# `\S+@\S+ ` (a word with an inner @) tried naively costs a scan per @; this form finds
# the first inner @ in one pass, then takes the word whole.
MAILBOX_WORD = r"(?=\S\S*?@\S)\S++ "


def possessive(pattern: str) -> str:
    r"""`\S+ ` -> `\S++ ` (also `\S*` and a group closing before the blank)."""
    return _WORD_THEN_BLANK.sub(r"\\S\1+\2 ", pattern.replace("{MAILBOX_WORD}", MAILBOX_WORD))


def compile_(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile with {IP} and {LOCALHOST} filled in, ASCII semantics, words possessive."""
    expanded = possessive(pattern).replace("{IP}", IP).replace("{LOCALHOST}", LOCALHOST)
    return regex_cache.compile_(expanded, re.ASCII | flags)


class Fields(Protocol):
    """The mutable state of one parse (see received._Work)."""

    ip: str
    rdns: str
    helo: str
    by: str
    ident: str
    envfrom: str | None
    id: str
    auth: str


Guard = (
    str
    | tuple[str, ...]
    | re.Pattern[str]
    | tuple[str, re.Pattern[str]]
    | Callable[[str], bool]
    | None
)
"""A cheap test before a pattern: a substring, all of several substrings, a regex, a
substring that must be present before a regex is worth running, or a function."""


class Groups(Protocol):
    """What a post-processing hook sees: the rule's own numbered groups, and the text."""

    @property
    def string(self) -> str: ...

    def group(self, index: int, /) -> str | None: ...


Post = Callable[[Fields, Groups], None]


def _test(guard: Guard) -> Callable[[str], bool]:
    """The guard as one predicate, chosen once (not per line): what `_passes` decides."""
    if guard is None:
        return lambda text: True
    if isinstance(guard, str):
        return lambda text: guard in text
    if isinstance(guard, tuple) and not isinstance(guard[-1], re.Pattern):
        parts = tuple(guard)
        return lambda text: all(part in text for part in parts)
    if callable(guard) and not isinstance(guard, (tuple, re.Pattern)):
        return guard
    return lambda text: _passes(guard, text)


def _passes(guard: Guard, text: str) -> bool:
    if guard is None:
        return True
    if isinstance(guard, str):
        return guard in text
    if isinstance(guard, tuple):
        if isinstance(guard[-1], re.Pattern):
            return guard[0] in text and guard[-1].search(text) is not None
        for part in guard:  # noqa: SIM110 - a loop, not all(<generator>): this runs per line
            if part not in text:
                return False
        return True
    if isinstance(guard, re.Pattern):
        return guard.search(text) is not None
    return guard(text)


def _lookahead(guard: Guard, negate: bool = False) -> str:
    """The guard as a zero-width test at the start of the text (texts have no newlines)."""
    if guard is None:
        return ""
    if isinstance(guard, re.Pattern):
        if guard.groups:
            raise ValueError(f"a guard must not capture: {guard.pattern!r}")
        parts = [guard.pattern]
    elif isinstance(guard, str):
        parts = [re.escape(guard)]
    elif isinstance(guard, tuple):
        parts = [g.pattern if isinstance(g, re.Pattern) else re.escape(g) for g in guard]
    else:
        raise ValueError("a function guard cannot become part of a combined pattern")
    sign = "!" if negate else "="
    return "".join(f"(?{sign}.*?(?:{part}))" for part in parts)


class Enough:
    """Marker: the fields gathered so far are a relay."""


ENOUGH = Enough()


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


Outcome = Enough | Skipped | None


class _Shifted:
    """A rule's groups inside a combined match: group k is group `base + k` of the whole."""

    __slots__ = ("base", "m", "string")

    def __init__(self, m: re.Match[str], base: int) -> None:
        self.m = m
        self.base = base
        self.string = m.string

    def group(self, index: int, /) -> str | None:
        return self.m.group(self.base + index)


class _Rule:
    """A pattern anchored at the start of the text (or anywhere), behind optional guards."""

    __slots__ = ("_passes", "_refused", "_rx", "anywhere", "guard", "pattern", "unless")

    def __init__(self, pattern: str, guard: Guard, unless: Guard, anywhere: bool) -> None:
        self.pattern = pattern
        self._rx: re.Pattern[str] | None = None  # compiled on first use (start-up)
        self.guard = guard
        self.unless = unless
        self.anywhere = anywhere
        self._passes = _test(guard)
        self._refused = None if unless is None else _test(unless)

    @property
    def rx(self) -> re.Pattern[str]:
        if self._rx is None:
            self._rx = compile_(self.pattern)
        return self._rx

    def branch(self) -> str:
        """This rule as one alternative of a combined pattern, matched at position 0."""
        body = self.pattern if not self.anywhere else f".*?(?:{self.pattern})"
        return _lookahead(self.guard) + _lookahead(self.unless, negate=True) + body

    def apply(self, text: str, work: Fields) -> Outcome:
        if not self._passes(text):
            return None
        if self._refused is not None and self._refused(text):
            return None
        m = self.rx.search(text) if self.anywhere else self.rx.match(text)
        return None if m is None else self.decide(m, 0, work)

    def decide(self, m: re.Match[str], base: int, work: Fields) -> Outcome:
        """The outcome once the pattern matched; its group k is group `base + k` of `m`."""
        raise NotImplementedError


class Take(_Rule):
    """A relay format: on a match, copy groups into fields (ints) or set constants (strs)."""

    __slots__ = ("constants", "names", "numbers", "post")

    def __init__(
        self,
        pattern: str,
        *,
        guard: Guard = None,
        unless: Guard = None,
        anywhere: bool = False,
        post: Post | None = None,
        **fields: int | str,
    ) -> None:
        super().__init__(pattern, guard, unless, anywhere)
        self.post = post
        taken = [(name, n) for name, n in fields.items() if isinstance(n, int)]
        self.names = tuple(name for name, _ in taken)
        self.numbers = tuple(n for _, n in taken)
        self.constants = tuple((name, c) for name, c in fields.items() if isinstance(c, str))

    def decide(self, m: re.Match[str], base: int, work: Fields) -> Outcome:
        if len(self.numbers) == 1:
            values: tuple[str | None, ...] = (m.group(base + self.numbers[0]),)
        elif self.numbers:
            values = m.group(*[base + n for n in self.numbers])
        else:
            values = ()
        for name, value in zip(self.names, values, strict=True):
            if value is not None:
                setattr(work, name, value)
        for name, constant in self.constants:
            setattr(work, name, constant)
        if self.post is not None:
            self.post(work, _Shifted(m, base) if base else m)
        return ENOUGH


class Skip(_Rule):
    """A line that is deliberately not a relay (local pickup, scanner, fetchmail...)."""

    __slots__ = ("outcome",)

    def __init__(
        self, pattern: str, reason: str, *, guard: Guard = None, anywhere: bool = False
    ) -> None:
        super().__init__(pattern, guard, None, anywhere)
        self.outcome = Skipped(reason)

    def decide(self, m: re.Match[str], base: int, work: Fields) -> Outcome:
        return self.outcome


class Step(Protocol):
    def apply(self, text: str, work: Fields) -> Outcome: ...


class Custom:
    """A format that needs code rather than one pattern."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str, Fields], Outcome]) -> None:
        self.fn = fn

    def apply(self, text: str, work: Fields) -> Outcome:
        return self.fn(text, work)


class _Combined:
    """A run of consecutive rules compiled into one alternation.

    All alternatives are tried at position 0 in table order and the first that matches
    wins, which is exactly the sequential semantics, but the loop runs inside the regex
    engine instead of in Python.
    """

    __slots__ = ("_by_group", "_rx", "pattern", "rules")

    def __init__(self, rules: list[_Rule]) -> None:
        self.pattern = "|".join(f"(?P<r{i}>{r.branch()})" for i, r in enumerate(rules))
        self.rules = tuple(rules)  # in table order
        self._rx: re.Pattern[str] | None = None  # compiled on first use (start-up)
        self._by_group: dict[int, _Rule] = {}

    def apply(self, text: str, work: Fields) -> Outcome:
        rx = self._rx
        if rx is None:
            rx = self._rx = compile_(self.pattern)
            # a branch's outer group, numbered before its inner groups, identifies the rule
            self._by_group = {rx.groupindex[f"r{i}"]: rule for i, rule in enumerate(self.rules)}
        m = rx.match(text)
        if m is None:
            return None
        base = m.lastindex or 0  # the outer group of the branch that matched closes last
        return self._by_group[base].decide(m, base, work)


def table(*steps: Step) -> tuple[Step, ...]:
    """Steps ready to run: consecutive rules merged into combined alternations."""
    out: list[Step] = []
    pending: list[_Rule] = []
    for step in steps:
        # guarded rules stay alone: a substring test is far cheaper than a look-ahead
        if isinstance(step, _Rule) and step.guard is None and step.unless is None:
            pending.append(step)
            continue
        if pending:
            out.append(_Combined(pending) if len(pending) > 1 else pending[0])
            pending = []
        out.append(step)
    if pending:
        out.append(_Combined(pending) if len(pending) > 1 else pending[0])
    return tuple(out)


class Family:
    """if/elif over MTA families: the first family whose guard passes is the only one tried."""

    __slots__ = ("branches",)

    def __init__(self, *branches: tuple[Guard, tuple[Step, ...]]) -> None:
        self.branches = tuple((_test(guard), table(*steps)) for guard, steps in branches)

    def apply(self, text: str, work: Fields) -> Outcome:
        for passes, steps in self.branches:
            if passes(text):
                return run(steps, text, work)
        return None


def run(steps: tuple[Step, ...], text: str, work: Fields) -> Outcome:
    """The outcome of the first step that decides, or None if none does."""
    for step in steps:
        outcome = step.apply(text, work)
        if outcome is not None:
            return outcome
    return None
