"""`mailrep trace`: one JSON line per message (the contract other tools rely on).

    mailrep trace [--mailhosts "NET|HOST ..."] [--explain] [--jobs N] FILE... | -

Each line: {"file", "source": {"ip", "reason"}, "hops": [...], "flags": [...], "urls": [...],
"arf", "error"}; an mbox file with several messages gives one line per message with a
1-based "message" number. Unreadable files, directories and non-mail input get a line with
`error` set and the command goes on; an input longer than MAX_FILE_BYTES (32 MiB) is read up
to that size, its lines flagged `file_cut`, and a warning goes to stderr. The exit status is 0
when every input was traced whole, 1 when some were not or were cut, 2 for bad options. This
is the one place where trace errors become output.

Lines are compact JSON (orjson) written in blocks (about 1 MiB), not line by line; the
options are read without typer unless --help or an error needs it (start-up). `--jobs N` traces the files in N
forked processes (patterns and the Public Suffix List loaded once, before the fork) and prints
their lines in the order given, the same bytes as with one process; it pays off for large
inputs only (default 1).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailrep.clock import system_clock
from mailrep.errors import BadInput, MailrepError

if TYPE_CHECKING:
    import typer

    from mailrep.trace.trust import TrustConfig

MAX_FILE_BYTES = 32 * 1024 * 1024


_JSON = json.JSONEncoder(ensure_ascii=False).encode  # for what orjson refuses (lone surrogates)


def _encode(line: dict[str, Any]) -> str:
    """One output line's JSON (compact, UTF-8 as is): orjson, ~10x faster than json."""
    import orjson

    try:
        return orjson.dumps(line).decode()
    except (TypeError, orjson.JSONEncodeError):
        return _JSON(line)

_FLUSH_CHARS = 1 << 20  # output is written in blocks of about 1 MiB, not line by line
_JOB: tuple[TrustConfig, bool, datetime] | None = None  # what --jobs workers inherit by fork


def _read(name: str) -> tuple[bytes | None, str | None]:
    if name == "-":
        return sys.stdin.buffer.read(MAX_FILE_BYTES + 1), None
    try:
        with open(name, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1), None
    except IsADirectoryError:
        return None, "is a directory"
    except OSError as e:
        return None, f"cannot read: {e.strerror or e}"


def _error_line(name: str, error: str) -> dict[str, Any]:
    return {"file": name, "source": {"ip": None, "reason": error}, "hops": [], "flags": [],
            "urls": [], "arf": None, "error": error}


def _error_text(name: str, error: str, explain_mode: bool, label: str | None = None) -> str:
    if explain_mode:
        return f"== {label or name}\nError: {error}\n"
    return _encode(_error_line(name, error)) + "\n"


def _trace_file(name: str, data: bytes | None, err: str | None, config: TrustConfig,
                explain_mode: bool, now: datetime) -> tuple[str, int, str | None]:
    """One input's output text, how many of its messages failed, and a warning for stderr."""
    from mailrep.trace import mbox
    from mailrep.trace.explain import explain
    from mailrep.trace.trace import trace_message

    if data is None:
        return _error_text(name, err or "unreadable", explain_mode), 1, None
    failures, warning = 0, None
    cut = len(data) > MAX_FILE_BYTES
    if cut:
        failures += 1
        warning = (f"mailrep trace: warning: {name} is longer than {MAX_FILE_BYTES} bytes (32 MiB); "
                   "only that much was read, the messages after it were not traced")
        data = data[:MAX_FILE_BYTES]
    messages = mbox.split(data)
    many = len(messages) > 1
    out: list[str] = []
    for n, raw in enumerate(messages, 1):
        label = f"{name} (message {n})" if many else name
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
                out.append(explain(trace, name=label))
                continue
            line = {"file": name, **trace.to_dict()}
            if cut:
                line["flags"].append({"code": "file_cut", "detail": f"file longer than {MAX_FILE_BYTES} bytes; the rest was not read"})
        if many:
            line["message"] = n
        if explain_mode:
            out.append(f"== {label}\nError: {line['error']}\n")
        else:
            out.append(_encode(line))
            out.append("\n")
    return "".join(out), failures, warning


def _job(item: tuple[str, bytes | None]) -> tuple[str, int, str | None]:
    assert _JOB is not None
    name, data = item
    err = None
    if data is None:
        data, err = _read(name)
    return _trace_file(name, data, err, *_JOB)


def _results(files: list[str], config: TrustConfig, explain_mode: bool, now: datetime,
             jobs: int) -> Iterator[tuple[str, int, str | None]]:
    if jobs <= 1 or len(files) < 2:
        for name in files:
            data, err = _read(name)
            yield _trace_file(name, data, err, config, explain_mode, now)
        return
    import multiprocessing

    global _JOB
    from mailrep.trace.trace import trace_message

    # Warm up before forking (compiled patterns, Public Suffix List): loaded once, shared by
    # every worker instead of loaded again in each.
    trace_message(b"Subject: x\n\nhttp://www.example.co.uk/\n", config=config, now=now)
    _JOB = (config, explain_mode, now)
    # stdin is read here, in order; the files are read by the workers
    items = [(name, _read(name)[0] if name == "-" else None) for name in files]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        yield from pool.imap(_job, items, chunksize=max(1, min(64, len(items) // (jobs * 8))))


def _regex_cache_file() -> str | None:
    """Where the compiled Received patterns are kept between runs (the user's cache dir)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or (
        os.path.join(os.path.expanduser("~"), ".cache") if os.path.expanduser("~") != "~" else "")
    if not base:
        return None
    return os.path.join(base, "mailrep", f"trace-regex-{sys.implementation.cache_tag}-{sys.hexversion:x}.marshal")


def _load_regex_cache(path: str | None) -> None:
    from mailrep.trace import regex_cache

    if path is None:
        return
    try:
        with open(path, "rb") as fh:
            regex_cache.load(fh.read())
    except OSError:
        pass  # first run, or no cache dir: the patterns are compiled as they are used


def _save_regex_cache(path: str | None) -> None:
    """Write what this run compiled, for the next run; best effort (atomic rename)."""
    import os

    from mailrep.trace import regex_cache

    if path is None or not regex_cache.changed():
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(regex_cache.export())
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def run(files: list[str], config: TrustConfig, *, explain_mode: bool, now: datetime, jobs: int = 1) -> int:
    """Trace `files` and print their lines, in the order given, `jobs` processes at a time.

    The compiled Received patterns are loaded from the user's cache dir and what this run
    had to compile is saved there (trace/regex_cache.py): a run starts in milliseconds
    instead of compiling ~0.25 s of patterns."""
    cache_file = _regex_cache_file()
    _load_regex_cache(cache_file)
    try:
        return _run(files, config, explain_mode=explain_mode, now=now, jobs=jobs)
    finally:
        _save_regex_cache(cache_file)


def _run(files: list[str], config: TrustConfig, *, explain_mode: bool, now: datetime, jobs: int) -> int:
    failures = 0
    out = sys.stdout
    pending: list[str] = []
    size = 0
    for text, failed, warning in _results(files, config, explain_mode, now, jobs):
        failures += failed
        if warning is not None:
            if pending:
                out.write("".join(pending))
                pending, size = [], 0
            out.flush()
            print(warning, file=sys.stderr)
        pending.append(text)
        size += len(text)
        if size >= _FLUSH_CHARS:
            out.write("".join(pending))
            pending, size = [], 0
    if pending:
        out.write("".join(pending))
    out.flush()
    return 1 if failures else 0


def config_from(mailhosts: str | None) -> TrustConfig:
    from mailrep.trace.trust import TrustConfig

    if mailhosts is not None:
        return TrustConfig.from_mailhosts(mailhosts)
    from mailrep.config import load_settings

    return TrustConfig.from_section(dict(load_settings().section("trace")))


def trace_command(files: list[str], mailhosts: str | None, explain_mode: bool, jobs: int) -> int:
    """The command's body, whichever parser read the options: its exit status."""
    try:
        config = config_from(mailhosts)
    except BadInput as e:
        print(f"mailrep trace: {e.message}", file=sys.stderr)
        return 2
    try:
        return run(files, config, explain_mode=explain_mode, now=system_clock(), jobs=jobs)
    except BrokenPipeError:
        return 0


def parse_fast(args: list[str]) -> tuple[list[str], str | None, bool, int] | None:
    """The arguments after `trace` as (files, mailhosts, explain, jobs), read without typer
    (whose import and option handling cost ~0.2 s of every run); None for anything else
    (--help, a bad or unknown option, no file), which the typer command then answers."""
    files: list[str] = []
    mailhosts: str | None = None
    explain_mode = False
    jobs = "1"
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            files += args[i:]
            break
        if arg == "-" or not arg.startswith("-"):
            files.append(arg)
        elif arg == "--explain":
            explain_mode = True
        elif arg in ("--mailhosts", "--jobs", "-j"):
            if i == len(args):
                return None
            if arg == "--mailhosts":
                mailhosts = args[i]
            else:
                jobs = args[i]
            i += 1
        elif arg.startswith("--mailhosts="):
            mailhosts = arg.partition("=")[2]
        elif arg.startswith("--jobs="):
            jobs = arg.partition("=")[2]
        elif arg.startswith("-j") and not arg.startswith("-j-"):
            jobs = arg[2:]
        else:
            return None
    if not files or not (jobs.isascii() and jobs.isdigit()) or int(jobs) < 1:
        return None
    return files, mailhosts, explain_mode, int(jobs)


def register(app: typer.Typer) -> None:
    import typer

    @app.command("trace")
    def trace(
        files: list[str] = typer.Argument(..., help="message or mbox files, or - for stdin"),
        mailhosts: str | None = typer.Option(
            None, "--mailhosts", help='your own relays: CIDR networks, IPs and host names (mx.example.com, *.example.com), space- or |-separated'
        ),
        explain_: bool = typer.Option(False, "--explain", help="print a readable walk of the decision instead of JSON"),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="trace in N processes (for large inputs); the output order is kept"),
    ) -> None:
        """Trace messages to the host that injected them.

        One JSON object per message per line."""
        raise typer.Exit(trace_command(files, mailhosts, explain_, jobs))
