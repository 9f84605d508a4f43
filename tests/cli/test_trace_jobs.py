"""`mailrep trace --jobs N`: the same bytes, in the same order, as one process."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.cli.test_trace import MSG, _app


def test_jobs_keep_bytes_and_order(tmp_path: Path):
    files = []
    for i in range(12):
        p = tmp_path / f"m{i}.eml"
        p.write_bytes(MSG.replace(b"198.51.100.7", f"198.51.100.{i}".encode()))
        files.append(str(p))
    files[3:3] = [str(tmp_path / "missing.eml"), str(tmp_path)]
    box = tmp_path / "box.mbox"
    box.write_bytes(b"".join(b"From a@b Mon Jan  1 00:00:00 2001\n" + MSG + b"\n" for _ in range(3)))
    files.append(str(box))
    one = CliRunner().invoke(_app(), ["trace", *files])
    for jobs in ("2", "3"):
        many = CliRunner().invoke(_app(), ["trace", "--jobs", jobs, *files])
        assert many.exit_code == one.exit_code == 1
        assert many.stdout == one.stdout
    assert len(one.stdout.splitlines()) == len(files) + 2
