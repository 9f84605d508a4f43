"""URLs advertised in a message: found in its text and HTML parts, de-obfuscated, normalised.

`extract_urls(msg)` reads the Subject and the decoded text of every text part (see
`mime.texts`), undoes the usual obfuscations (`hxxp://`, `h**p://`, `[.]`, `(.)`, `{.}`,
`[dot]`, `[:]`, percent-encoded hosts, `user@` prefixes), and finds:

- URLs with a scheme (http, https, ftp) and `www.` hosts without one;
- URLs carried in another URL's query (redirectors: `?u=http://...`, `?u=http%3A%2F%2F...`);
- bare domains (`SendGreatOffers.com`, `shop.example.com.au/x`) under the common generic TLDs
  only, so file names such as `setup.py` or `readme.md` are not read as hosts.

Each URL is returned once, in the order seen. HTML (and HTML mislabelled as text/plain) is
entity-decoded first, so `href`/`src` attribute values are found like bare text.

Each `Url` carries its host (lower case, IDN as punycode) and the registered domain from the
Public Suffix List snapshot bundled with tldextract (read by `psl.py`); nothing is fetched
from the network.
The registered domain honours the PSL's private section (`evil.github.io` stays apart from
`github.io`), and a host that is itself a private suffix falls back to the ICANN answer
(`s3.amazonaws.com` -> `amazonaws.com`). IPv4/IPv6 literal hosts have domain ''.

Rejected as garbage: hosts with an empty or over-long label, characters outside LDH and `_`,
a single label, or a top-level domain the PSL does not know. Every regex here is linear:
no nested quantifiers, bounded repeats.
"""

from __future__ import annotations

import html
import ipaddress
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain as _chain
from urllib.parse import unquote

from mailrep.trace import mime
from mailrep.trace.message import Flag, Message
from mailrep.trace.psl import is_ip as _is_ip
from mailrep.trace.psl import known_tld as _known_tld
from mailrep.trace.psl import registered_domain

MAX_URL_CHARS = 2048
MAX_TEXT_BYTES = 256 * 1024  # decoded text scanned per message
MAX_CANDIDATES = 5000  # URL-like strings examined per message

_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21"}
_SCHEMES = {"http": "http", "https": "https", "hxxp": "http", "hxxps": "https", "h**p": "http",
            "h**ps": "https", "ftp": "ftp", "fxp": "ftp"}

# `[.]`, `(.)`, `{.}`, `[dot]`, `(dot)` with at most one space either side -> `.`
_OBFUSCATED_DOT = re.compile(r" ?(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}) ?", re.I)
_OBFUSCATED_COLON = re.compile(r"\[:\]|\(:\)")
_OBFUSCATION_HINT = re.compile(r"[\[({](?:\.|dot|:)[\])}]", re.I)  # cheap test before the rewrite
# The look-ahead lets the engine skip quickly to a possible first letter.
_CANDIDATE = re.compile(
    r"""(?=[hfw])(?:
        \b(?P<scheme>https?|hxxps?|h\*\*ps?|ftp|fxp):(?://|\\\\)
      | (?<![\w.@/\\-])(?P<www>www\d{0,3}\.)
    )
    (?P<rest>[^\s<>"'`\x00-\x1f\x7f]{1,MAXLEN})""".replace("MAXLEN", str(MAX_URL_CHARS)),
    re.I | re.X,
)
_P = (ord("p"), "p")  # a character of folded text: an int in bytes, a str in str
_S = (ord("s"), "s")
# `_OBFUSCATION_HINT` over the folded Latin-1 bytes of a text (see `_folded`): no re.I, faster
_OBFUSCATION_HINT_LOW = re.compile(rb"[\[({](?:\.|dot|:)[\])}]")
# HTML mislabelled as text/plain (common in spam) still gets its entities decoded.
_LOOKS_HTML = re.compile(r"<(?:html|body|a\s|img\s|table|div|font)", re.I)
_AUTHORITY_END = re.compile(r"[/?#\\]")
# A URL inside another URL's query: redirectors (`?target=http://...`, `u=http%3A%2F%2F...`).
_EMBEDDED = re.compile(r"(h[tx]{2}ps?)(?::|%3a)(?://|%2f%2f)", re.I)
# Bare domains are only taken under the common generic TLDs (optionally with a country
# code: `.com.au`); elsewhere `readme.md` or `setup.py` would read as hosts.
_BARE_TLD = re.compile(r"\.(?:com|net|org|info|biz|edu|gov)(?:\.[a-z]{2})?(?![\w-]|\.[\w-])", re.I)
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
_NOT_BEFORE_BARE = frozenset("@/\\:%=&?#$+~")
_PATH = re.compile(r"/[^\s<>\"'`\x00-\x1f\x7f]{0,2047}")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_LABELS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # every dot-separated label is a _LABEL
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_UNICODE_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_TRAILING = ".,;:!?'\"*|"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_MAYBE_STRIPPED = frozenset(_TRAILING + "".join(_CLOSERS) + "t")  # last characters `_strip_trailing` may cut


@dataclass(frozen=True, slots=True)
class Url:
    """One advertised URL: normalised, its host, and the host's registered domain."""

    url: str
    host: str
    domain: str

    def to_dict(self) -> dict[str, str]:
        return {"url": self.url, "host": self.host, "domain": self.domain}


def extract_urls(
    msg: Message,
    *,
    limit: int = 200,
    max_text: int = MAX_TEXT_BYTES,
    max_candidates: int = MAX_CANDIDATES,
    flags: list[Flag] | None = None,
) -> list[Url]:
    """The URLs in the message's text and HTML parts, deduplicated, in the order seen.
    Reads at most `max_text` bytes of decoded text and looks at most at `max_candidates`
    URL-like strings, so hostile messages cost bounded time. Never raises; what was cut
    (and any internal error) is reported into `flags` when given."""
    found: list[Url] = []
    seen: set[str] = set()
    budget = [max_candidates]
    try:
        subject = msg.decoded("subject")
        for kind, text in _chain([("plain", subject[:MAX_URL_CHARS])] if subject else [],
                                 mime.texts(msg, max_bytes=max_text, flags=flags)):
            if "&" in text and (kind == mime.Kind.HTML or _LOOKS_HTML.search(text)):
                text = html.unescape(text)
            for url in _iter_urls(text, budget):
                if url.url not in seen:
                    seen.add(url.url)
                    found.append(url)
                    if len(found) >= limit:
                        return found
            if budget[0] <= 0:
                if flags is not None:
                    flags.append(Flag("urls_cut", f"more than {max_candidates} URL-like strings; the rest were not read"))
                break
    except Exception as exc:  # a safety net; extraction must never stop a trace
        if flags is not None:
            flags.append(Flag("urls_error", f"URL extraction stopped: {type(exc).__name__}: {exc}"[:200]))
    return found


def urls_in_text(text: str) -> list[Url]:
    """The URLs in one piece of decoded text (obfuscations undone), in order, with repeats."""
    return list(_iter_urls(text, [len(text)]))


def _iter_urls(text: str, budget: list[int]) -> Iterator[Url]:
    """URLs in text order: scheme and www. URLs, URLs embedded in their query strings
    (redirectors), and bare domains under the common TLDs outside those URLs."""
    low = _folded(text)
    if _OBFUSCATION_HINT_LOW.search(low) if isinstance(low, bytes) else _OBFUSCATION_HINT.search(text):
        text = _OBFUSCATED_DOT.sub(".", text)
        text = _OBFUSCATED_COLON.sub(":", text)
        low = _folded(text)
    found: list[tuple[int, Url]] = []
    spans: list[tuple[int, int]] = []
    left = budget[0]
    for m in _candidates(text, low):
        left -= 1
        if left < 0:
            break
        start = m.start()
        spans.append((start, m.end()))
        scheme, www, rest = m.group(1, 2, 3)  # scheme, www, rest
        if scheme:
            url = normalise(_SCHEMES.get(scheme.lower(), "http"), rest)
        else:
            url = normalise("http", www + rest)
        if url is not None:
            found.append((start, url))
        if ":" in rest or "%3" in rest:  # `_EMBEDDED` needs `:` or `%3a`
            for e in _EMBEDDED.finditer(rest):
                left -= 1
                inner = rest[e.end():].partition("&")[0]
                inner_url = normalise("https" if e.group(1).lower().endswith("s") else "http", unquote(inner))
                if inner_url is not None:
                    found.append((start + e.start(), inner_url))
    budget[0] = left
    if left > 0:
        found.extend(_bare_domains(text, spans, budget))
    found.sort(key=lambda item: item[0])
    for _, url in found:
        yield url


def _folded(text: str) -> bytes | str | None:
    """The text with its ASCII letters lower-cased, every character at its own index: Latin-1
    bytes when the text fits (encoding and `bytes.lower` are ~10x faster than `str.lower`),
    else `text.lower()` when that keeps the length; None when it does not (`İ`)."""
    try:
        return text.encode("latin-1").lower()
    except UnicodeEncodeError:
        low = text.lower()
        return low if len(low) == len(text) else None


def _candidates(text: str, low: bytes | str | None) -> Iterator[re.Match[str]]:
    """The matches of `_CANDIDATE.finditer(text)`, found faster: `_CANDIDATE` is only tried
    where a match can begin, found with `find` (a C scan) instead of a regex scan: 3 to 5
    characters before each `://` or `:\\\\` (the scheme), and at each `www` of the folded
    text (no character but `W` folds to `w`, even under re.I). `low` is `_folded(text)`."""
    if low is None:
        yield from _CANDIDATE.finditer(text)
        return
    starts: set[int] = set()
    for needle in ("://", ":\\\\"):
        at = text.find(needle)
        while at >= 0:
            # every scheme ends in p (http, hxxp, h**p: 4 long; ftp, fxp: 3) or s (https...: 5)
            last = low[at - 1] if at else 0
            if last in _P:
                starts.update((at - 4, at - 3))
            elif last in _S or (last == "\u017f"):  # `ſ` is `s` under re.I
                starts.add(at - 5)
            at = text.find(needle, at + 1)
    www = b"www" if isinstance(low, bytes) else "www"
    at = low.find(www)  # type: ignore[arg-type]
    while at >= 0:
        starts.add(at)
        at = low.find(www, at + 1)  # type: ignore[arg-type]
    match = _CANDIDATE.match
    pos = 0
    for start in sorted(starts):
        if start < pos:
            continue
        m = match(text, start)
        if m is not None:
            yield m
            pos = m.end()


def _bare_domains(text: str, spans: list[tuple[int, int]], budget: list[int]) -> Iterator[tuple[int, Url]]:
    """`example.com` or `Shop.Example.co.uk/path` written without scheme or www."""
    starts = [a for a, _ in spans]
    floor = 0  # end of the previous match: each character is walked back over at most once
    for m in _BARE_TLD.finditer(text):
        budget[0] -= 1
        if budget[0] < 0:
            return
        end = m.start()
        at = bisect_right(starts, end) - 1
        if at >= 0 and spans[at][1] > end:
            continue  # inside a URL already read
        stop = max(floor, end - 253)
        floor = m.end()
        window = text[stop:end]
        begin = end - (len(window) - len(window.rstrip(_HOST_CHARS)))  # back over host characters
        if begin == stop and begin > 0 and text[begin - 1] in _HOST_CHARS:
            continue  # part of a longer run (`a.com.com...`, or a host over 253 characters)
        if begin > 0 and text[begin - 1] in _NOT_BEFORE_BARE:
            continue
        host = text[begin: m.end()].lstrip(".-_")
        if "." not in host:
            continue
        path = _PATH.match(text, m.end())
        url = normalise("http", host + (path.group(0) if path else ""))
        if url is not None:
            yield begin, url


@lru_cache(maxsize=8192)  # keys are at most MAX_URL_CHARS long: a few MB at worst
def normalise(scheme: str, rest: str) -> Url | None:
    """Build a `Url` from a scheme and what followed `scheme://`, or None for garbage."""
    # Drop the fragment first, so punctuation it leaves behind (`/?#x`) is stripped too and
    # the normalised URL reads back as itself.
    rest = rest.partition("#")[0]
    if rest and rest[-1] in _MAYBE_STRIPPED:
        rest = _strip_trailing(rest)
    cut = _AUTHORITY_END.search(rest)
    authority, path = (rest[: cut.start()], rest[cut.start():]) if cut else (rest, "")
    path = path.replace("\\", "/")
    if path and path[0] != "/":
        path = "/" + path
    if "%" in authority:  # percent-encoded hosts: http://w%77%77%2e...
        authority = unquote(authority)
    authority = authority.rpartition("@")[2]
    port = ""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host_text, tail = authority[1:end], authority[end + 1:]
        if tail:
            if not tail.startswith(":"):
                return None
            port = tail[1:]
    else:
        host_text, _, port = authority.partition(":")
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        return None
    if port.lstrip("0") == _DEFAULT_PORTS.get(scheme) or port == "":
        port = ""
    else:
        port = ":" + port.lstrip("0")
    named = _host(host_text)
    if named is None:
        return None
    host, shown, domain = named
    return Url(f"{scheme}://{shown}{port}{path or '/'}", host, domain)


@lru_cache(maxsize=16384)
def _host(text: str) -> tuple[str, str, str] | None:
    """`clean_host(text)`, that host as a URL shows it, and its registered domain."""
    host = clean_host(text)
    if host is None:
        return None
    shown = f"[{host}]" if ":" in host else host
    return host, shown, "" if _is_ip(host) else registered_domain(host)


@lru_cache(maxsize=16384)
def clean_host(text: str) -> str | None:
    """A host name in canonical form (lower case, punycode, no trailing dot), an IPv4 /
    IPv6 literal in canonical form, or None when it is not a plausible Internet host."""
    host = text.translate(_UNICODE_DOTS).strip().rstrip(".").lower()
    if not host or len(host) > 253:
        return None
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except (UnicodeError, ValueError):
            return None
        if len(host) > 253:
            return None
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        return _ipv4(labels)
    if host.startswith("0x") and "." not in host:
        try:
            return _ipv4([str(int(host, 16))])
        except ValueError:
            return None
    if len(labels) < 2 or not _TLD.fullmatch(labels[-1]) or not _LABELS.fullmatch(host):
        return None
    if not _known_tld(labels[-1]):
        return None
    return host


def _ipv4(labels: list[str]) -> str | None:
    """Dotted quads, and the single decimal number some spam uses to hide an address."""
    if len(labels) == 1:
        value = int(labels[0])
        return str(ipaddress.IPv4Address(value)) if 2**24 <= value < 2**32 and len(labels[0]) <= 10 else None
    if len(labels) != 4 or any(len(x) > 3 or int(x) > 255 for x in labels):
        return None
    return ".".join(str(int(x)) for x in labels)


def _strip_trailing(rest: str) -> str:
    """Drop sentence punctuation after a URL, and closing brackets that do not close
    anything inside it: `(see http://x.example/a)` -> `http://x.example/a`."""
    while rest:
        last = rest[-1]
        if last in _TRAILING or (last in _CLOSERS and rest.count(last) > rest.count(_CLOSERS[last])):
            rest = rest[:-1]
        elif rest.endswith(("&gt", "&lt")):
            rest = rest[:-3]
        else:
            break
    return rest
