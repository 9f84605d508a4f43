"""Server-rendered SVG charts (no script, no inline style: presentation attributes and the site's
CSS classes only). Every text that reaches the SVG is escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

W, H = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
COLOURS = ("#1f5fa8", "#b34700", "#2e7d32", "#6a1b9a", "#555555")


def _svg(title: str, body: list[str], height: int = H, desc: str = "") -> Markup:
    t = escape(title)
    d = f"<desc>{escape(desc)}</desc>" if desc else ""
    return Markup(
        f'<svg class="chart" viewBox="0 0 {W} {height}" width="100%" role="img" aria-label="{t}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{t}</title>{d}{"".join(body)}</svg>')


def _nice_max(values: Sequence[int]) -> int:
    """The axis top: the largest value rounded up to 1, 2 or 5 times a power of ten."""
    top = max(values, default=0)
    if top <= 5:
        return max(top, 1)
    mag = 10 ** (len(str(top)) - 1)
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= top)


def _axes(days: Sequence[str], top: int, height: int = H) -> list[str]:
    plot_h = height - TOP - BOTTOM
    out = [f'<line x1="{LEFT}" y1="{height - BOTTOM}" x2="{W - RIGHT}" y2="{height - BOTTOM}" stroke="#333"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{height - BOTTOM}" stroke="#333"/>']
    for frac in (0, 0.5, 1) if top % 2 == 0 else (0, 1):  # whole numbers only: no '0 0 1'
        y = height - BOTTOM - plot_h * frac
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{round(top * frac)}</text>')
    if days:
        for i in sorted({0, len(days) // 2, len(days) - 1}):
            out.append(f'<text x="{_x(i, len(days)):.1f}" y="{height - 8}" text-anchor="middle" '
                       f'class="tick">{escape(days[i][5:])}</text>')
    return out


def _x(i: int, n: int) -> float:
    span = W - LEFT - RIGHT
    return LEFT + span * (i + 0.5) / max(n, 1)


def line(days: Sequence[str], values: Sequence[int], title: str, desc: str = "") -> Markup:
    top = _nice_max(values)
    plot_h = H - TOP - BOTTOM
    pts = " ".join(f"{_x(i, len(values)):.1f},{H - BOTTOM - plot_h * v / top:.1f}" for i, v in enumerate(values))
    body = _axes(days, top)
    body.append(f'<polyline points="{pts}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>')
    return _svg(title, body, desc=desc)


def stacked_bars(days: Sequence[str], series: dict[str, Sequence[int]], title: str) -> Markup:
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    top = _nice_max(totals)
    plot_h = H - TOP - BOTTOM
    bar_w = (W - LEFT - RIGHT) / max(len(days), 1) * 0.7
    body = _axes(days, top)
    for i in range(len(days)):
        y = H - BOTTOM
        for k, values in enumerate(series.values()):
            h = plot_h * values[i] / top
            if h > 0:
                y -= h
                body.append(f'<rect x="{_x(i, len(days)) - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                            f'height="{h:.1f}" fill="{COLOURS[k % len(COLOURS)]}"/>')
    legend_x = LEFT + 8
    for k, name in enumerate(series):
        body.append(f'<rect x="{legend_x}" y="{TOP}" width="10" height="10" fill="{COLOURS[k % len(COLOURS)]}"/>'
                    f'<text x="{legend_x + 14}" y="{TOP + 9}" class="tick">{escape(name)}</text>')
        legend_x += 24 + 8 * len(name)
    return _svg(title, body)


def horizontal_bars(items: Sequence[tuple[str, int]], title: str) -> Markup:
    row = 24
    height = TOP + BOTTOM + row * max(len(items), 1)
    top = _nice_max([n for _, n in items])
    label_w = 150
    span = W - label_w - RIGHT - 40
    body = []
    for i, (label, n) in enumerate(items):
        y = TOP + i * row
        body.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" class="tick">{escape(label)}</text>'
                    f'<rect x="{label_w}" y="{y + 4}" width="{span * n / top:.1f}" height="{row - 8}" fill="{COLOURS[0]}"/>'
                    f'<text x="{label_w + span * n / top + 6:.1f}" y="{y + 16}" class="tick">{n}</text>')
    return _svg(title, body, height)


def signed_line(days: Sequence[str], values: Sequence[float | None], title: str, desc: str = "",
                low: float = -10.0, high: float = 10.0) -> Markup:
    """A line over a fixed signed range (a score), with a zero line; None leaves a gap."""
    plot_h = H - TOP - BOTTOM

    def y(v: float) -> float:
        return H - BOTTOM - plot_h * (min(high, max(low, v)) - low) / (high - low)

    body = [f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#333"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#333"/>',
            f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{W - RIGHT}" y2="{y(0):.1f}" stroke="#999" stroke-dasharray="4 4"/>']
    for v in (low, 0.0, high):
        body.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v:g}</text>')
    if days:
        for i in sorted({0, len(days) // 2, len(days) - 1}):
            body.append(f'<text x="{_x(i, len(days)):.1f}" y="{H - 8}" text-anchor="middle" '
                        f'class="tick">{escape(days[i][5:])}</text>')
    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
        else:
            runs[-1].append(f"{_x(i, len(values)):.1f},{y(v):.1f}")
    for run in runs:
        if len(run) == 1:
            cx, cy = run[0].split(",")
            body.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{COLOURS[2]}"/>')
        elif run:
            body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{COLOURS[2]}" stroke-width="2"/>')
    return _svg(title, body, desc=desc)
