"""Output of ``botmon analyze``: JSON (plain types) and text (Rich tables, Markdown when piped)."""

from __future__ import annotations

import io
import json
import math
import sys
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import IO, Any
from uuid import UUID

from tui.analysis.db import Analysis

TEXT_CELL_LIMIT = 120  # on a terminal
PLAIN_CELL_LIMIT = 300  # piped: no width to respect, the SQL already cuts messages at 300


# -- JSON ---------------------------------------------------------------------------------------

def jsonable(value: Any) -> Any:
    """Plain JSON types: numbers stay numbers, times become ISO 8601 with an offset."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:  # timestamp without time zone: the session zone is UTC
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def to_document(analysis: Analysis) -> dict[str, Any]:
    """``{"since", "until", "seconds", "sections": [{"section", "title", "rows" | "error",
    "seconds"}]}``; ``since`` is null for an all-time analysis."""
    return {
        "since": None if analysis.all_time else jsonable(analysis.since),
        "until": jsonable(analysis.until),
        "seconds": analysis.seconds,
        "sections": [jsonable(section) for section in analysis.sections],
    }


def write_json(analysis: Analysis, file: IO[str] | None = None) -> None:
    file = file or sys.stdout
    json.dump(to_document(analysis), file, indent=2, ensure_ascii=False)
    file.write("\n")


# -- text ---------------------------------------------------------------------------------------

def format_cell(value: Any, *, limit: int = TEXT_CELL_LIMIT) -> str:
    if value is None:
        return "—"  # no value (not a 0): e.g. a column this bot gives no source for
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        pattern = "%Y-%m-%d %H:%M:%S.%f" if value.microsecond else "%Y-%m-%d %H:%M:%S"
        text = value.strftime(pattern)
        return text[:-3] if value.microsecond else text
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        text = str(value)
    text = " ".join(text.split())
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _window_line(analysis: Analysis) -> str:
    since = "all time" if analysis.all_time else format_cell(analysis.since)
    failed = f", {analysis.failed} failed" if analysis.failed else ""
    return (f"botmon analyze: {since} -> {format_cell(analysis.until)} (UTC, until exclusive); "
            f"{len(analysis.sections)} sections{failed}; {analysis.seconds:.1f} s")


def render_text(analysis: Analysis, file: IO[str] | None = None,
                plain: bool | None = None) -> None:
    """Rich tables on a terminal; Markdown headings and tables (no colour) when piped."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    file = file or sys.stdout
    if plain is None:
        plain = not (hasattr(file, "isatty") and file.isatty())
    buffer = io.StringIO()
    if plain:
        console = Console(file=buffer, force_terminal=False, color_system=None, width=10_000,
                          highlight=False, emoji=False, markup=False, soft_wrap=True)
    else:
        console = Console(file=file, highlight=False, emoji=False, markup=False)

    def say(text: str, style: str = "") -> None:
        console.print(Text(text, style="" if plain else style))

    say(("# " if plain else "") + _window_line(analysis), "bold")
    limit = PLAIN_CELL_LIMIT if plain else TEXT_CELL_LIMIT
    for section in analysis.sections:
        heading = f"{section['section']}: {section['title']}"
        console.print()
        say(("## " if plain else "") + heading, "bold cyan")
        if "error" in section:
            say(f"ERROR: {section['error']}", "bold red")
            continue
        rows = section["rows"]
        if not rows:
            if section.get("not_measurable"):
                say(f"not measurable on this bot: {section['not_measurable']}", "yellow")
            else:
                say("(no rows)", "dim")
            continue
        columns = list(rows[0].keys())
        for row in rows[1:]:
            columns += [key for key in row if key not in columns]
        table = Table(box=box.MARKDOWN if plain else box.SIMPLE_HEAD, show_edge=plain,
                      header_style="" if plain else "bold", pad_edge=plain)
        for column in columns:
            sample = next((row.get(column) for row in rows if row.get(column) is not None), None)
            table.add_column(column, justify="right" if _numeric(sample) else "left",
                             overflow="fold", no_wrap=plain)
        for row in rows:
            cells = []
            for column in columns:
                text = format_cell(row.get(column), limit=limit)
                if plain:
                    text = text.replace("|", "\\|")
                cells.append(Text(text))
            table.add_row(*cells)
        console.print(table)
    if plain:
        # Rich pads Markdown tables with lines of spaces: keep one blank line between blocks.
        previous_blank = False
        for line in buffer.getvalue().splitlines():
            line = line.rstrip()
            if not line and previous_blank:
                continue
            file.write(line + "\n")
            previous_blank = not line
