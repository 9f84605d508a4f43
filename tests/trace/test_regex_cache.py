"""Patterns built from saved code behave exactly like `re.compile`'s (trace/regex_cache.py)."""

from __future__ import annotations

import json
import marshal
import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.trace import regex_cache
from mailrep.trace.received_patterns import IP, LOCALHOST, compile_
from tests import peers

CORPUS = peers.CORPUS
SAMPLES = [c["received"] for c in json.loads((CORPUS / "received" / "sa_rcvd_cases.json").read_text())["cases"]]
PATTERNS = [
    (r"(\S+) \((\S+) \[({IP})\]\) by (\S+) ", 0),
    (r"(?P<r0>\[({IP})\] by (\S+) )|(?P<r1>(\S+) \(({LOCALHOST})\) )", 0),
    (r"from (\S+) by [^\s;]+ ?;", re.IGNORECASE),
    (r"\bwith local for\b", 0),
]


def _fresh_process_patterns(blob: bytes) -> list[re.Pattern[str]]:
    regex_cache._code.clear()
    assert regex_cache.load(blob)
    return [compile_(p, f) for p, f in PATTERNS]


def test_saved_code_matches_like_re_compile():
    built = [compile_(p, f) for p, f in PATTERNS]
    blob = regex_cache.export()
    loaded = _fresh_process_patterns(blob)
    assert not regex_cache.changed()  # every one came from the saved code
    texts = SAMPLES + [s[5:] for s in SAMPLES if s.startswith("from ")] + ["[10.0.0.1] by x ", "a (::1) "]
    for (pattern, flags), ours, theirs in zip(PATTERNS, loaded, built, strict=True):
        expanded = theirs.pattern
        plain = re.compile(expanded, flags | re.ASCII)
        assert (ours.pattern, ours.flags, ours.groups, ours.groupindex) == (
            plain.pattern, plain.flags, plain.groups, plain.groupindex)
        for text in texts:
            for pos in range(0, len(text), 7):
                a, b = ours.match(text, pos), plain.match(text, pos)
                assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups())), (pattern, text, pos)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789abcdefIPv6:.[]() xyz")), max_size=60))
def test_ip_from_saved_code(text):
    plain = re.compile(f"(?:{IP})|(?:{LOCALHOST})", re.ASCII)
    compile_("(?:{IP})|(?:{LOCALHOST})")
    (ours,) = [regex_cache.compile_(plain.pattern, re.ASCII)]
    regex_cache._code.clear()
    assert regex_cache.load(regex_cache.export()) is True
    loaded = regex_cache.compile_(plain.pattern, re.ASCII)
    for rx in (ours, loaded):
        assert [m.span() for m in rx.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_foreign_or_damaged_blobs_are_ignored():
    compile_(r"\[({IP})\] by (\S+) ")
    header, digest, payload = marshal.loads(regex_cache.export())
    assert regex_cache.load(marshal.dumps((header, digest, payload))) is True
    other = (header[0], b"\x03\xf3\r\n", *header[2:])
    assert regex_cache.load(marshal.dumps((other, digest, payload))) is False  # another Python
    flipped = payload[:-9] + bytes([payload[-9] ^ 1]) + payload[-8:]
    assert regex_cache.load(marshal.dumps((header, digest, flipped))) is False  # damaged
    assert regex_cache.load(b"\x00garbage") is False
    assert regex_cache.load(b"") is False


def test_code_the_engine_refuses_is_compiled_afresh():
    regex_cache._code.clear()
    key = (r"a(b)c", int(re.ASCII))
    regex_cache._code[key] = (int(re.ASCII), b"\xff\xff\x00\x00" * 3, 1, {}, (None, None))
    rx = regex_cache.compile_(*key)
    m = rx.match("abc")
    assert m is not None and m.group(1) == "b"
    assert regex_cache._code[key][1] != b"\xff\xff\x00\x00" * 3


def test_the_command_saves_and_reuses_the_code(tmp_path):
    """`mailrep trace` writes the cache under XDG_CACHE_HOME; a second run compiles nothing."""
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"Received: from a.example (a.example [192.0.2.9]) by mx.example.net with ESMTP id 1;"
                    b" Mon, 11 Oct 2010 14:00:00 +0000\nSubject: x\n\nhttp://www.example.co.uk/\n")
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    exe = [sys.executable, "-c", "import sys; from mailrep.cli import main; sys.argv[0] = 'mailrep'; main()"]
    first = subprocess.run([*exe, "trace", str(msg)], capture_output=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    (saved,) = (tmp_path / "cache" / "mailrep").iterdir()
    stamp = saved.stat().st_mtime_ns
    probe = ("import sys; from mailrep.trace import regex_cache; from mailrep.cli import trace as t;"
             "t._load_regex_cache(t._regex_cache_file());"
             "from mailrep.trace import trace_message; trace_message(open(sys.argv[1], 'rb').read());"
             "print(regex_cache.changed())")
    second = subprocess.run([sys.executable, "-c", probe, str(msg)], capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "False"
    again = subprocess.run([*exe, "trace", str(msg)], capture_output=True, env=env, timeout=120)
    assert again.stdout == first.stdout
    assert saved.stat().st_mtime_ns == stamp  # nothing new to save
