"""`mailrep trace`: one JSON line per message (the contract other tools rely on).

    mailrep trace [--mailhosts "NET|HOST ..."] [--explain] FILE... | -

Each line: {"file", "source": {"ip", "reason"}, "hops": [...], "flags": [...], "urls": [...],
"arf", "error"}; an mbox file with several messages gives one line per message with a
1-based "message" number. Unreadable files, directories and non-mail input get a line with
`error` set and the command goes on; an input longer than MAX_FILE_BYTES (32 MiB) is read up
to that size, its lines flagged `file_cut`, and a warning goes to stderr. The exit status is 0
when every input was traced whole, 1 when some were not or were cut, 2 for bad options. This
is the one place where trace errors become output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mailrep.clock import system_clock
from mailrep.errors import BadInput, MailrepError

if TYPE_CHECKING:
    from mailrep.trace.trust import TrustConfig

MAX_FILE_BYTES = 32 * 1024 * 1024


def _inputs(files: list[str]) -> Iterator[tuple[str, bytes | None, str | None]]:
    for name in files:
        if name == "-":
            yield "-", sys.stdin.buffer.read(MAX_FILE_BYTES + 1), None
            continue
        p = Path(name)
        try:
            with p.open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except IsADirectoryError:
            yield name, None, "is a directory"
        except OSError as e:
            yield name, None, f"cannot read: {e.strerror or e}"
        else:
            yield name, data, None


def _error_line(name: str, error: str) -> dict[str, Any]:
    return {"file": name, "source": {"ip": None, "reason": error}, "hops": [], "flags": [],
            "urls": [], "arf": None, "error": error}


def run(files: list[str], config: TrustConfig, *, explain_mode: bool, now: datetime) -> int:
    from mailrep.trace import mbox
    from mailrep.trace.explain import explain
    from mailrep.trace.trace import trace_message

    failures = 0
    out = sys.stdout
    for name, data, err in _inputs(files):
        if data is None:
            failures += 1
            _emit(out, _error_line(name, err or "unreadable"), explain_mode)
            continue
        cut = len(data) > MAX_FILE_BYTES
        if cut:
            failures += 1
            print(f"mailrep trace: warning: {name} is longer than {MAX_FILE_BYTES} bytes (32 MiB); "
                  "only that much was read, the messages after it were not traced", file=sys.stderr)
        messages = mbox.split(data[:MAX_FILE_BYTES])
        for n, raw in enumerate(messages, 1):
            label = name if len(messages) == 1 else f"{name} (message {n})"
            try:
                trace = trace_message(raw, config=config, now=now)
            except MailrepError as e:
                failures += 1
                line = _error_line(name, f"{e.code}: {e.message}")
            except Exception as e:  # never stop a batch on one input
                failures += 1
                line = _error_line(name, f"internal error: {type(e).__name__}: {e}")
            else:
                if explain_mode:
                    out.write(explain(trace, name=label))
                    continue
                line = {"file": name, **trace.to_dict()}
                if cut:
                    line["flags"].append({"code": "file_cut", "detail": f"file longer than {MAX_FILE_BYTES} bytes; the rest was not read"})
            if len(messages) > 1:
                line["message"] = n
            _emit(out, line, explain_mode, label)
    return 1 if failures else 0


def _emit(out: Any, line: dict[str, Any], explain_mode: bool, label: str | None = None) -> None:
    if explain_mode:
        out.write(f"== {label or line['file']}\nError: {line['error']}\n")
    else:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def config_from(mailhosts: str | None) -> TrustConfig:
    from mailrep.trace.trust import TrustConfig

    if mailhosts is not None:
        return TrustConfig.from_mailhosts(mailhosts)
    from mailrep.config import load_settings

    return TrustConfig.from_section(dict(load_settings().section("trace")))


def register(app: typer.Typer) -> None:
    @app.command("trace")
    def trace(
        files: list[str] = typer.Argument(..., help="message or mbox files, or - for stdin"),
        mailhosts: str | None = typer.Option(
            None, "--mailhosts", help='your own relays: CIDR networks, IPs and host names (mx.example.com, *.example.com), space- or |-separated'
        ),
        explain_: bool = typer.Option(False, "--explain", help="print a readable walk of the decision instead of JSON"),
    ) -> None:
        """Trace messages to the host that injected them.

        One JSON object per message per line."""
        try:
            config = config_from(mailhosts)
        except BadInput as e:
            typer.echo(f"mailrep trace: {e.message}", err=True)
            raise typer.Exit(2) from None
        try:
            code = run(files, config, explain_mode=explain_, now=system_clock())
        except BrokenPipeError:
            code = 0
        raise typer.Exit(code)
