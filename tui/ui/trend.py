"""A per-minute trend that draws a minute without data as no data, never as zero.

Textual's Sparkline takes numbers only, so the minutes before the run (and gaps) came out as
zero bars. Here a column whose minutes have no data at all is a dim ``·``; a zero is the lowest
bar ``▁``. Bars are scaled from zero (not from the minimum): a flat 3 without a stop-loss is a
row of full bars, not a row that looks like nothing.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
NO_DATA = "·"


def columns(data: Sequence[float | None], width: int) -> list[float | None]:
    """``data`` folded into ``width`` columns (max of each; None when a column has no data)."""
    if width <= 0 or not data:
        return []
    if len(data) <= width:
        return list(data)
    step = Fraction(len(data), width)
    out: list[float | None] = []
    for index in range(width):
        part = [v for v in data[int(step * index):int(step * (index + 1))] if v is not None]
        out.append(max(part) if part else None)
    return out


def trend_text(data: Sequence[float | None], width: int, bar: Style, none: Style) -> Text:
    cols = columns(data, width)
    values = [v for v in cols if v is not None]
    top = max(values, default=0.0)
    low = min(0.0, min(values, default=0.0))
    extent = (top - low) or 1.0
    text = Text(no_wrap=True, overflow="crop")
    for value in cols:
        if value is None:
            text.append(NO_DATA, style=none)
        else:
            index = int((value - low) / extent * (len(BARS) - 1)) if top > low else 0
            text.append(BARS[index], style=bar)
    return text


class Trend(Widget):
    """One row: the trend of a metric, oldest minute on the left."""

    COMPONENT_CLASSES = {"trend--bar", "trend--none"}
    DEFAULT_CSS = """
    Trend {
        height: 1;
    }
    Trend > .trend--bar {
        color: $primary;
    }
    Trend > .trend--none {
        color: $text-muted;
    }
    """

    data: reactive[tuple[float | None, ...]] = reactive(tuple)

    def render(self) -> Text:
        return trend_text(self.data, self.size.width,
                          self.get_component_rich_style("trend--bar", partial=True),
                          self.get_component_rich_style("trend--none", partial=True))
