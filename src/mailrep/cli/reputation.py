"""`mailrep reputation IP|CIDR|DOMAIN`: the reputation of an address, a network or a domain.

    mailrep reputation 45.33.1.2              a table, then the last 90 days as sparklines
    mailrep reputation 45.33.1.0/24 --json    the API's JSON
    mailrep reputation example.com --recompute   recompute first (`mailrep serve` does it every minute)
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import typer

from mailrep.cli.common import DataDir, echo_json, open_services, run
from mailrep.clock import system_clock as now

BARS = "▁▂▃▄▅▆▇█"
SPARK_DAYS = 90


def sparkline(values: list[float | None]) -> str:
    """One character per value, scaled between the smallest and the largest; blank for None."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    lo, hi = min(known), max(known)
    span = (hi - lo) or 1.0
    return "".join(" " if v is None else BARS[round((v - lo) / span * (len(BARS) - 1))] for v in values)


def _series(history: list[dict[str, Any]], field: str, today: date) -> list[float | None]:
    by_day = {h["day"]: h[field] for h in history}
    days = [(today - timedelta(days=i)).isoformat() for i in range(SPARK_DAYS - 1, -1, -1)]
    return [by_day.get(d, None if field == "score" else 0) for d in days]


def render(view: dict[str, Any], today: date) -> str:
    name = view.get("ip") or view.get("network") or view.get("domain")
    score = "no score" if view["score"] is None else f"{view['score']:+.1f}"
    interval = view.get("score_interval")
    lines = [f"{name}: {score} (confidence {view['confidence']}"
             + (f", interval {interval[0]:+.1f}..{interval[1]:+.1f})" if interval else ")")]
    rows = [("", "day", "month"), ("magnitude", *(view["magnitude"][k] for k in ("day", "month")))]
    rows += [(k.replace("_", " "), view[k]["day"], view[k]["month"])
             for k in ("volume", "complaints", "trap_hits", "dns_queries")]
    lines += [f"  {a:<12}{'-' if b is None else b!s:>14}{'-' if c is None else c!s:>14}" for a, b, c in rows]
    lines.append(f"  first seen {view['first_seen'] or '-'}, listed {'yes' if view['listed'] else 'no'}, "
                 f"formula {view['formula']}")
    lines += [f"  {f['effect']:+6.2f}  {f['text']}" for f in view["explanation"]]
    hist = view["history"]
    lines.append(f"  last {SPARK_DAYS} days (oldest left):")
    for field in ("volume", "complaints", "score"):
        lines.append(f"  {field:<11}|{sparkline(_series(hist, field, today))}|")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("reputation")
    def reputation(
        what: str = typer.Argument(..., help="an IP address, a network (CIDR) or a domain"),
        as_json: bool = typer.Option(False, "--json", help="print the API's JSON"),
        recompute: bool = typer.Option(False, "--recompute", help="recompute the reputations first"),
        data_dir: Path | None = DataDir,
    ) -> None:
        """Reputation of an IP, a network or a domain.

        Score, confidence, magnitudes and a 90-day history."""
        def go() -> None:
            rep = open_services(data_dir).reputation
            at = now()
            if recompute:
                rep.recompute(at)
            if "/" in what:
                view = rep.network(what, at)
            elif what.replace(".", "").isdigit() or ":" in what:
                view = rep.ip(what, at)
            else:
                view = rep.domain(what, at)
            if as_json:
                echo_json(view)
            else:
                typer.echo(render(view, at.date()))
        run(go)
