"""/metrics: scraped during a real run (its totals equal the final report's), names from the
store's catalogues, unavailable metrics absent (never 0), alert episodes as ALERTS-style gauges."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.test_store import T0, ev, pos, sample
from tui.alerts.model import AlertItem
from tui.config import load_config
from tui.errors import BotmonError
from tui.monitor import Monitor
from tui.outputs.fleet import attach_outputs, bot_name
from tui.outputs.prom_names import series_for
from tui.outputs.prometheus import MetricsExporter, view_families
from tui.outputs.report import NEW_TOTALS, OLD_KIT_TOTALS
from tui.outputs.rundir import RunDir
from tui.store import metrics as catalogue
from tui.store.store import MetricStore

INSERT = ("INSERT INTO monitoring.events (event_type, exchange, severity, position_id, created_at)"
          " VALUES ($1, $2, $3, $4, now())")


def scrape(port: int) -> dict[str, list]:
    """family name -> samples, as Prometheus would read them."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return families_of(text)


def families_of(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        found.setdefault(family.name, []).extend(family.samples)
    return found


def total(samples: list, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    picked = [s for s in samples if s.name == name
              and all(s.labels.get(k, "") == v for k, v in labels.items())]
    assert picked, f"no sample {name}{labels}"
    return sum(s.value for s in picked)


def samples_of(families: dict[str, list]) -> list:
    return [s for samples in families.values() for s in samples]


async def test_a_scrape_during_the_run_has_the_final_reports_totals(bot_db, tmp_path):
    writer = await asyncpg.connect(bot_db)
    await writer.execute(  # opened before the run (and past the unprotected grace)
        "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, status,"
        " has_stop_loss, opened_at) VALUES"
        " ('AUSDT','binance','long',1,1,'active',true, now() - interval '1 hour'),"
        " ('BUSDT','bybit','short',1,1,'active',false, now() - interval '1 hour')")
    config = load_config(environ={}, overrides={"database.dsn": bot_db, "metrics.bot": "prod"})
    monitor = Monitor(config, RunDir.create(config, out=str(tmp_path)), duration_s=3600)
    exporter = MetricsExporter(bot_name(config), {"version": "test"})
    port = exporter.start("127.0.0.1", 0)
    monitor.view_listeners.append(exporter.take)
    types = ["position_created", "position_closed", "trailing_stop_activated",
             "trailing_stop_sl_updated", "zombie_order_cancelled", "order_error",
             "emergency_close_all_triggered", "websocket_disconnected", "health_check_failed",
             "position_updated", "aged_position_detected", "positions_without_sl_detected"]
    try:
        await monitor.open()
        first = None
        for round_ in range(3):
            # Opens and closes come from the positions table (events only cross-check them).
            await writer.execute(
                "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price,"
                " status, has_stop_loss, opened_at) VALUES ($1, $2, 'long', 1, 1, 'active',"
                " true, now())", f"N{round_}USDT", ("binance", "bybit", "okx")[round_])
            if round_:
                await writer.execute("UPDATE monitoring.positions SET status = 'closed',"
                                     " closed_at = now() WHERE symbol = $1", f"N{round_ - 1}USDT")
            for i, event_type in enumerate(types):
                exchange = (None, "binance", "bybit")[(i + round_) % 3]  # some without exchange
                await writer.execute(INSERT, event_type, exchange,
                                     "ERROR" if event_type == "order_error" else "INFO", i)
            await monitor.step()
            scraped = samples_of(scrape(port))
            if first is None:
                first = scraped
        report = json.loads(Path(await monitor.finish("test")).read_text())
    finally:
        exporter.close()
        await monitor.close()
        await writer.close()
    summary = report["metrics_summary"]
    assert summary["counting"]["source"] == "recount"
    for key, metric in {**OLD_KIT_TOTALS, **NEW_TOTALS}.items():
        # The bot-wide total is the sum over the exchange label (rows without one included).
        assert total(scraped, f"botmon_{metric}_total", bot="prod") == summary[key], key
        assert total(first, f"botmon_{metric}_total", bot="prod") <= summary[key]  # monotonic
    assert summary["total_events"] == 36
    assert (summary["total_positions_opened"], summary["total_positions_closed"]) == (3, 2)
    for exchange, figures in summary["by_exchange"].items():
        for figure, metric in (("opened", "positions_opened"), ("closed", "positions_closed"),
                               ("errors", "errors"), ("events", "events")):
            assert total(scraped, f"botmon_{metric}_total", exchange=exchange) == \
                figures[figure], (exchange, figure)
    assert total(scraped, "botmon_positions_price_updated", window="all_time") == \
        summary["positions_with_price_updates"]
    # The end polls once more (the final wait), after the scrape.
    assert total(scraped, "botmon_polls_total") <= summary["poll_latency_ms"]["polls"]
    assert total(scraped, "botmon_open_positions", window="current") == 3
    assert total(scraped, "botmon_unprotected", window="current", exchange="bybit") == 1
    assert total(scraped, "botmon_db_up") == 1
    info = [s for s in scraped if s.name == "botmon_info"]
    assert info[0].labels == {"bot": "prod", "version": "test"}
    assert any(s.name == "process_cpu_seconds_total" for s in scraped)  # botmon's own CPU


WRITTEN = ("position_created", "position_closed", "position_updated", "trailing_stop_activated",
           "trailing_stop_sl_updated", "zombie_order_cancelled", "emergency_close_all_triggered",
           "websocket_disconnected", "aged_position_detected", "positions_without_sl_detected",
           "trailing_stop_sl_update_failed")


def _store(log: bool = False, written: tuple[str, ...] = WRITTEN) -> MetricStore:
    store = MetricStore(load_config(environ={}), run_start=T0 + timedelta(seconds=30))
    store.log_enabled = log
    store.set_event_types(dict.fromkeys(written, True))  # what the database holds
    store.ingest(sample(T0 + timedelta(seconds=40), [
        ev(T0 + timedelta(seconds=35), "position_created", "binance"),
        ev(T0 + timedelta(seconds=36), "order_error", None, "ERROR"),
        ev(T0 + timedelta(seconds=37), "position_updated", "bybit", position_id=1),
        ev(T0 + timedelta(seconds=38), "websocket_disconnected", "bybit")],
        [pos(1, "bybit", T0), pos(2, "binance", T0, sl=False)], latency=250.0))
    store.ingest(sample(T0 + timedelta(minutes=1, seconds=40), [],
                        [pos(1, "bybit", T0), pos(2, "binance", T0, sl=False)], latency=350.0))
    return store


def _families(view) -> dict[str, list]:
    from prometheus_client import CollectorRegistry, generate_latest

    class One:
        def collect(self):
            return view_families(view, "b", {"version": "t"})

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())
    return families_of(generate_latest(registry).decode())


def test_names_come_from_the_store_catalogues_with_units_and_windows():
    view = _store().view(T0 + timedelta(minutes=1, seconds=45))
    families = _families(view)
    names = {s.name for samples in families.values() for s in samples}
    for counter in set(catalogue.EVENT_COUNTERS) - set(view.unavailable):
        assert f"botmon_{counter}_total" in names
        assert f"botmon_{counter}_in_window" in names
    for gauge in catalogue.GAUGES:
        assert f"botmon_{gauge}" in names and f"botmon_{gauge}_max" in names
    for name in ("botmon_poll_seconds", "botmon_poll_p95_seconds", "botmon_bot_silent_seconds",
                 "botmon_db_down_seconds", "botmon_events_per_minute", "botmon_polls_total",
                 "botmon_gap_minutes_total", "botmon_run_elapsed_seconds"):
        assert name in names
    assert not [n for n in names if n.endswith(("_ms", "_s")) or "_ms_" in n]
    samples = samples_of(families)
    # Milliseconds are exported in seconds; the windows are botmon's own.
    assert total(samples, "botmon_poll_p95_seconds", window="last_minute") == 0.25
    assert total(samples, "botmon_ws_reconnects_in_window", window="last_minute") == 1
    assert total(samples, "botmon_open_positions_max", window="last_10_minutes", exchange="") == 2
    types = {family: samples[0].name.endswith("_total") for family, samples in families.items()}
    assert types["botmon_errors"] and not types["botmon_errors_in_window"]


def test_a_metric_added_to_a_catalogue_is_exported_without_a_change(monkeypatch):
    monkeypatch.setitem(catalogue.EVENT_COUNTERS, "positions_opened_events", "cross-check")
    assert series_for("positions_opened_events", "all_time").family == \
        "botmon_positions_opened_events_total"
    assert series_for("positions_opened_events", "last_minute").window == "last_minute"
    assert series_for("new_gauge_ms", "current").family == "botmon_new_gauge_seconds"


def test_per_exchange_series_add_up_to_the_store_total():
    view = _store().view(T0 + timedelta(minutes=1, seconds=45))
    samples = samples_of(_families(view))
    for window in ("current", "last_minute", "last_10_minutes"):
        for metric in ("events", "errors", "positions_opened"):
            assert total(samples, f"botmon_{metric}_in_window", window=window) == \
                view.value(metric, window)
    for metric in ("events", "errors", "price_updates"):
        assert total(samples, f"botmon_{metric}_total") == view.value(metric, "all_time")
    # A maximum does not add up: the series without an exchange is the bot-wide value.
    assert total(samples, "botmon_unprotected_max", window="all_time", exchange="") == \
        view.value("unprotected_max", "all_time")


def test_an_unavailable_metric_has_no_samples_never_a_zero():
    # The real bot writes no websocket_* events: the store lists ws_reconnects as unavailable.
    store = _store(written=tuple(t for t in WRITTEN if t != "zombie_order_cancelled"))
    view = store.view(T0 + timedelta(minutes=1, seconds=45))
    assert "zombies" in view.unavailable
    windows = {w: dict(values) for w, values in view.windows.items()}
    windows["current"]["positions_closed"] = 0  # listed unavailable: dropped even if present
    view = dataclasses.replace(
        view, windows=MappingProxyType({k: MappingProxyType(v) for k, v in windows.items()}),
        unavailable=MappingProxyType({**view.unavailable, "positions_closed": "no source"}))
    families = _families(view)
    names = {s.name for s in samples_of(families)}
    assert not [n for n in names if n.startswith("botmon_zombies")]
    assert not names & {"botmon_positions_closed_total", "botmon_positions_closed_in_window"}
    unavailable = {s.labels["metric"]: s for s in families["botmon_metric_unavailable"]}
    assert unavailable["zombies"].value == 1
    assert unavailable["zombies"].labels["reason"] == view.unavailable["zombies"]


def test_alert_episodes_are_alerts_style_gauges():
    view = _store().view(T0 + timedelta(minutes=1, seconds=45))
    items = (AlertItem("a#1", "unprotected_positions", "critical", "firing", "m", 1, 0, T0),
             AlertItem("b#1", "errors_burst", "warning", "pending", "m", 6, 5, T0),
             AlertItem("c#1", "ws_reconnect", "warning", "resolved", "m", 0, 0, T0))
    samples = _families(dataclasses.replace(view, alerts=items))["botmon_alerts"]
    assert {(s.labels["alertname"], s.labels["alertstate"], s.labels["severity"], s.value)
            for s in samples} == {("unprotected_positions", "firing", "critical", 1),
                                  ("errors_burst", "pending", "warning", 1)}


def test_before_the_first_view_only_botmon_info_is_served():
    families = _families(None)
    assert list(families) == ["botmon_info"]


async def test_a_busy_metrics_port_is_a_one_line_error_before_the_run(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = load_config(environ={}, overrides={"metrics.port": port})
        assert config.metrics.address == "127.0.0.1"  # loopback unless asked otherwise

        class Bare:
            view_listeners: list = []
            alerts = None

        async with contextlib.AsyncExitStack() as stack:
            with pytest.raises(BotmonError) as caught:
                attach_outputs(config, Bare(), stack)
    assert "cannot serve /metrics" in caught.value.line()
    assert "--metrics-port" in caught.value.line()


async def test_attach_outputs_serves_metrics_on_the_configured_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load_config(environ={}, overrides={"metrics.port": port, "metrics.bot": "x"})

    class Bare:
        view_listeners: list = []
        alerts = None

    monitor = Bare()
    async with contextlib.AsyncExitStack() as stack:
        lines = attach_outputs(config, monitor, stack)
        assert lines == [f'metrics: http://127.0.0.1:{port}/metrics (bot="x")']
        monitor.view_listeners[0](_store().view(T0 + timedelta(minutes=1, seconds=45)))
        assert total(samples_of(scrape(port)), "botmon_open_positions", window="current") == 2
    with pytest.raises(OSError):  # closed with the stack
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_bot_label_defaults_to_the_database_name():
    assert bot_name(load_config(environ={}, overrides={
        "database.dsn": "postgresql://reader@db:5432/trading"})) == "trading"
    assert bot_name(load_config(environ={}, overrides={
        "database.dsn": "postgresql://reader@db/trading", "metrics.bot": "bybit-prod"})) == \
        "bybit-prod"


def _with(view, **all_time: float):
    windows = {w: dict(values) for w, values in view.windows.items()}
    windows["all_time"].update(all_time)
    return dataclasses.replace(
        view, windows=MappingProxyType({k: MappingProxyType(v) for k, v in windows.items()}))


def test_a_retracted_open_keeps_the_counter_monotonic_and_the_net_exact():
    from prometheus_client import CollectorRegistry, generate_latest

    from tui.outputs.prometheus import ViewCollector

    view = _store().view(T0 + timedelta(minutes=1, seconds=45))
    collector = ViewCollector("b", {})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    seen = []
    # The store's all-time opens: 3, then an open is retracted (2), then two more open (4).
    for opened in (3, 2, 4):
        collector.take(_with(view, **{"positions_opened": opened,
                                      "positions_opened.binance": opened}))
        samples = samples_of(families_of(generate_latest(registry).decode()))
        total_ = total(samples, "botmon_positions_opened_total")
        retracted = sum(s.value for s in samples
                        if s.name == "botmon_positions_opened_retracted_total")
        seen.append((total_, retracted, total_ - retracted))
    assert seen == [(3, 0, 3), (3, 1, 2), (5, 1, 4)]  # monotonic; the difference is exact


def test_trades_pnl_and_the_bots_state():
    view = _store().view(T0 + timedelta(minutes=1, seconds=45))
    view = _with(view, trades_won=3, trades_lost=1, realized_pnl=-12.5, win_rate_pct=75.0)
    view = dataclasses.replace(view, bot=MappingProxyType({
        "state": "running", "started_at": T0, "stopped_at": None, "uptime_s": 105.0,
        "silent_s": 2.0}), pnl=MappingProxyType({"realized_pnl_24h": 40.0, "trades_24h": 9,
                                                  "win_rate_24h_pct": None, "cumulative": ()}))
    families = _families(view)
    samples = samples_of(families)
    assert total(samples, "botmon_trades_won_total") == 3
    assert families["botmon_trades_won"][0].name == "botmon_trades_won_total"  # a counter
    # A sum of signed amounts can go down: a gauge, per window.
    assert total(samples, "botmon_realized_pnl", window="all_time") == -12.5
    assert total(samples, "botmon_win_rate_ratio", window="all_time") == 0.75
    assert total(samples, "botmon_realized_pnl_24h") == 40
    assert not [s for s in samples if s.name == "botmon_win_rate_24h_ratio"]  # None: absent
    states = {s.labels["state"]: s.value for s in families["botmon_bot_state"]}
    assert states == {"running": 1, "silent": 0, "stopped": 0, "unknown": 0}
    assert total(samples, "botmon_bot_uptime_seconds") == 105


def test_metrics_port_flag_on_run_and_demo_sets_the_config_key():
    from tui.cli import _overrides, build_parser

    for command in ("run", "demo"):
        args = build_parser().parse_args([command, "--metrics-port", "9464"])
        config = load_config(environ={}, overrides=_overrides(args))
        assert (config.metrics.port, config.metrics.address) == (9464, "127.0.0.1")
    assert load_config(environ={}).metrics.port == 0  # off unless asked for
