"""Building blocks for the Received parser: address patterns and a tiny rule engine.

A format is a `Take` rule (a pattern anchored at the start of the text after `from `, with the
fields its groups fill) or a `Skip` rule (a known non-relay line and why it is skipped).
`Family` groups the rules of one MTA behind a cheap test, like an if/elif chain: only the
first family whose test passes is tried. Every pattern is compiled once, with re.ASCII so
that \\d, \\w, \\s and \\b mean what MTAs mean by them.

Patterns here are written to run in linear time on the input sizes the parser accepts: no
nested quantifiers over the same characters, and at most two unbounded wildcards per
pattern, each behind a literal that must match first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

_OCTET = r"(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)"
_V4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
_H = r"[a-f0-9]{1,4}"

# An IPv4 or IPv6 address as MTAs print it (IPv6 with an optional `IPv6:` tag, IPv4-mapped
# forms accepted). The same address grammar SpamAssassin and RFC 4291 use.
IP = (
    r"(?i:"
    rf"\b(?<!:){_V4}\b"
    r"|(?:IPv6:|(?<![a-f0-9:]))"
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
    r"(?i:localhost(?:\.localdomain)?"
    r"|\b(?<!:)127\.0\.0\.1\b"
    r"|(?:IPv6:|(?<![a-f0-9:]))"
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


def compile_(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile with {IP} and {LOCALHOST} filled in, ASCII semantics."""
    return re.compile(
        pattern.replace("{IP}", IP).replace("{LOCALHOST}", LOCALHOST), re.ASCII | flags
    )


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


Guard = str | tuple[str, ...] | re.Pattern[str] | None
"""A cheap test before a pattern: a substring, all of several substrings, or a regex."""
Post = Callable[[Fields, re.Match[str]], None]


def _passes(guard: Guard, text: str) -> bool:
    if guard is None:
        return True
    if isinstance(guard, str):
        return guard in text
    if isinstance(guard, tuple):
        return all(part in text for part in guard)
    return guard.search(text) is not None


class Enough:
    """Marker: the fields gathered so far are a relay."""


ENOUGH = Enough()


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


Outcome = Enough | Skipped | None


class Take:
    """A relay format: on a match, copy groups into fields (ints) or set constants (strs)."""

    __slots__ = ("anywhere", "fields", "guard", "post", "rx", "unless")

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
        self.rx = compile_(pattern)
        self.guard = guard
        self.unless = unless
        self.anywhere = anywhere
        self.post = post
        self.fields = tuple(fields.items())

    def apply(self, text: str, work: Fields) -> Outcome:
        if not _passes(self.guard, text) or (
            self.unless is not None and _passes(self.unless, text)
        ):
            return None
        m = self.rx.search(text) if self.anywhere else self.rx.match(text)
        if m is None:
            return None
        for name, source in self.fields:
            if isinstance(source, int):
                value = m.group(source)
                if value is None:
                    continue
                setattr(work, name, value)
            else:
                setattr(work, name, source)
        if self.post is not None:
            self.post(work, m)
        return ENOUGH


class Skip:
    """A line that is deliberately not a relay (local pickup, scanner, fetchmail...)."""

    __slots__ = ("anywhere", "guard", "outcome", "rx")

    def __init__(
        self, pattern: str, reason: str, *, guard: Guard = None, anywhere: bool = False
    ) -> None:
        self.rx = compile_(pattern)
        self.guard = guard
        self.anywhere = anywhere
        self.outcome = Skipped(reason)

    def apply(self, text: str, work: Fields) -> Outcome:
        if not _passes(self.guard, text):
            return None
        m = self.rx.search(text) if self.anywhere else self.rx.match(text)
        return None if m is None else self.outcome


class Step(Protocol):
    def apply(self, text: str, work: Fields) -> Outcome: ...


class Custom:
    """A format that needs code rather than one pattern."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str, Fields], Outcome]) -> None:
        self.fn = fn

    def apply(self, text: str, work: Fields) -> Outcome:
        return self.fn(text, work)


class Family:
    """if/elif over MTA families: the first family whose guard passes is the only one tried."""

    __slots__ = ("branches",)

    def __init__(self, *branches: tuple[Guard, tuple[Step, ...]]) -> None:
        self.branches = branches

    def apply(self, text: str, work: Fields) -> Outcome:
        for guard, steps in self.branches:
            if _passes(guard, text):
                return run(steps, text, work)
        return None


def run(steps: tuple[Step, ...], text: str, work: Fields) -> Outcome:
    """The outcome of the first step that decides, or None if none does."""
    for step in steps:
        outcome = step.apply(text, work)
        if outcome is not None:
            return outcome
    return None
