"""`mailrep trace` (the installed command) on hostile input: each gets its precise flag or error
and the batch goes on; an input cut at 32 MiB warns on stderr and exits 1."""

from __future__ import annotations

import json
import subprocess

from mailrep.cli.trace import MAX_FILE_BYTES
from tests.cli.hostile import HOSTILE, SPAM
from tests.intake.serve_harness import MAILREP


def trace(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*MAILREP, "trace", *args], input=stdin, capture_output=True, timeout=300)


def test_each_hostile_input_gets_its_precise_answer_and_the_batch_goes_on(tmp_path):
    files = []
    for name, raw in HOSTILE.items():
        (tmp_path / f"{name}.eml").write_bytes(raw)
        files.append(str(tmp_path / f"{name}.eml"))
    done = trace(*files, str(tmp_path / "truncated.eml"))
    assert done.returncode == 1  # the binary input is not mail
    lines = {json.loads(x)["file"].rsplit("/", 1)[1]: json.loads(x) for x in done.stdout.splitlines()}
    assert len(done.stdout.splitlines()) == len(files) + 1
    codes = {name: {f["code"] for f in line["flags"]} for name, line in lines.items()}
    assert lines["binary.eml"]["error"].startswith("not_mail: ")
    assert "mime_depth_cut" in codes["nested.eml"]
    assert {"received_cut", "header_cut"} <= codes["received.eml"]
    assert "nul_bytes" in codes["nul.eml"]
    assert "header_garbage" in codes["truncated.eml"]  # cut inside its second header field
    assert lines["truncated.eml"]["source"] == {
        "ip": None, "reason": "every relay is trusted: the message was sent from inside the trusted networks"}
    for name in ("nested.eml", "nul.eml", "bare_cr.eml", "bare_lf.eml"):
        assert lines[name]["error"] is None and lines[name]["source"]["ip"] == "45.40.0.7", name


def test_an_mbox_cut_at_32_mib_warns_on_stderr_and_exits_1(tmp_path):
    one = b"From spammer@bad.example Mon Oct 11 14:00:00 2010\n" + SPAM.replace(b"\r\n", b"\n") + b"\n" + (
        b"y" * 76 + b"\n") * 13_000 + b"\n"
    box = tmp_path / "big.mbox"
    with box.open("wb") as f:
        while f.tell() <= MAX_FILE_BYTES + len(one):
            f.write(one)
    done = trace(str(box))
    assert done.returncode == 1
    assert b"warning" in done.stderr and b"big.mbox is longer than 33554432 bytes (32 MiB)" in done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    assert lines and all("file_cut" in {f["code"] for f in line["flags"]} for line in lines if not line["error"])
