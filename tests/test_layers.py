"""The layers of src/mailrep and the one-way flow between them, checked from the source text.

Every module is parsed with `ast` and every import counts: at module level, inside functions
and classes, under `try`, and under `if TYPE_CHECKING:` too. A TYPE_CHECKING import creates no
runtime cycle, but it is still a dependency of the design (the importing layer speaks the other
layer's vocabulary), so it counts like any other; `importlib.import_module("mailrep...")` with
a constant name counts as well.

A node is the first name under `mailrep`: a package (trace, policy, store, services, intake,
outbound, zones, dns, web, cli) or a root module, each its own node (errors, config, clock, net,
ratelimit, roles, run, and whatever other root modules exist). `mailrep/__init__.py` is ignored,
as importer and as target. Imports inside one node are free.

The flow is trace -> intake -> store -> services/policy -> web, cli, run; zones and dns
publish what services hand them. The rules:

| importer       | may not import                                                    |
| -------------- | ----------------------------------------------------------------- |
| any node       | any node it is in a cycle with (imports inside functions count)   |
| trace          | anything but PURE_STDLIB, PURE_THIRD_PARTY, errors, net, roles, clock |
| policy         | the same, and trace (pure types flowing downstream)               |
|                | (clock: types only, i.e. only under `if TYPE_CHECKING:`)          |
| dns, zones, policyd | store, services, web, intake, cli, run                       |
| ship           | store, services, web, intake, dns, zones, cli, run                |
| store          | services, web, intake, dns, cli, run, zones                       |
| services       | web, cli, run, dns                                                |
| all but cli, run | run                                                             |
| all but cli    | cli                                                               |
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
TOP = "mailrep"

# The table above, as data.
FORBIDDEN: dict[str, frozenset[str]] = {
    "dns": frozenset({"store", "services", "web", "intake", "cli", "run"}),
    "zones": frozenset({"store", "services", "web", "intake", "cli", "run"}),
    "policyd": frozenset({"store", "services", "web", "intake", "cli", "run"}),
    "ship": frozenset({"store", "services", "web", "intake", "dns", "zones", "cli", "run"}),
    "store": frozenset({"services", "web", "intake", "dns", "cli", "run", "zones"}),
    "services": frozenset({"web", "cli", "run", "dns"}),
}
# target -> the only nodes that may import it (besides itself)
ONLY_FROM: dict[str, frozenset[str]] = {
    "run": frozenset({"cli"}),
    "cli": frozenset(),
}
# The pure layers: the mailrep nodes each may import besides itself.
PURE: dict[str, frozenset[str]] = {
    "trace": frozenset({"errors", "net", "clock", "roles"}),
    "policy": frozenset({"errors", "net", "clock", "roles", "trace"}),
}
TYPES_ONLY = frozenset({"clock"})  # pure layers may import these only under TYPE_CHECKING

# Standard-library modules that do I/O, start processes or threads, or read the clock; the
# rest of the standard library is pure enough for trace and policy. A dotted name bans that
# module and below (urllib.parse stays allowed).
IO_STDLIB = frozenset({
    "asyncio", "asyncore", "asynchat", "atexit", "concurrent", "configparser", "ctypes", "dbm",
    "fcntl", "fileinput", "filecmp", "ftplib", "getpass", "glob", "grp", "http", "imaplib", "io",
    "logging", "mailbox", "mimetypes", "mmap", "multiprocessing", "nntplib", "os", "pathlib",
    "platform", "poplib", "pty", "pwd", "queue", "resource", "sched", "select", "selectors",
    "shelve", "shutil", "signal", "smtpd", "smtplib", "socket", "socketserver", "sqlite3", "ssl",
    "subprocess", "sys", "tarfile", "telnetlib", "tempfile", "termios", "threading", "time",
    "tty", "urllib.request", "urllib.response", "urllib.robotparser", "webbrowser", "wsgiref",
    "xmlrpc", "zipfile", "_thread",
})
PURE_STDLIB = frozenset(sys.stdlib_module_names) - {n for n in IO_STDLIB if "." not in n}
# Third-party libraries the pure layers may use, if they do no I/O as used. None today:
# trace/psl.py reads the suffix list bundled in the tldextract package as data, without
# importing tldextract.
PURE_THIRD_PARTY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Import:
    """One import statement (or constant import_module call) naming one module."""

    module: str  # the importing module, dotted (mailrep.trace.urls)
    path: str  # its file, relative to src/
    line: int
    target: str  # the imported module, dotted and absolute
    type_checking: bool  # under `if TYPE_CHECKING:`

    def __str__(self) -> str:
        where = f"{self.path}:{self.line} ({self.module})"
        return f"{where} imports {self.target}" + (" under TYPE_CHECKING" if self.type_checking else "")


def _module_name(src: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _exists(src: Path, dotted: str) -> bool:
    base = src.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(src: Path, path: Path) -> list[Import]:
    """Every import in one file, wherever it stands in the file."""
    module, is_package = _module_name(src, path)
    package = module if is_package else module.rpartition(".")[0]
    rel = str(path.relative_to(src))
    found: list[Import] = []

    def add(node: ast.AST, target: str, guarded: bool) -> None:
        imp = Import(module, rel, getattr(node, "lineno", 0), target, guarded)
        if imp not in found:  # `from x import a, b` names x once
            found.append(imp)

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name, guarded)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                # `from mailrep import web` imports the module mailrep.web
                sub = f"{base}.{alias.name}"
                add(node, sub if alias.name != "*" and _exists(src, sub) else base, guarded)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            add(node, node.args[0].value, guarded)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False)
    return found


def all_imports(src: Path = SRC, top: str = TOP) -> list[Import]:
    return [i for path in sorted((src / top).rglob("*.py")) for i in imports_of(src, path)]


def node_of(dotted: str, top: str = TOP) -> str | None:
    """The layer a mailrep module belongs to; None for mailrep itself and for other libraries."""
    parts = dotted.split(".")
    return parts[1] if parts[0] == top and len(parts) > 1 else None


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


def cycle_violations(imports: list[Import], top: str = TOP) -> list[str]:
    """Each group of nodes that import each other, with every import that binds the group."""
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in imports:
        a, b = node_of(imp.module, top), node_of(imp.target, top)
        if a is not None and b is not None and a != b:
            edges[a, b].append(imp)
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    out = []
    for component in _sccs(graph):
        members = set(component)
        lines = [f"cycle between {', '.join(component)}:"]
        for (a, b), sites in sorted(edges.items()):
            if a in members and b in members:
                lines.append(f"  {a} -> {b}:")
                lines.extend(f"    {site}" for site in sites)
        out.append("\n".join(lines))
    return out


def _stdlib_pure(target: str) -> bool:
    if target.split(".")[0] not in sys.stdlib_module_names:
        return False
    return not any(target == bad or target.startswith(bad + ".") for bad in IO_STDLIB)


def rule_violations(imports: list[Import], top: str = TOP) -> list[str]:
    """Each import that breaks a row of the table (other than the cycle row)."""
    out = []
    for imp in imports:
        src, dst = node_of(imp.module, top), node_of(imp.target, top)
        if src is None or src == dst:
            continue
        if src in PURE:
            if dst is None:
                root = imp.target.split(".")[0]
                if root == top or root == "__future__" or _stdlib_pure(imp.target):
                    continue
                if root in PURE_THIRD_PARTY:
                    continue
                why = "I/O in the standard library" if root in sys.stdlib_module_names else (
                    "a third-party library not in PURE_THIRD_PARTY")
                out.append(f"{src} is pure, {imp}: {why}")
            elif dst not in PURE[src]:
                out.append(f"{src} is pure, {imp}: {dst} is not among {sorted(PURE[src])}")
            elif dst in TYPES_ONLY and not imp.type_checking:
                out.append(f"{src} is pure, {imp}: {dst} for types only (under TYPE_CHECKING)")
            continue
        if dst is None:
            continue
        if dst in FORBIDDEN.get(src, ()):
            out.append(f"{src} may not import {dst}: {imp}")
        elif dst in ONLY_FROM and src not in ONLY_FROM[dst]:
            allowed = ", ".join(sorted(ONLY_FROM[dst] | {dst}))
            out.append(f"only {allowed} may import {dst}: {imp}")
    return out


def _report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n" + "\n".join(violations)


def test_no_cycle_between_packages():
    violations = cycle_violations(all_imports())
    assert not violations, _report("import cycles between packages", violations)


def test_each_layer_imports_only_what_its_row_allows():
    violations = rule_violations(all_imports())
    assert not violations, _report("imports against the layer rules", violations)


# The checker itself, on tiny synthetic trees.


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "mailrep" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_checker_finds_a_cycle_made_by_an_import_inside_a_function(tmp_path):
    src = _tree(tmp_path, {
        "__init__.py": "",
        "store/__init__.py": "",
        "store/db.py": "def flush():\n    from mailrep.dns import counts\n    return counts\n",
        "dns/__init__.py": "from mailrep.store import db\n",
        "dns/counts.py": "",
    })
    cycles = cycle_violations(all_imports(src))
    assert len(cycles) == 1
    assert cycles[0].startswith("cycle between dns, store:")
    assert "mailrep/store/db.py:2 (mailrep.store.db) imports mailrep.dns.counts" in cycles[0]
    assert "mailrep/dns/__init__.py:1 (mailrep.dns) imports mailrep.store.db" in cycles[0]


def test_checker_resolves_relative_and_type_checking_imports(tmp_path):
    src = _tree(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "trace/__init__.py": "",
        "trace/a.py": (
            "from typing import TYPE_CHECKING\n"
            "from .. import errors\n"
            "from . import b\n"
            "import socket\n"
            "if TYPE_CHECKING:\n"
            "    from mailrep.store import db\n"
        ),
        "trace/b.py": "import importlib\nimportlib.import_module('mailrep.web')\n",
        "store/__init__.py": "",
        "store/db.py": "",
        "web/__init__.py": "",
    })
    targets = {(i.module, i.target, i.type_checking) for i in all_imports(src)}
    assert ("mailrep.trace.a", "mailrep.errors", False) in targets
    assert ("mailrep.trace.a", "mailrep.trace.b", False) in targets
    assert ("mailrep.trace.a", "mailrep.store.db", True) in targets
    assert ("mailrep.trace.b", "mailrep.web", False) in targets
    violations = rule_violations(all_imports(src))
    assert [v.split(":")[0] for v in violations] == [
        "trace is pure, mailrep/trace/a.py",
        "trace is pure, mailrep/trace/a.py",
        "trace is pure, mailrep/trace/b.py",
    ]
    assert "imports socket: I/O in the standard library" in violations[0]
    assert "imports mailrep.store.db under TYPE_CHECKING: store is not among" in violations[1]


def test_checker_applies_the_layer_rows(tmp_path):
    src = _tree(tmp_path, {
        "__init__.py": "",
        "run.py": "import mailrep.cli\n",
        "cli/__init__.py": "from mailrep import run\n",
        "web/__init__.py": "import mailrep.run\nfrom mailrep.store import db\n",
        "store/__init__.py": "",
        "store/db.py": "from mailrep.zones import snapshot\n",
        "zones/__init__.py": "",
        "zones/snapshot.py": "",
    })
    violations = rule_violations(all_imports(src))
    assert violations == [
        "only cli may import cli: mailrep/run.py:1 (mailrep.run) imports mailrep.cli",
        "store may not import zones: mailrep/store/db.py:1 (mailrep.store.db) imports "
        "mailrep.zones.snapshot",
        "only cli, run may import run: mailrep/web/__init__.py:1 (mailrep.web) imports mailrep.run",
    ]
