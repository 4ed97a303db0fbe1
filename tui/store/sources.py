"""Which counters this bot gives a source for, and why not when it does not.

The bot declares more event types than it writes, and its versions differ (BOT_FACTS, "What the
bot really emits"). A counter built on a type the database never holds is always 0, and an
always-0 counter reads as a healthy bot. So a counter is measured only when the database holds
one of its types written recently (found at start), or one arrives during the run; otherwise it
is absent from the windows and listed here with the reason, and shown as "—".
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable

from tui.store.metrics import EventClassifier

# Where to look instead, per counter.
HINTS = {
    "positions_opened_events": "opens are counted from the positions table",
    "positions_closed_events": "closes are counted from the positions table",
    "ws_reconnects": "WebSocket health is only in the bot's log",
}
# The log counter that measures the same thing, when a log is followed.
LOG_TWINS = {"ws_reconnects": "log_ws_reconnects"}


def _base(pattern: str) -> str:
    return pattern.partition(":")[0]


def has_source(patterns: Iterable[str], types: Iterable[str]) -> bool:
    types = list(types)
    return any(fnmatchcase(t, _base(p)) for p in patterns for t in types)


def unavailable(classifier: EventClassifier, recent: set[str], older: set[str],
                never_written: tuple[str, ...], source_days: float,
                log_enabled: bool) -> dict[str, str]:
    """Counter -> reason, for the counters none of whose event types the database holds
    recently (``recent``: within ``source_days``, or seen during the run)."""
    found: dict[str, str] = {}
    for counter, patterns in classifier.sources.items():
        if has_source(patterns, recent):
            continue
        names = "/".join(dict.fromkeys(_base(p) for p in patterns))
        if all(any(fnmatchcase(_base(p), nw) for nw in never_written) for p in patterns):
            reason = f"this bot writes no {names} events (no version does)"
        elif has_source(patterns, older):
            reason = (f"no {names} event in the last {source_days:g} days: this bot version "
                      "no longer writes it")
        else:
            reason = f"no {names} event in this database"
        hint = HINTS.get(counter)
        if counter in LOG_TWINS:
            hint = (f"{hint}: see the log's count" if log_enabled
                    else f"{hint}: follow it (logs.paths) to count them")
        found[counter] = f"{reason}; {hint}" if hint else reason
    if "price_updates" in found:
        found["positions_price_updated"] = found["price_updates"]
    return found
