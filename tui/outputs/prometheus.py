"""Prometheus ``/metrics``: the latest frozen MetricsView, served from a thread of its own.

The monitor hands every view to :meth:`MetricsExporter.take` (one reference assignment: no work
on the poll loop). A scrape converts that view into metric families in the HTTP server's thread;
the view is immutable, so no lock is needed. Names: :mod:`tui.outputs.prom_names`.

A metric the bot gives no source for (``view.unavailable``) has no samples at all, never a 0:
``botmon_metric_unavailable{metric, reason} 1`` says why.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Iterator

from tui.errors import BotmonError
from tui.outputs.prom_names import PREFIX, Series, per_exchange, series_for, with_unit
from tui.store.view import MetricsView

try:
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
except ImportError:  # the optional `prometheus` extra
    CollectorRegistry = None  # type: ignore[assignment,misc]

ACTIVE_STATES = ("pending", "firing")
_ZERO = 1e-9


def available() -> bool:
    return CollectorRegistry is not None


class _Families:
    """Samples grouped by family; a label missing from some samples of a family is empty there
    (Prometheus treats an empty label as an absent one)."""

    def __init__(self, bot: str) -> None:
        self.bot = bot
        self.meta: dict[str, tuple[str, str]] = {}  # family -> kind, help
        self.samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}

    def add(self, family: str, kind: str, help_text: str, labels: dict[str, str],
            value: float) -> None:
        if family not in self.meta:
            self.meta[family] = (kind, help_text)
            self.samples[family] = {}
        key = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
        self.samples[family].setdefault(key, value)  # current wins over all_time duplicates

    def build(self) -> Iterator[Metric]:
        for family, (kind, help_text) in self.meta.items():
            samples = self.samples[family]
            names = sorted({name for key in samples for name, _ in key})
            if kind == "counter":
                metric = CounterMetricFamily(family.removesuffix("_total"), help_text,
                                             labels=names)
            else:
                metric = GaugeMetricFamily(family, help_text, labels=names)
            for key, value in samples.items():
                given = dict(key)
                metric.add_metric([given.get(name, "") for name in names], value)
            yield metric


def _store_metrics(out: _Families, view: MetricsView) -> None:
    unavailable = view.unavailable
    for window, values in view.windows.items():
        grouped: dict[str, dict[str, float]] = {}  # base -> exchange ("" = bot-wide) -> value
        for key, value in values.items():
            base, _, exchange = key.partition(".")
            if base in unavailable or key in unavailable or value is None:
                continue
            grouped.setdefault(base, {})[exchange] = float(value)
        for base, by_exchange in grouped.items():
            known = view.exchanges if per_exchange(base) else ()
            _add_metric(out, series_for(base, window), by_exchange, known)


def _add_metric(out: _Families, series: Series, by_exchange: dict[str, float],
                known: tuple[str, ...] = ()) -> None:
    labels = {"bot": out.bot}
    if series.window is not None:
        labels["window"] = series.window
    exchanges = {e: v for e, v in by_exchange.items() if e}
    if series.additive:
        # Every exchange the store knows has its series from the start, at 0: a counter series
        # that appeared with its first event would lose that increase.
        for exchange in known:
            exchanges.setdefault(exchange, 0.0)
    total = by_exchange.get("", sum(exchanges.values()))
    if series.additive:
        # The series without an exchange holds the rest (events with no exchange), so that
        # `sum without (exchange)` is exactly the store's total. A counter's rest is always
        # there (a series that appears late loses its first increase); a gauge's only when
        # it is not 0 or nothing else shows the total.
        rest = round(total - sum(exchanges.values()), 9)
        if series.kind == "counter" or abs(rest) > _ZERO or not exchanges:
            out.add(series.family, series.kind, series.help, labels, rest * series.scale)
    else:
        out.add(series.family, series.kind, series.help, labels, total * series.scale)
    for exchange, value in sorted(exchanges.items()):
        out.add(series.family, series.kind, series.help, {**labels, "exchange": exchange},
                value * series.scale)


def _run_metrics(out: _Families, view: MetricsView, ticked_at: float | None) -> None:
    bot = {"bot": out.bot}
    gauge = "gauge"
    _add_metric(out, series_for("run_elapsed_s", "current"), {"": view.elapsed_s})
    out.add(f"{PREFIX}run_start_timestamp_seconds", gauge,
            "when the run started (database clock, Unix time)", bot, view.run_start.timestamp())
    if view.run_end is not None:
        out.add(f"{PREFIX}run_end_timestamp_seconds", gauge,
                "the run's planned end (database clock, Unix time)", bot,
                view.run_end.timestamp())
    out.add(f"{PREFIX}view_timestamp_seconds", gauge,
            "database-clock time of the exported view (Unix time)", bot, view.now.timestamp())
    if ticked_at is not None:
        out.add(f"{PREFIX}last_view_timestamp_seconds", gauge,
                "monitor-host time the exported view was built: stale when the monitor stalls",
                bot, ticked_at)
    out.add(f"{PREFIX}snapshots_written_total", "counter", "snapshot lines written in this run",
            bot, float(view.snapshots_written))
    _trader_metrics(out, view)
    for metric, reason in sorted(view.unavailable.items()):
        out.add(f"{PREFIX}metric_unavailable", gauge,
                "1 for each store metric this bot gives no source for (it has no samples)",
                {**bot, "metric": metric, "reason": reason}, 1.0)
    for item in view.alerts:
        if item.state in ACTIVE_STATES:
            out.add(f"{PREFIX}alerts", gauge,
                    "botmon's alert episodes, like Prometheus' ALERTS: 1 per pending or firing rule",
                    {**bot, "alertname": item.rule, "alertstate": item.state,
                     "severity": item.severity}, 1.0)


BOT_STATES = ("running", "silent", "stopped", "unknown")


def _trader_metrics(out: _Families, view: MetricsView) -> None:
    """The figures beside the windows: the last 24 hours' trades, and the bot's own state."""
    bot = {"bot": out.bot}
    for key, value in sorted(getattr(view, "pnl", {}).items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            name, scale = with_unit(key)
            out.add(f"{PREFIX}{name}", "gauge", f"{key} (the 24 hours before now)", bot,
                    value * scale)
    state = getattr(view, "bot", {})
    if not state:
        return
    current = state.get("state")
    for name in BOT_STATES + ((current,) if current and current not in BOT_STATES else ()):
        out.add(f"{PREFIX}bot_state", "gauge", "1 for the bot's state: running, silent, "
                "stopped or unknown (from its start/stop events and its newest activity)",
                {**bot, "state": str(name)}, 1.0 if name == current else 0.0)
    for key, help_text in (("started_at", "when the bot last started (its bot_started event)"),
                           ("stopped_at", "when the bot last stopped (its bot_stopped event)")):
        when = state.get(key)
        if when is not None:
            out.add(f"{PREFIX}bot_{key.removesuffix('_at')}_timestamp_seconds", "gauge",
                    f"{help_text}, Unix time", bot, when.timestamp())
    if isinstance(state.get("uptime_s"), (int, float)):
        out.add(f"{PREFIX}bot_uptime_seconds", "gauge", "seconds since the bot last started",
                bot, float(state["uptime_s"]))


def view_families(view: MetricsView | None, bot: str, info: dict[str, str],
                  ticked_at: float | None = None) -> list[Metric]:
    """Every metric family of one view (before the first view: botmon_info only)."""
    out = _Families(bot)
    out.add(f"{PREFIX}info", "gauge", "botmon's version and what it watches",
            {"bot": bot, **info}, 1.0)
    if view is not None:
        _store_metrics(out, view)
        _run_metrics(out, view, ticked_at)
    return list(out.build())


class MonotonicCounters:
    """Keeps every exported counter monotonic, and its net value exact.

    The store's all-time total can go down: an open that turns out never to have happened is
    retracted from ``positions_opened``. A falling counter reads as a reset in Prometheus
    (``increase()`` would count the whole total again), so a series that fell is exported as
    ``<name>_total`` = the value plus what was retracted so far (monotonic), with
    ``<name>_retracted_total`` beside it: the store's exact figure is their difference.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple, tuple[float, float]] = {}  # series -> (store value, retracted)

    def apply(self, families: list[Metric]) -> list[Metric]:
        out = []
        with self._lock:
            for family in families:
                if family.type != "counter":
                    out.append(family)
                    continue
                retracted: list[tuple[dict[str, str], float]] = []
                for index, sample in enumerate(family.samples):
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    last, taken = self._last.get(key, (sample.value, 0.0))
                    if sample.value < last:
                        taken += last - sample.value
                    self._last[key] = (sample.value, taken)
                    if taken:
                        family.samples[index] = sample._replace(value=sample.value + taken)
                        retracted.append((sample.labels, taken))
                out.append(family)
                if retracted:
                    names = sorted({name for labels, _ in retracted for name in labels})
                    extra = CounterMetricFamily(
                        f"{family.name}_retracted", f"taken back from {family.name}_total "
                        "after it was counted (the store's figure is the difference)",
                        labels=names)
                    for labels, taken in retracted:
                        extra.add_metric([labels.get(n, "") for n in names], taken)
                    out.append(extra)
        return out


class ViewCollector:
    """A prometheus_client collector over the latest view handed to :meth:`take`."""

    def __init__(self, bot: str, info: dict[str, str],
                 extra: Iterable[Callable[[], Iterable[Metric]]] = ()) -> None:
        self.bot = bot
        self.info = info
        self.extra = list(extra)
        self.view: MetricsView | None = None
        self.ticked_at: float | None = None
        self.monotonic = MonotonicCounters()

    def take(self, view: MetricsView) -> None:
        """Monitor listener (the poll loop's thread): keep a reference, nothing else."""
        self.view, self.ticked_at = view, time.time()

    def describe(self) -> list:  # no up-front description: the families follow the view
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.monotonic.apply(
            view_families(self.view, self.bot, self.info, self.ticked_at))
        for source in self.extra:
            yield from source()


class MetricsExporter:
    """``/metrics`` on ``address:port`` (port 0: any free port; see :attr:`port`)."""

    def __init__(self, bot: str, info: dict[str, str]) -> None:
        if not available():
            raise BotmonError("metrics.port", "prometheus-client is not installed",
                              "pip install 'botmon[prometheus]', or leave --metrics-port out")
        self.collector = ViewCollector(bot, info)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)  # botmon's own CPU and memory
        self._server = None
        self._thread = None
        self.port: int | None = None

    def take(self, view: MetricsView) -> None:
        self.collector.take(view)

    def add_source(self, source: Callable[[], Iterable[Metric]]) -> None:
        self.collector.extra.append(source)

    def start(self, address: str, port: int) -> int:
        try:
            self._server, self._thread = start_http_server(port, addr=address,
                                                           registry=self.registry)
        except OSError as exc:
            raise BotmonError(f"metrics {address}:{port}",
                              f"cannot serve /metrics: {exc.strerror or exc}",
                              "choose another --metrics-port (or metrics.port / "
                              "metrics.address)") from None
        self.port = self._server.server_port
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
