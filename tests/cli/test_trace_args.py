"""`mailrep trace` reads its options by hand (no typer at start-up): the same values as the
typer command, or None so that typer answers (help, errors)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import mailrep.cli.trace as trace_cli
from mailrep.cli import _trace_app

ARGS = [
    ["a.eml"],
    ["a.eml", "b.eml", "-"],
    ["--explain", "a.eml"],
    ["a.eml", "--explain", "b.eml"],
    ["--mailhosts", "192.0.2.0/24 mx.example.com", "a.eml"],
    ["--mailhosts=10.0.0.0/8", "a.eml"],
    ["--mailhosts", "--explain", "a.eml"],  # an option's value may start with '-'
    ["-j", "3", "a.eml"], ["-j3", "a.eml"], ["--jobs", "2", "a.eml"], ["--jobs=4", "a.eml", "b"],
    ["--", "--explain", "-j"],
    ["-j", "0", "a.eml"], ["-j", "x", "a.eml"], ["--jobs=", "a.eml"], ["-j"], ["a.eml", "--mailhosts"],
    [], ["--explain"], ["--help"], ["a.eml", "--help"], ["--nope", "a.eml"], ["-x", "a.eml"],
    ["-j-1", "a.eml"], ["--explain=1", "a.eml"],
]


def _typer_reading(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str | None, bool, int] | None:
    seen: list[tuple[list[str], str | None, bool, int]] = []

    def record(files: list[str], mailhosts: str | None, explain_mode: bool, jobs: int) -> int:
        seen.append((list(files), mailhosts, explain_mode, jobs))
        return 0

    monkeypatch.setattr(trace_cli, "trace_command", record)
    CliRunner().invoke(_trace_app(), ["trace", *args])
    return seen[0] if seen else None


@pytest.mark.parametrize("args", ARGS, ids=[" ".join(a) or "(none)" for a in ARGS])
def test_same_reading_as_typer(args, monkeypatch):
    ours = trace_cli.parse_fast(args)
    theirs = _typer_reading(args, monkeypatch)
    assert ours == theirs  # None: typer answers (help, or an error with exit status 2)


def test_common_forms_take_the_fast_path():
    for args in ARGS[:12]:
        assert trace_cli.parse_fast(args) is not None, args


def test_the_installed_command_does_not_import_typer(tmp_path):
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"Subject: x\n\nhttp://www.example.co.uk/\n")
    code = ("import sys; from mailrep.cli import main; sys.argv = ['mailrep', 'trace', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n"
            "    print('typer' in sys.modules, 'pydantic' in sys.modules, e.code, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", code, str(msg)], capture_output=True, text=True, timeout=60)
    assert out.stderr.split() == ["False", "False", "0"]
    assert '"domain": "example.co.uk"' in out.stdout or '"domain":"example.co.uk"' in out.stdout


def test_lines_are_compact_json_and_lone_surrogates_still_encode():
    line = {"file": "é.eml", "urls": [{"url": "http://x.example/\u00e9"}], "error": None}
    assert trace_cli._encode(line) == '{"file":"é.eml","urls":[{"url":"http://x.example/é"}],"error":null}'
    odd = {"file": "bad\udcff.eml"}  # orjson refuses lone surrogates: json writes them
    assert json.loads(trace_cli._encode(odd)) == odd
