"""Run dig / kdig against a loopback server and parse what they print (status, flags, sections)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from tests.peers import require

_STATUS = re.compile(r"->>HEADER<<- opcode: (\w+)[,;] status: (\w+)")
_FLAGS = re.compile(r";; [Ff]lags: ([a-z ]*)[;]")
_SECTION = re.compile(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:")
_EDNS = re.compile(r"(?:EDNS: version|Version): (\d+)[,;] flags:[^;]*; (?:udp|UDP size): (\d+)")


@dataclass
class Reply:
    opcode: str
    status: str
    flags: set[str]
    answer: list[list[str]] = field(default_factory=list)
    authority: list[list[str]] = field(default_factory=list)
    edns: tuple[int, int] | None = None  # (version, udp payload)
    text: str = ""

    def rdata(self, rtype: str) -> list[str]:
        return sorted(" ".join(rr[4:]) for rr in self.answer if rr[3] == rtype)

    def owners(self) -> list[str]:
        return [rr[0] for rr in self.answer]


def parse(text: str) -> Reply:
    m = _STATUS.search(text)
    if not m:
        raise AssertionError(f"no reply in:\n{text}")
    f = _FLAGS.search(text)
    r = Reply(m.group(1), m.group(2), set((f.group(1) if f else "").split()), text=text)
    e = _EDNS.search(text)
    if e:
        r.edns = (int(e.group(1)), int(e.group(2)))
    section: list[list[str]] | None = None
    for line in text.splitlines():
        s = _SECTION.match(line)
        if s:
            section = {"ANSWER": r.answer, "AUTHORITY": r.authority}.get(s.group(1))
            continue
        if not line.strip() or line.startswith(";"):
            if not line.strip():
                section = None
            continue
        if section is not None:
            parts = line.split()
            # kdig omits nothing; both print owner ttl class type rdata...
            section.append(parts if parts[2] == "IN" else [parts[0], parts[1], "IN", *parts[2:]])
    return r


def dig(port: int, name: str, rtype: str = "A", *opts: str, tool: str = "dig") -> Reply:
    exe = require(tool)
    base = ["+norec", "+tries=1", "+time=3"] if tool == "dig" else ["+norec", "+retry=0", "+time=3"]
    out = subprocess.run([exe, "@127.0.0.1", "-p", str(port), *base, *opts, name, rtype],
                         capture_output=True, text=True, timeout=30)
    return parse(out.stdout)
