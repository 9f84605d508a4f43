"""psl.py gives tldextract's answers (the reference it replaces) without importing it."""

from __future__ import annotations

import subprocess
import sys
from functools import cache

import pytest
import tldextract
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.trace import psl
from mailrep.trace.message import read_message
from mailrep.trace.urls import extract_urls
from tests import peers

CORPUS = peers.CORPUS / "messages"


@cache
def _reference() -> tldextract.TLDExtract:
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True,
                                 include_psl_private_domains=True)


def reference_domain(host: str) -> str:
    """The registered domain as trace/urls.py computed it with tldextract."""
    host = host.strip().rstrip(".").lower()
    if not host or psl.is_ip(host):
        return ""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    ext = _reference()
    r = ext.extract_str(host)
    if r.domain and r.suffix:
        return f"{r.domain}.{r.suffix}"
    if r.suffix and r.is_private:
        r = ext.extract_str(host, include_psl_private_domains=False)
        if r.domain and r.suffix:
            return f"{r.domain}.{r.suffix}"
    return ""


def reference_tlds() -> frozenset[str]:
    out: set[str] = set()
    for suffix in _reference().tlds:
        tld = suffix.rpartition(".")[2].lstrip("!*")
        if tld and tld not in out:
            out.add(tld)
            if not tld.isascii():
                try:
                    out.add(tld.encode("idna").decode("ascii"))
                except UnicodeError:
                    pass
    return frozenset(out)


def _ascii(name: str) -> str:
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def test_same_rules_and_tlds_as_tldextract():
    ours = psl._snapshot()
    assert len(ours.public) > 6000 and len(ours.private) > 1000
    assert frozenset(ours.public + ours.private) == frozenset(_reference().tlds)
    assert psl.tlds() == reference_tlds()


def test_every_rule_with_labels_around_it():
    """Each rule as a host, under one and two more labels, wildcards filled in, exceptions
    as written: the paths through every node, end, wildcard and exception of the list."""
    ours = psl._snapshot()
    hosts: list[str] = []
    for rule in ours.public + ours.private:
        plain = rule.lstrip("!").replace("*", "wild")
        for name in (plain, _ascii(plain)):
            hosts += [name, f"x.{name}", f"a.b.{name}", f"xn--bcher-kva.{name}"]
    assert len(hosts) > 30000
    diff = [(h, psl.registered_domain(h), reference_domain(h)) for h in hosts
            if psl.registered_domain(h) != reference_domain(h)]
    assert diff == []


def test_corpus_hosts():
    hosts: set[str] = set()
    for path in sorted(CORPUS.glob("*/*")):
        if path.is_file():
            hosts |= {u.host for u in extract_urls(read_message(path.read_bytes()))}
    assert len(hosts) > 1000
    assert {h: psl.registered_domain(h) for h in hosts} == {h: reference_domain(h) for h in hosts}


LABELS = st.sampled_from(["com", "uk", "co", "ck", "www", "github", "io", "blogspot", "jp", "kawasaki",
                          "city", "xn--p1ai", "xn--e1afmkfd", "рф", "example", "s3", "amazonaws", "", "a",
                          "*", "!www", "xn--", "xn--zz", "COM", "bd", "mm", "compute", "appspot", "x-1"])
HOSTS = st.lists(LABELS, min_size=1, max_size=6).map(".".join)
URLISH = st.text(alphabet=st.sampled_from(list("a.c/:@[]?#o m-\u3002k")), max_size=30)


@settings(max_examples=400, deadline=None)
@given(st.one_of(HOSTS, URLISH, st.tuples(URLISH, HOSTS).map("".join)))
def test_generated_hosts(host):
    assert psl.registered_domain(host) == reference_domain(host)


@pytest.mark.parametrize("name", ["tldextract", "requests", "idna"])
def test_tldextract_not_imported(name):
    """Reading the list does not import tldextract (nor requests, nor idna: start-up cost)."""
    code = ("import sys\nfrom mailrep.trace.psl import registered_domain\n"
            "assert registered_domain('x.y.blogspot.com') == 'y.blogspot.com'\n"
            f"print({name!r} in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_known_tld_is_membership_in_tlds():
    every = psl.tlds()
    idn = {t for t in every if t.isascii() and t not in psl._ascii_tlds()}
    assert idn and all(t.startswith("xn--") for t in idn)  # what known_tld's shortcut relies on
    probes = every | {"xn--zz", "xn--p1ai", "comm", "", "x", "рф", "co.uk", "xn--"}
    assert {t for t in probes if psl.known_tld(t)} == {t for t in probes if t in every}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcxn-1рф")), max_size=8))
def test_known_tld_on_generated_names(name):
    assert psl.known_tld(name) == (name in psl.tlds())
