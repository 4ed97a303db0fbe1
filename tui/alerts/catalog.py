"""Which metric names a rule may use: the store's catalogue plus names other sources register.

Every check of a rule's metric goes through :func:`metric_problem` / :func:`known_metric`, so a
source that adds metrics (the log tailer: ``log_errors``, ``log_silent_s``, ...) only has to
register its names once, at import time::

    from tui.alerts.catalog import EXTRA_METRICS
    EXTRA_METRICS.update({"log_errors", "log_silent_s"})

Registered names may carry a per-exchange suffix (``log_errors.bybit``) like the event counters.
"""

from __future__ import annotations

import difflib

from tui.store.metrics import EVENT_COUNTERS, GAUGES, HEALTH, base_metric_names, gauge_aggregates

# Names other sources add to the view's windows (or to the engine's evaluation, see below).
EXTRA_METRICS: set[str] = set()

# Computed by the engine itself from the view (not by the store), in the current and all_time
# windows: seconds since the run started (keeps the "missed minute" rule quiet in minute one).
ENGINE_METRICS: dict[str, str] = {
    "run_elapsed_s": "seconds since the run started (database clock)",
}

# Read off the latest poll or the run as a whole: the store puts them in the current and
# all_time windows only, so a rule over last_minute / last_10_minutes could never fire.
POINT_IN_TIME = frozenset({"db_up", "db_down_s", "poll_ms", "bot_silent_s", "gap_minutes",
                           "late_events", "log_silent_s", "bad_rows",
                           "last_line_gap"}) | frozenset(ENGINE_METRICS)
POINT_WINDOWS = ("current", "all_time")


def _per_exchange_bases() -> set[str]:
    """Base names the store also keeps per exchange (``<name>.<exchange>``)."""
    bases = set(EVENT_COUNTERS) | set(GAUGES) | set(EXTRA_METRICS)
    for gauge in GAUGES:
        bases.update(gauge_aggregates(gauge))
    return bases


def all_base_names() -> list[str]:
    return sorted(set(base_metric_names()) | set(EXTRA_METRICS) | set(ENGINE_METRICS))


def known_metric(name: str) -> bool:
    """True when ``name`` (possibly ``<metric>.<exchange>``) can appear in a view."""
    return metric_problem(name) is None


def suggest_metric(name: str) -> str | None:
    base = name.partition(".")[0]
    close = difflib.get_close_matches(base, all_base_names(), n=1, cutoff=0.6)
    if not close:
        return None
    suffix = name[len(base):]
    return close[0] + suffix if close[0] in _per_exchange_bases() else close[0]


def metric_problem(name: str, window: str | None = None) -> tuple[str, str] | None:
    """Why a rule over ``name`` in ``window`` could never fire: (problem, hint), or None."""
    base, dot, exchange = name.partition(".")
    if base not in all_base_names():
        close = suggest_metric(name)
        hint = f"did you mean '{close}'?" if close else "see docs/alerts.md for the metric names"
        return f"unknown metric '{name}'", hint
    if dot and (not exchange or base not in _per_exchange_bases()):
        return (f"metric '{base}' has no per-exchange variants ('{name}')",
                "only event counters and gauges are kept per exchange; drop the suffix")
    if window is not None and base in POINT_IN_TIME and window not in POINT_WINDOWS:
        return (f"metric '{name}' is never in the {window} window",
                "use window = \"current\": it is a point-in-time value")
    return None


def describe(name: str) -> str:
    """A short description of a base metric (for docs and `botmon check`)."""
    for table in (EVENT_COUNTERS, GAUGES, HEALTH, ENGINE_METRICS):
        if name in table:
            return table[name]
    return ""
