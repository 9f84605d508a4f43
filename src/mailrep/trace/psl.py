"""The Public Suffix List: registered domains and known top-level domains, without tldextract.

    registered_domain("a.b.example.co.uk") -> "example.co.uk"
    known_tld("uk") -> True

The list is the snapshot bundled inside the installed tldextract package (`.tld_set_snapshot`),
read as package data without importing tldextract (which imports requests: ~0.1 s of every
`mailrep trace` start-up). Nothing is fetched from the network.

The answers are tldextract 5's (`TLDExtract(include_psl_private_domains=True).extract_str`,
then the ICANN-only answer when the host is itself a private suffix). Its trie is kept here as
two flat tables of dotted label paths, built once per process in a few milliseconds:
`nodes` (every tail of every rule: where tldextract's trie has a node) and `ends` (a rule's
path -> whether it comes from the private section). tests/trace/test_psl.py checks the answers
against tldextract itself.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache

_SNAPSHOT = ".tld_set_snapshot"
_PRIVATE_SEPARATOR = "// ===BEGIN PRIVATE DOMAINS==="
_RULE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.UNICODE | re.MULTILINE)  # tldextract's
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
_UNICODE_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


@dataclass(frozen=True, slots=True)
class _Trie:
    nodes: frozenset[str]
    ends: dict[str, bool]


@dataclass(frozen=True, slots=True)
class SuffixList:
    """The parsed list: public (ICANN) and private rules, as the snapshot writes them."""

    public: tuple[str, ...]
    private: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> SuffixList:
        public_text, _, private_text = text.partition(_PRIVATE_SEPARATOR)
        return cls(tuple(m.group("suffix") for m in _RULE.finditer(public_text)),
                   tuple(m.group("suffix") for m in _RULE.finditer(private_text)))


def _trie(public: frozenset[str], private: frozenset[str]) -> _Trie:
    ends = dict.fromkeys(public, False)
    ends.update(dict.fromkeys(private, True))  # a rule in both sections counts as private
    nodes = set(ends)
    for rule in ends:  # and every tail of every rule
        dot = rule.find(".")
        while dot >= 0:
            rule = rule[dot + 1:]
            nodes.add(rule)
            dot = rule.find(".")
    return _Trie(frozenset(nodes), ends)


@lru_cache(maxsize=1)
def _snapshot() -> SuffixList:
    spec = importlib.util.find_spec("tldextract")  # finds the package; does not import it
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the tldextract package (which holds the Public Suffix List) is not installed")
    path = f"{next(iter(spec.submodule_search_locations))}/{_SNAPSHOT}"
    data: bytes = spec.loader.get_data(path)  # type: ignore[attr-defined]
    return SuffixList.parse(data.decode("utf-8"))


@lru_cache(maxsize=2)
def _tries(private: bool) -> _Trie:
    psl = _snapshot()
    public = frozenset(psl.public)
    return _trie(public, frozenset(psl.private) if private else frozenset())


def _decode(label: str) -> str:
    """tldextract's `_decode_punycode`: `xn--` labels compare in Unicode, like the list."""
    lowered = label.lower()
    if lowered.startswith("xn--"):
        try:
            return lowered[4:].encode("ascii").decode("punycode")
        except (UnicodeError, IndexError):
            pass
    return lowered


def _suffix(labels: list[str], private: bool) -> tuple[int, bool] | None:
    """Index of the first public-suffix label and whether that suffix is private, or None."""
    trie = _tries(private)
    nodes, ends = trie.nodes, trie.ends
    at = found = len(labels)
    is_private = False
    path = ""
    for label in reversed(labels):
        name = _decode(label)
        longer = f"{name}.{path}" if path else name
        if longer in nodes:
            at -= 1
            path = longer
            end = ends.get(longer)
            if end is not None:
                found, is_private = at, end
            continue
        wildcard = f"*.{path}" if path else "*"
        if wildcard in nodes:
            exception = f"!{name}.{path}" if path else f"!{name}"
            return (at if exception in nodes else at - 1), ends.get(wildcard, False)
        break
    return None if found == len(labels) else (found, is_private)


def _netloc(url: str) -> str:
    """tldextract's `lenient_netloc`: the host part of a URL-like string."""
    slashes = url.find("//")
    if slashes == 0:
        url = url[2:]
    elif slashes >= 2 and url[slashes - 1] == ":" and not set(url[: slashes - 1]) - _SCHEME_CHARS:
        url = url[slashes + 2:]
    authority = url.partition("/")[0].partition("?")[0].partition("#")[0]
    host = authority.rpartition("@")[-1]
    if host and host[0] == "[":
        inside, bracket, _ = host.partition("]")
        if bracket:
            return f"{inside}]"
    return host.partition(":")[0].strip().rstrip(".\u3002\uff0e\uff61")


def _split(host: str, private: bool) -> tuple[str, str, bool]:
    """(domain label, public suffix, suffix is private) as tldextract's `extract_str`."""
    labels = _netloc(host).translate(_UNICODE_DOTS).split(".")
    found = _suffix(labels, private)
    if found is None:
        return "", "", False
    at, is_private = found
    return (labels[at - 1] if at > 0 else ""), ".".join(labels[at:]), is_private


@lru_cache(maxsize=65536)
def registered_domain(host: str) -> str:
    """The registered domain (public suffix plus one label) of a host name, '' for IP
    literals and hosts under no known suffix. The private section counts (`evil.github.io`
    stays apart from `github.io`); a host that is itself a private suffix falls back to the
    ICANN answer (`s3.amazonaws.com` -> `amazonaws.com`)."""
    host = host.strip().rstrip(".").lower()
    if not host or is_ip(host):
        return ""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    domain, suffix, is_private = _split(host, True)
    if domain and suffix:
        return f"{domain}.{suffix}"
    if suffix and is_private:
        domain, suffix, _ = _split(host, False)
        if domain and suffix:
            return f"{domain}.{suffix}"
    return ""


@lru_cache(maxsize=1)
def tlds() -> frozenset[str]:
    """The top-level domains of the list (the last label of every rule: some TLDs, such as
    `za`, are listed only through their second levels), IDN ones also in punycode."""
    out: set[str] = set()
    psl = _snapshot()
    for suffix in frozenset(psl.public + psl.private):
        tld = suffix.rpartition(".")[2].lstrip("!*")
        if tld and tld not in out:
            out.add(tld)
            if not tld.isascii():
                try:
                    out.add(tld.encode("idna").decode("ascii"))
                except UnicodeError:
                    pass
    return frozenset(out)


@lru_cache(maxsize=1)
def _ascii_tlds() -> frozenset[str]:
    psl = _snapshot()
    return frozenset(tld for suffix in psl.public + psl.private
                     if (tld := suffix.rpartition(".")[2].lstrip("!*")) and tld.isascii())


def known_tld(tld: str) -> bool:
    """`tld in tlds()`, without building `tlds()` (~20 ms: IDNA-encoding the IDN TLDs) for
    an ASCII name that is not `xn--`: every IDN TLD encodes to `xn--...` (tested)."""
    if tld in _ascii_tlds():
        return True
    return (tld.startswith("xn--") or not tld.isascii()) and tld in tlds()


def is_ip(host: str) -> bool:
    """An IPv6 literal (any colon) or four all-digit labels: no registered domain."""
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
