"""`mailrep import` of the 1,000 corpus messages as an mbox and as a Maildir, through the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailrep.cli import make_app
from mailrep.intake.mailbox import write_mbox
from mailrep.trace.mbox import strip_envelope
from tests.intake.serve_harness import MAILREP, Serve


def corpus_messages(corpus: Path) -> list[bytes]:
    files = sorted((corpus / "messages" / "spam").iterdir()) + sorted((corpus / "messages" / "ham").iterdir())
    return [strip_envelope(f.read_bytes()) for f in files]


def run_in_pty(args: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as stdout/stderr; return (exit code, everything shown)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError("no output from the command for too long")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return proc.wait(60), out.decode("utf-8", "replace")


def summary_of(result) -> dict:
    out = result.stdout if isinstance(result.stdout, str) else result.stdout.decode()
    return json.loads(out.strip().splitlines()[-1])


class Cli:
    """The admin and import commands in-process (typer's CliRunner), on one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.app = make_app()

    def __call__(self, *args: str, stdin: bytes | None = None, code: int | None = 0):
        result = CliRunner().invoke(self.app, [*args, "--data-dir", str(self.data_dir)], input=stdin)
        if code is not None:
            assert result.exit_code == code, (args, result.output, result.exception)
        return result


@pytest.fixture(scope="module")
def imported(tmp_path_factory, corpus):
    """alice imports the corpus as an mbox (in a pseudo-terminal), then again; bob as a Maildir."""
    data = tmp_path_factory.mktemp("import")
    raws = corpus_messages(corpus)
    with (data / "corpus.mbox").open("wb") as f:
        write_mbox(f, raws)
    md = data / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i, raw in enumerate(raws):
        (md / ("new" if i % 2 else "cur") / f"{i:05d}.test:2,").write_bytes(raw)
    cli = Cli(data)
    cli("reporter", "add", "alice")
    cli("reporter", "add", "bob")
    env = {**os.environ, "MAILREP_DATA_DIR": str(data), "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("MAILREP_DATABASE_URL", None)
    env.pop("NO_COLOR", None)
    code, shown = run_in_pty([*MAILREP, "import", "--reporter", "alice", str(data / "corpus.mbox")], env)
    rerun = cli("import", "--reporter", "alice", "--json", str(data / "corpus.mbox"))
    cross = cli("import", "--reporter", "alice", "--json", str(md))
    bob = cli("import", "--reporter", "bob", "--json", str(md))
    return {"data": data, "raws": raws, "pty": (code, shown), "rerun": rerun, "cross": cross, "bob": bob}


def test_mbox_import_shows_a_progress_bar_and_a_summary(imported):
    code, shown = imported["pty"]
    distinct = len({hashlib.sha256(r).hexdigest() for r in imported["raws"]})
    assert code == 0, shown
    assert "\x1b[" in shown  # drawn live on the terminal
    assert "━" in shown and "msg/s" in shown and "ETA" in shown
    assert f"{distinct}/{distinct}" in shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(rf"imported {distinct}, duplicates 0, untraceable \d+", plain)


def test_rerun_imports_nothing(imported):
    s = summary_of(imported["rerun"])
    assert (s["imported"], s["duplicates"], s["seen"]) == (0, len(imported["raws"]), len(imported["raws"]))


def test_maildir_and_mbox_give_the_same_messages(imported):
    s = summary_of(imported["cross"])
    # an mbox cannot keep a message that does not end in a newline: it gains one
    unterminated = sum(not r.endswith(b"\n") for r in imported["raws"])
    assert (s["imported"], s["duplicates"]) == (unterminated, len(imported["raws"]) - unterminated)


def test_maildir_import_and_stored_counts(imported):
    s = summary_of(imported["bob"])
    distinct = len({hashlib.sha256(r).hexdigest() for r in imported["raws"]})
    assert s["imported"] == distinct and s["errors"] == []
    srv = Serve(imported["data"])
    rows = dict(srv.query("SELECT a.name, count(*) FROM reports r JOIN accounts a ON a.id = r.reporter_id "
                          "WHERE r.channel = 'import' GROUP BY a.name"))
    unterminated = sum(not r.endswith(b"\n") for r in imported["raws"])
    assert rows == {"alice": distinct + unterminated, "bob": distinct}
    [(no_source,)] = srv.query("SELECT count(*) FROM reports r JOIN accounts a ON a.id = r.reporter_id "
                               "WHERE a.name = 'bob' AND r.source_ip IS NULL")
    assert sum(s["untraceable"].values()) == no_source > 0  # the ham sent from inside is untraceable


def test_stdin_trap_channel_reporter_show_and_errors(tmp_path, corpus):
    cli = Cli(tmp_path)
    cli("reporter", "add", "carol")
    shown = json.loads(cli("reporter", "show", "carol", "--json").stdout)
    assert re.fullmatch(r"submit\.[0-9a-f]+@mailrep\.test", shown["submit_address"])
    raw = next((corpus / "messages" / "spam").iterdir()).read_bytes()
    first = cli("import", "--reporter", "carol", "--json", "-", stdin=raw)
    again = cli("import", "--reporter", "carol", "--json", "-", stdin=raw)
    assert (summary_of(first)["imported"], summary_of(again)["duplicates"]) == (1, 1)
    notmail = cli("import", "--reporter", "carol", "--json", "-", stdin=b"\x00\x01 nothing")
    assert summary_of(notmail)["rejected"] == {"not mail": 1}
    trap = cli("import", "--reporter", "carol", "--channel", "trap", "--json", "-", stdin=raw)
    assert summary_of(trap)["imported"] == 1
    assert Serve(tmp_path).query("SELECT count(*) FROM trap_hits") == [(1,)]
    arf = (corpus / "arf" / "stalwart-mail-auth" / "004.eml").read_bytes()
    fbl = cli("import", "--reporter", "carol", "--channel", "fbl", "--json", "-", stdin=arf)
    assert summary_of(fbl)["imported"] == 1
    want = json.loads((corpus / "arf" / "stalwart-mail-auth" / "004.expected.json").read_text())["source_ip"]
    assert Serve(tmp_path).query("SELECT channel, source_ip FROM reports WHERE channel = 'fbl'") == [("fbl", want)]
    missing = cli("import", "--reporter", "carol", str(tmp_path / "nope"), code=1)
    assert "no such file" in missing.output
    cli("import", "--reporter", "carol", "--channel", "smoke", "-", code=2)
    cli("import", "--reporter", "nobody", "-", stdin=raw, code=1)


def test_interrupted_import_resumes_where_it_stopped(db, corpus, tmp_path):
    """A run killed half-way (here: a consumer that stops) leaves a prefix; the re-run adds the rest."""
    from datetime import UTC, datetime

    from mailrep.intake.importer import Importer
    from mailrep.intake.limits import IntakeLimits
    from mailrep.intake.mailbox import Source
    from mailrep.intake.service import IntakeService
    from tests.intake.smtp_harness import add_reporter

    raws = corpus_messages(corpus)[:60]
    with (tmp_path / "part.mbox").open("wb") as f:
        write_mbox(f, raws[:25])
    with (tmp_path / "all.mbox").open("wb") as f:
        write_mbox(f, raws)
    rid, _ = add_reporter(db, "resumer")
    service = IntakeService(db, IntakeLimits(trace_workers=0), clock=lambda: datetime.now(UTC), process=False)
    service.start()
    try:
        imp = Importer(service, db, owner_id=rid, clock=lambda: datetime.now(UTC), workers=0)
        first = imp.run([Source(str(tmp_path / "part.mbox"))])
        ticks: list[int] = []
        second = imp.run([Source(str(tmp_path / "all.mbox"))], on_progress=ticks.append)
    finally:
        service.close()
    distinct = len({hashlib.sha256(r).hexdigest() for r in raws})
    assert first.imported == len({hashlib.sha256(r).hexdigest() for r in raws[:25]})
    assert second.imported + first.imported == distinct
    assert second.duplicates == len(raws) - second.imported
    assert sum(ticks) == len(raws)  # the progress bar reaches its total
