"""The server-rendered SVG charts: axis labels a person can read."""

from __future__ import annotations

import re

import pytest

from mailrep.web.pages.charts import line, stacked_bars

DAYS = [f"2026-11-{d:02d}" for d in range(1, 31)]


def _y_ticks(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end" class="tick">([^<]*)<', svg)


@pytest.mark.parametrize(("values", "want"), [
    ([0] * 30, ["0", "1"]),                  # nothing yet: 0 and 1, not "0 0 1"
    ([0] * 29 + [1], ["0", "1"]),
    ([0] * 29 + [2], ["0", "1", "2"]),
    ([0] * 29 + [5], ["0", "5"]),
    ([0] * 29 + [37], ["0", "25", "50"]),
])
def test_line_y_axis_labels_are_distinct_whole_numbers(values, want):
    assert _y_ticks(str(line(DAYS, values, "listings"))) == want


def test_stacked_bars_axis_and_escaped_legend():
    svg = str(stacked_bars(DAYS, {"http": [1] * 30, "<b>": [3] * 30}, "reports"))
    assert _y_ticks(svg) == ["0", "2", "4"]  # 1 + 3 a day
    assert "&lt;b&gt;" in svg and "<b>" not in svg
