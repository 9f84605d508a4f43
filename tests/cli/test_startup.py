"""`mailrep --help` and `--version` (issue 13, defect 12): help starts without loading the heavy
subsystems, every command's help fits 80 columns uncut, the version is printed. The start-up
time itself is measured in BENCHMARKS.md, not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys

import typer
from typer.testing import CliRunner

from mailrep import __version__
from mailrep.cli import make_app

HEAVY = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "aiosmtpd", "dns", "psycopg",
         "rich", "httpx")


def _commands(cmd: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under `cmd` (typer's own click: groups have `commands`)."""
    out = [path]
    for name, sub in getattr(cmd, "commands", {}).items():
        out += _commands(sub, (*path, name))
    return out


def test_help_loads_no_heavy_subsystem():
    code = ("import sys\nfrom mailrep.cli import main\nsys.argv = ['mailrep', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert "Usage: mailrep" in r.stdout
    loaded = set(r.stderr.split())
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_version_through_the_installed_script():
    exe = os.path.join(os.path.dirname(sys.executable), "mailrep")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == f"mailrep {__version__}\n"


def test_every_help_fits_80_columns_uncut():
    app = make_app()
    paths = _commands(typer.main.get_command(app))
    assert len(paths) > 25
    runner = CliRunner()
    for path in paths:
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert r.exit_code == 0, (path, r.output)
        for line in r.output.splitlines():
            assert len(line) <= 80, (path, line)
            assert "…" not in line, (path, line)
            assert line.startswith("Usage:") or not line.endswith("..."), (path, line)
