"""`mailrep import` on hostile input: an oversized or binary message is rejected with its reason,
every other one is stored with what was cut flagged, and the import goes on to the end."""

from __future__ import annotations

import json

import sqlalchemy as sa

from mailrep.trace import mbox
from tests.cli.hostile import HOSTILE, SPAM
from tests.intake.test_import import Cli, summary_of


def test_each_hostile_message_gets_its_precise_outcome_and_the_import_goes_on(tmp_path):
    cli = Cli(tmp_path)
    cli("reporter", "add", "alice")
    box = tmp_path / "hostile.mbox"
    oversized = SPAM + b"\r\n" + (b"o" * 76 + b"\r\n") * 140_000
    with box.open("wb") as f:
        for raw in [*HOSTILE.values(), oversized]:
            end = b"\n" if raw.endswith(b"\n") else b"\n\n"  # a blank line before the next From_
            f.write(b"From hostile@example Mon Oct 11 14:00:00 2010\n" + mbox.escape(raw) + end)
    # binary data after a From_ line is not a new message of an mbox: it comes on stdin
    s = summary_of(cli("import", "--reporter", "alice", "--json", str(box), "-", stdin=HOSTILE["binary"]))
    assert s["seen"] == len(HOSTILE) + 1
    assert s["rejected"] == {"larger than 10485760 bytes": 1, "not mail": 1}
    assert s["imported"] == len(HOSTILE) - 1 and s["errors"] == []
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'mailrep.sqlite3'}")
    try:
        with engine.connect() as conn:
            flags = [{f["code"] for f in json.loads(r[0])} for r in conn.execute(sa.text("SELECT flags FROM reports"))]
    finally:
        engine.dispose()
    assert any("mime_depth_cut" in f for f in flags)
    assert any({"received_cut", "header_cut"} <= f for f in flags)
    assert any("nul_bytes" in f for f in flags)
    assert any("header_garbage" in f for f in flags)
    # and the next import works as ever
    (tmp_path / "one.eml").write_bytes(SPAM.replace(b"45.40.0.7", b"45.40.0.8") + b"\r\nhello\r\n")
    assert summary_of(cli("import", "--reporter", "alice", "--json", str(tmp_path / "one.eml")))["imported"] == 1
