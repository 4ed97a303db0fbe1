"""The audit report's content as plain data: statistics at a glance, the per-area sections and
the issue stubs, filled from the final report (or the snapshot lines), the alert episodes, the log
analysis and the post-test SQL.

Every area is ``{"key", "title", "facts": [{"label", "value", "detail"}], "tables": [{"title",
"columns", "rows", "note"}], "notes": [...]}`` so the JSON twin and the Markdown carry the same
things; values stay numbers and ISO times, the renderer formats them.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Iterable

from tui.config import Config
from tui.outputs.audit_data import (Completeness, EpisodeLog, RunData, SnapLine, gauge_stats,
                                    minutes_where, parse_time)
from tui.outputs.audit_nosource import NOT_MEASURABLE, section_note
from tui.outputs.audit_sources import section
from tui.outputs.report import BY_EXCHANGE
from tui.store.buckets import MINUTE, minute_of

RECOMMENDATION = "TODO (operator)"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
       "==": operator.eq, "!=": operator.ne}
MAX_TABLE_ROWS = 50

# Which area an alert episode belongs to, by the base name of its rule's metric.
METRIC_AREAS = {
    "unprotected": "stop_loss", "unprotected_detected": "stop_loss", "sl_updates": "stop_loss",
    "ts_activations": "trailing_stop", "ts_missing": "trailing_stop",
    "ts_orphaned": "trailing_stop", "ts_sl_mismatch": "trailing_stop",
    "ws_reconnects": "websocket", "log_ws_reconnects": "websocket",
    "log_ws_disconnects": "websocket", "positions_price_updated": "websocket",
    "price_updates": "websocket",
    "errors": "errors", "log_errors": "errors", "log_tracebacks": "errors",
    "zombies": "zombies", "emergency_closes": "zombies",
    "aged": "aged", "aged_detected": "aged",
    "positions_opened": "positions", "positions_closed": "positions",
    "open_positions": "positions", "log_positions_opened": "positions",
}


@dataclass
class Context:
    data: RunData
    config: Config
    summary: dict[str, Any]  # metrics_summary: the final report's, or rebuilt
    totals_source: str
    sums: Counter  # every counter summed over the run's minute lines
    completeness: Completeness
    episodes: list[EpisodeLog]
    issues_by_episode: dict[str, str]  # episode key -> ISSUE-nn
    logs: dict[str, Any]
    db: dict[str, Any]
    tz: tzinfo | None
    rules: dict[str, Any]  # rule name -> Rule of the configured rules, when they load
    no_source: dict[str, str] = field(default_factory=dict)  # metric -> why not measurable

    @property
    def log_report(self) -> dict[str, Any] | None:
        return self.logs.get("report") if self.logs.get("status") == "ok" else None

    def log_counts(self, category: str) -> dict[str, Any]:
        report = self.log_report or {}
        part = report.get(category)
        return part.get("counts", {}) if isinstance(part, dict) else {}

    def log_sums(self, category: str) -> dict[str, Any]:
        report = self.log_report or {}
        part = report.get(category)
        return part.get("sums", {}) if isinstance(part, dict) else {}

    def db_section(self, prefix: str) -> dict[str, Any] | None:
        return section(self.db, prefix)


def fact(label: str, value: Any, detail: str = "", unit: str = "") -> dict[str, Any]:
    found = {"label": label, "value": value, "detail": detail}
    if unit and value is not None:
        found["unit"] = unit
    return found


def measured(ctx: Context, metric: str, label: str, value: Any, detail: str = ""
             ) -> dict[str, Any]:
    """A fact whose figure this bot may give no source for: then "—" and the reason."""
    why = ctx.no_source.get(metric)
    if why is None:
        return fact(label, value, detail)
    return fact(label, None, f"{NOT_MEASURABLE}: {why}")


def log_reconnects(ctx: Context) -> tuple[float, str] | None:
    """WebSocket reconnects from the bot's log: the live tail's count over the run, else the
    whole-file log analysis."""
    if "log_ws_reconnects" in ctx.sums:
        return _int(ctx.sums["log_ws_reconnects"]), "the bot's log, live tail over the run " \
                                                     "(log_ws_reconnects)"
    counts = ctx.log_counts("websocket")
    if ctx.log_report and "reconnect" in counts:
        return counts["reconnect"], "the bot's log files (botmon logs: websocket.reconnect; " \
                                    "the whole files, not only the run)"
    return None


def slow_sl_updates(ctx: Context) -> dict[str, Any] | None:
    """SL updates the log timed at or above the slow threshold (the only durations kept)."""
    timing = (ctx.log_report or {}).get("timing") or {}
    ops = [op for op in timing.get("slow_by_operation", [])
           if "SL updated" in str(op.get("operation", ""))]
    if not ops:
        return None
    return {"count": sum(op["count"] for op in ops), "max_ms": max(op["max_ms"] for op in ops),
            "threshold": timing.get("slow_threshold_ms")}


def table(title: str, columns: list[str], rows: Iterable[Iterable[Any]],
          note: str = "") -> dict[str, Any]:
    rows = [list(r) for r in rows]
    if len(rows) > MAX_TABLE_ROWS:
        note = (note + " " if note else "") + (f"{len(rows) - MAX_TABLE_ROWS} more row(s) in "
                                               "the JSON twin")
    return {"title": title, "columns": columns, "rows": rows[:MAX_TABLE_ROWS],
            "all_rows": len(rows), "note": note}


def area(key: str, title: str, facts: list, tables: list, notes: list | None = None
         ) -> dict[str, Any]:
    return {"key": key, "title": title, "facts": facts, "tables": tables, "notes": notes or []}


def hhmm(moment: datetime | None, tz: tzinfo | None) -> str:
    return moment.astimezone(tz).strftime("%H:%M") if moment else "?"


def minute_span(lines: list[SnapLine], tz: tzinfo | None) -> str:
    if not lines:
        return ""
    first, last = lines[0].minute, lines[-1].minute
    return (f"first {hhmm(first, tz)} ({lines[0].where}), last {hhmm(last, tz)} "
            f"({lines[-1].where})")


# A metric -> its key in the final report's metrics_summary.by_exchange.
BY_EXCHANGE_KEYS = {metric: key for key, metric in BY_EXCHANGE.items()}


def by_exchange_text(ctx: Context, metric: str, total: Any = None) -> str:
    """The per-exchange split of a total, from the same source as the total (the final report's
    by_exchange); the snapshot lines only when that report has no split for it, and then it
    says so. A remainder with no exchange is shown, so the split always adds up."""
    key = BY_EXCHANGE_KEYS.get(metric, metric)
    by_ex = ctx.summary.get("by_exchange") or {}
    exchanges = ctx.data.exchanges
    if exchanges and all(key in (by_ex.get(ex) or {}) for ex in exchanges):
        split = {ex: (by_ex.get(ex) or {}).get(key) for ex in exchanges}
        note = ""
    else:
        split = {ex: ctx.sums.get(f"{metric}.{ex}", 0) for ex in exchanges}
        note = " (from the snapshot lines)" if exchanges else ""
    parts = [f"{ex} {_int(v) if v is not None else '—'}" for ex, v in split.items()]
    known = [v for v in split.values() if isinstance(v, (int, float))]
    if isinstance(total, (int, float)) and len(known) == len(split):
        rest = total - sum(known)
        if rest > 0:
            parts.append(f"no exchange {_int(rest)}")
    return " · ".join(parts) + note


def _int(value: Any) -> Any:
    if isinstance(value, float) and value == int(value):
        return int(value)
    return value


def section_table(ctx: Context, prefix: str, title: str, *, columns: list[str] | None = None,
                  where: dict[str, Any] | None = None, empty: str = "no rows") -> dict[str, Any]:
    """A post-test SQL section as a table, or a note saying why it is not there."""
    found = ctx.db_section(prefix)
    if found is None:
        status = ctx.db.get("status")
        why = ("the database analysis failed (see the notes at the top)" if status == "failed"
               else f"the database analysis was skipped: {ctx.db.get('reason')}")
        return table(title, [], [], note=f"not available: {why}")
    if "error" in found:
        return table(title, [], [], note=f"section {found.get('section')} failed: "
                                         f"{found['error']}")
    rows = [r for r in found.get("rows", [])
            if not where or all(r.get(k) == v for k, v in where.items())]
    cols = columns or (list(rows[0].keys()) if rows else [])
    note = "" if rows else (section_note(found) or empty)
    return table(f"{title} (post-test SQL {found.get('section')})", cols,
                 ([r.get(c) for c in cols] for r in rows), note=note)


def episode_facts(ctx: Context, area_key: str) -> list[dict[str, Any]]:
    found = [e for e in ctx.episodes if e.fired and episode_area(e) == area_key]
    if not found:
        return [fact("alert episodes", 0, "none fired")]
    text = ", ".join(f"{ctx.issues_by_episode.get(e.key, e.key)} {e.key} ({e.severity}, "
                     f"{e.record.get('minutes', 0)} min)" for e in found)
    return [fact("alert episodes", len(found), text)]


def episode_area(episode: EpisodeLog) -> str:
    metric = str(episode.record.get("metric") or "")
    return METRIC_AREAS.get(metric.partition(".")[0], "data_integrity")


# -- statistics at a glance -----------------------------------------------------------------------

def statistics(ctx: Context) -> list[dict[str, Any]]:
    s, data, comp = ctx.summary, ctx.data, ctx.completeness
    fired = Counter(e.severity for e in ctx.episodes if e.fired)
    per_minute = (data.final_report or {}).get("alerts_per_minute_view") or {}
    latency = s.get("poll_latency_ms") or {}
    duration = (data.end - data.start).total_seconds() / 60
    opened, closed = s.get("total_positions_opened"), s.get("total_positions_closed")
    rows = [
        fact("run", f"{round(duration)} min",
             f"{data.start.astimezone(ctx.tz):%Y-%m-%d %H:%M:%S} → "
             f"{data.end.astimezone(ctx.tz):%H:%M:%S}"
             + (f"; planned end {data.planned_end.astimezone(ctx.tz):%H:%M:%S}"
                if data.planned_end else "")
             + ("; still running" if data.in_progress else "")),
        fact("snapshots recorded", comp.recorded, f"of {comp.expected} minutes; "
             f"{comp.gap_minutes + comp.missing_minutes} without a snapshot"),
        measured(ctx, "positions_opened", "positions opened", opened,
                 by_exchange_text(ctx, "positions_opened", opened)),
        measured(ctx, "positions_closed", "positions closed", closed,
                 by_exchange_text(ctx, "positions_closed", closed)),
        fact("open positions (max / avg)", s.get("max_open_positions"),
             f"avg {_int(s.get('avg_open_positions'))}"),
        measured(ctx, "price_updates", "price updates", s.get("total_price_updates"),
                 f"{s.get('positions_with_price_updates')} positions"
                 if s.get("positions_with_price_updates") is not None else ""),
        measured(ctx, "ts_activations", "trailing-stop activations",
                 s.get("total_ts_activations")),
        measured(ctx, "sl_updates", "stop-loss moves", s.get("total_sl_updates")),
        measured(ctx, "errors", "errors (events)", s.get("total_errors"),
                 by_exchange_text(ctx, "errors", s.get("total_errors"))),
        ws_fact(ctx, "WebSocket reconnects"),
        measured(ctx, "zombies", "zombie orders cleaned", s.get("total_zombies")),
        measured(ctx, "emergency_closes", "emergency closes", s.get("total_emergency_closes")),
        fact("without stop-loss (max)", s.get("max_unprotected"),
             f"avg {_int(s.get('avg_unprotected'))}"),
        fact("aged positions (max)", s.get("max_aged"), f"avg {_int(s.get('avg_aged'))}"),
        fact("alert episodes fired", sum(fired.values()),
             f"{fired['critical']} critical, {fired['warning']} warning, {fired['info']} info"
             + (f"; the old console monitor would have raised {per_minute.get('total')} "
                "alerts (one per rule per minute)" if per_minute.get("total") is not None
                else "")),
        fact("database poll latency p95", latency.get("p95"),
             f"p50 {_ms(latency.get('p50'))}, max {_ms(latency.get('max'))}; "
             f"{latency.get('polls')} polls, {latency.get('failed_polls')} failed", unit="ms"),
    ]
    log = ctx.log_report
    if log:
        levels = log.get("levels", {})
        rows.append(fact("bot log records", log.get("records"),
                         f"{levels.get('ERROR', 0)} ERROR, {levels.get('CRITICAL', 0)} "
                         f"CRITICAL, {levels.get('WARNING', 0)} WARNING"))
    pnl = ctx.db_section("08")
    if pnl and pnl.get("rows"):
        total = next((r for r in pnl["rows"] if r.get("exchange") == "ALL"), pnl["rows"][-1])
        rows.append(fact("closed positions: win rate", total.get("win_rate_pct"),
                         f"{total.get('closed')} closed, total PnL "
                         f"{money(total.get('total_pnl'), total.get('pnl_unit'))}", unit="%"))
    return rows


def _ms(value: Any) -> str:
    return "—" if value is None else f"{_int(value)} ms"


def money(value: Any, unit: Any) -> str:
    """A PnL with its currency: the quote currency of the symbols (SQL 08 finds it)."""
    if value is None:
        return "—"
    amount = f"{value:,.2f}" if isinstance(value, (int, float)) else str(value)
    if amount in ("-0.00", "-0"):
        amount = "0.00"
    return f"{amount} {unit}" if unit else f"{amount} (quote currency; mixed or unknown)"


def ws_fact(ctx: Context, label: str) -> dict[str, Any]:
    """WebSocket reconnects: from events when the bot writes them, else from its log."""
    s = ctx.summary
    why = ctx.no_source.get("ws_reconnects")
    if why is None:
        total = s.get("total_ws_reconnects")
        return fact(label, total, by_exchange_text(ctx, "ws_reconnects", total))
    found = log_reconnects(ctx)
    if found is None:
        return fact(label, None, f"{NOT_MEASURABLE} from events: {why}; no bot log analysed")
    return fact(label, found[0], f"from {found[1]}; events: {NOT_MEASURABLE} ({why})")


# -- areas ----------------------------------------------------------------------------------------

def positions(ctx: Context) -> dict[str, Any]:
    s = ctx.summary
    by_ex = s.get("by_exchange") or {}
    rows = []
    for exchange in ctx.data.exchanges:
        entry = by_ex.get(exchange) or {}
        peak, avg = gauge_stats(ctx.data, f"open_positions.{exchange}")
        rows.append([exchange, entry.get("opened", ctx.sums.get(f"positions_opened.{exchange}")),
                     entry.get("closed", ctx.sums.get(f"positions_closed.{exchange}")),
                     entry.get("max_open", peak), avg, entry.get("errors"), entry.get("events")])
    opened, closed = s.get("total_positions_opened"), s.get("total_positions_closed")
    facts = [
        measured(ctx, "positions_opened", "positions opened", opened,
                 by_exchange_text(ctx, "positions_opened", opened)),
        measured(ctx, "positions_closed", "positions closed", closed,
                 by_exchange_text(ctx, "positions_closed", closed)),
        fact("open positions, max", s.get("max_open_positions"),
             f"average {_int(s.get('avg_open_positions'))}"),
        measured(ctx, "price_updates", "price updates", s.get("total_price_updates")),
    ]
    counts = ctx.log_counts("position")
    if counts:
        facts.append(fact("the log says: opened / closed / failed to open",
                          counts.get("opened"),
                          f"closed {counts.get('closed')}, failed {counts.get('open_failed')}"))
    facts += episode_facts(ctx, "positions")
    tables = [
        table("By exchange", ["exchange", "opened", "closed", "max open", "avg open", "errors",
                              "events"], rows, note="" if rows else "no exchange seen"),
        section_table(ctx, "01", "Positions by status and exchange"),
        section_table(ctx, "08", "PnL and win rate"),
    ]
    return area("positions", "Positions per exchange", facts, tables)


def stop_loss(ctx: Context) -> dict[str, Any]:
    s = ctx.summary
    unprotected = [m for m in ctx.data.run_minutes
                   if (m.values.get("unprotected_max") or 0) > 0]
    facts = [
        fact("open positions without a stop-loss, max", s.get("max_unprotected"),
             f"average {_int(s.get('avg_unprotected'))}"),
        fact("minutes with a position without a stop-loss", len(unprotected),
             minute_span(unprotected, ctx.tz)),
        fact("the bot's own detections (positions_without_sl_detected)",
             s.get("total_unprotected_detections")),
        measured(ctx, "sl_updates", "stop-loss moves", s.get("total_sl_updates")),
    ]
    perf = ctx.db_section("05")
    placement = next((r for r in (perf or {}).get("rows", [])
                      if "stop_loss_placed" in str(r.get("metric"))), None)
    if placement is not None and placement.get("samples"):
        facts.append(fact("SL placement after an open (position_created → stop_loss_placed), "
                          "p95", placement.get("p95"),
                          f"p50 {_ms(placement.get('p50'))}, max {_ms(placement.get('max'))}, "
                          f"{placement.get('samples')} positions; no operators' target (their "
                          "200 ms is for SL updates)", unit="ms"))
    elif placement is not None:
        facts.append(fact("SL placement after an open (position_created → stop_loss_placed), "
                          "p95", None, f"{NOT_MEASURABLE}: the bot's atomic open path writes "
                          "neither event (only its legacy path does)"))
    slow = slow_sl_updates(ctx)
    facts.append(fact("SL update (a trailing stop moving its stop-loss), p95", None,
                      f"{NOT_MEASURABLE}: stop_loss_updated is never written and "
                      "trailing_stop_sl_updated carries no duration"
                      + (f"; the log has {slow['count']} SL update(s) of {slow['threshold']} "
                         f"ms or more (max {slow['max_ms']} ms)" if slow else "")))
    counts = ctx.log_counts("stop_loss")
    if counts:
        facts.append(fact("the log says: set / verified / updated / triggered / missing / "
                          "failed", counts.get("set"),
                          " / ".join(str(counts.get(k)) for k in ("set", "verified", "updated",
                                                                   "triggered", "missing",
                                                                   "failed"))))
    facts += episode_facts(ctx, "stop_loss")
    tables = [section_table(ctx, "02", "Stop-loss coverage and events"),
              section_table(ctx, "05", "Latencies")]
    timing = (ctx.log_report or {}).get("timing") or {}
    slow = [op for op in timing.get("slow_by_operation", []) if "SL" in op.get("operation", "")
            or "stop" in op.get("operation", "").lower()]
    if slow:
        tables.append(table(f"Slow stop-loss operations in the log (≥ "
                            f"{timing.get('slow_threshold_ms')} ms)",
                            ["operation", "count", "avg ms", "max ms"],
                            ([o["operation"], o["count"], o["avg_ms"], o["max_ms"]]
                             for o in slow)))
    return area("stop_loss", "Stop-loss", facts, tables)


def trailing_stop(ctx: Context) -> dict[str, Any]:
    s = ctx.summary
    consistency = (ctx.data.final_report or {}).get("trailing_stop_consistency") or {}
    latest, peak = consistency.get("latest") or {}, consistency.get("max") or {}
    facts = [measured(ctx, "ts_activations", "trailing-stop activations",
                      s.get("total_ts_activations")),
             measured(ctx, "sl_updates", "stop-loss moves (trailing and breakeven)",
                      s.get("total_sl_updates"))]
    labels = {"ts_missing": "open positions with has_trailing_stop but no trailing_stop_state",
              "ts_orphaned": "trailing_stop_state rows without an open position",
              "ts_sl_mismatch": "stop_loss_price disagreeing with the trailing stop"}
    for name, label in labels.items():
        most = peak.get(name)
        if most is None:
            most = gauge_stats(ctx.data, name)[0]
        names = latest.get(name) or []
        facts.append(fact(f"{label}, max", most,
                          f"at the end: {', '.join(names)}" if names else ""))
    counts = ctx.log_counts("trailing_stop")
    if counts:
        facts.append(fact("the log says: activated / updated / created / stale state",
                          counts.get("activated"),
                          " / ".join(str(v) for v in counts.values())))
    facts += episode_facts(ctx, "trailing_stop")
    outliers = section_table(
        ctx, "03", "Update-frequency outliers (more than 20 updates)",
        columns=["item", "count", "first_at", "last_at", "detail"],
        where={"kind": "more than 20 updates"},
        empty="none: no position had more than 20 trailing-stop updates")
    if outliers["columns"]:
        outliers["columns"] = ["position", "updates", "first", "last", "detail"]
    tables = [outliers]
    found = ctx.db_section("03")
    if found and "rows" in found:
        rows = [r for r in found["rows"] if r.get("kind") != "more than 20 updates"]
        cols = ["kind", "item", "count", "first_at", "last_at", "detail"]
        tables.append(table(f"Trailing-stop events and states (post-test SQL "
                            f"{found.get('section')})", cols,
                            ([r.get(c) for c in cols] for r in rows),
                            note="" if rows else "no trailing-stop events or states"))
    return area("trailing_stop", "Trailing stop", facts, tables)


def websocket(ctx: Context) -> dict[str, Any]:
    minutes = minutes_where(ctx.data, "ws_reconnects")
    facts = [ws_fact(ctx, "WebSocket reconnects")]
    if "ws_reconnects" not in ctx.no_source:
        facts.append(fact("minutes with a reconnect", len(minutes),
                          minute_span(minutes, ctx.tz)))
    stale = [m for m in ctx.data.run_minutes if m.values.get("positions_price_updated") == 0
             and (m.values.get("open_positions") or 0) > 0]
    facts.append(fact("minutes without price updates while positions were open", len(stale),
                      minute_span(stale, ctx.tz)))
    if "log_ws_reconnects" in ctx.sums or "log_ws_disconnects" in ctx.sums:
        facts.append(fact("reconnects / disconnects in the log (live tail)",
                          _int(ctx.sums.get("log_ws_reconnects", 0)),
                          f"disconnects {_int(ctx.sums.get('log_ws_disconnects', 0))}"))
    counts = ctx.log_counts("websocket")
    if counts:
        facts.append(fact("the log says: " + " / ".join(counts), counts.get("reconnect"),
                          " / ".join(str(v) for v in counts.values())))
    facts += episode_facts(ctx, "websocket")
    tables = [section_table(ctx, "09", "WebSocket and subscription events by hour",
                            empty=f"{NOT_MEASURABLE}: no websocket_* / subscription_* events "
                                  "(no version of the bot writes them); WebSocket health is "
                                  "in its log")]
    return area("websocket", "WebSocket", facts, tables)


def errors(ctx: Context) -> dict[str, Any]:
    s = ctx.summary
    minutes = minutes_where(ctx.data, "errors")
    bursts = minutes_where(ctx.data, "errors", above=5)
    facts = [
        measured(ctx, "errors", "errors (events)", s.get("total_errors"),
                 by_exchange_text(ctx, "errors", s.get("total_errors"))),
        fact("minutes with errors", len(minutes), minute_span(minutes, ctx.tz)),
        fact("minutes with more than 5 errors", len(bursts), minute_span(bursts, ctx.tz)),
    ]
    log = ctx.log_report
    if log:
        err = log.get("errors") or {}
        modules = ", ".join(f"{k} {v}" for k, v in list((err.get("by_module") or {}).items())[:5])
        facts.append(fact("error incidents in the log (one failure logged several times "
                          "counts once)", err.get("total"),
                          f"{err.get('records', err.get('total'))} ERROR/CRITICAL records; "
                          + modules))
    facts += episode_facts(ctx, "errors")
    tables = [section_table(
        ctx, "04", "Errors by type and severity",
        columns=["event_type", "severity", "counted_as", "events", "positions", "first_seen",
                 "last_seen", "sample_message"], empty="no error events in the run")]
    if log:
        groups = (log.get("errors") or {}).get("by_type") or []
        tables.append(table(
            "Errors in the bot's log, by type", ["type", "count", "first seen", "last seen",
                                                 "first at", "sample"],
            ([g.get("type"), g.get("count"), g.get("first_seen"), g.get("last_seen"),
              _where(g.get("first")), (g.get("samples") or [{}])[0].get("text")]
             for g in groups), note="" if groups else "no ERROR/CRITICAL records"))
    else:
        tables.append(table("Errors in the bot's log", [], [],
                            note=f"not available: {ctx.logs.get('reason')}"))
    return area("errors", "Errors", facts, tables)


def zombies(ctx: Context) -> dict[str, Any]:
    s = ctx.summary
    facts = [measured(ctx, "zombies", "zombie orders cleaned (events)", s.get("total_zombies"),
                      by_exchange_text(ctx, "zombies", s.get("total_zombies"))),
             measured(ctx, "emergency_closes", "emergency closes",
                      s.get("total_emergency_closes"))]
    sums = ctx.log_sums("zombie")
    if sums:
        facts.append(fact("the log says: zombie orders found / cleaned up",
                          sums.get("found.orders"), f"cleanup {sums.get('cleanup.orders')}"))
    facts += episode_facts(ctx, "zombies")
    return area("zombies", "Zombie orders and emergency closes", facts,
                [section_table(ctx, "07", "Zombie-order events",
                               empty="no zombie-order events")])


def aged(ctx: Context) -> dict[str, Any]:
    s = ctx.summary
    minutes = minutes_where(ctx.data, "aged")
    hours = ctx.config.positions.aged_hours
    facts = [fact(f"positions older than {hours:g} h, max", s.get("max_aged"),
                  f"average {_int(s.get('avg_aged'))}"),
             fact("minutes with aged positions", len(minutes), minute_span(minutes, ctx.tz)),
             fact("the bot's own detections (aged_position_detected)",
                  s.get("total_aged_detections"))]
    sums = ctx.log_sums("aged")
    if sums:
        facts.append(fact("the log says: aged processed / breakeven / liquidated",
                          sums.get("summary.processed"),
                          f"breakeven {sums.get('summary.breakeven')}, liquidated "
                          f"{sums.get('summary.liquidated')}"))
    facts += episode_facts(ctx, "aged")
    return area("aged", "Aged positions", facts,
                [section_table(ctx, "06", "Aged positions", empty="no aged positions")])


def integrity(ctx: Context, completeness_line: str) -> dict[str, Any]:
    data, comp, s = ctx.data, ctx.completeness, ctx.summary
    counting = s.get("counting") or {}
    kinds = Counter(snap.kind for snap in data.snapshots)
    facts = [
        fact("snapshot completeness", comp.recorded, completeness_line),
        fact("snapshot lines", sum(kinds.values()),
             f"{kinds['minute']} minute, {kinds['gap']} gap, {kinds['manual']} manual, "
             f"{len(data.torn_lines)} unreadable"),
        fact("totals from", ctx.totals_source),
        fact("events streamed / recounted", counting.get("streamed_events"),
             f"exact recount {counting.get('recounted_events')}"
             if counting.get("recounted_events") is not None
             else f"no exact recount ({counting.get('recount_error')})"),
        fact("late events (arrived after their minute was written)",
             counting.get("late_events")),
        fact("minutes corrected by late events", len(data.corrections),
             "correction records applied (the latest per minute): "
             + ", ".join(c.where for c in data.corrections[:5])
             + (", ..." if len(data.corrections) > 5 else "") if data.corrections
             else "no correction records"),
        fact("polls", (s.get("poll_latency_ms") or {}).get("polls"),
             f"{(s.get('poll_latency_ms') or {}).get('failed_polls')} failed"),
        fact("alerts.jsonl transitions", data.alert_lines,
             f"{data.alert_lines_skipped} unreadable" if data.alert_lines_skipped else ""),
    ]
    if comp.planned is not None and comp.planned != comp.expected:
        facts.append(fact("planned minutes", comp.planned,
                          f"the run covered {comp.expected}"))
    consistency = (data.final_report or {}).get("trailing_stop_consistency")
    if consistency:
        peak = consistency.get("max") or {}
        facts.append(fact("trailing-stop consistency (max over the run)",
                          sum(v or 0 for v in peak.values()),
                          ", ".join(f"{k} {v}" for k, v in peak.items())))
    facts += episode_facts(ctx, "data_integrity")
    gaps = table("Minutes without a snapshot", ["from", "to", "minutes", "reason", "evidence"],
                 ([g.first.isoformat(), g.last.isoformat(), g.minutes, g.reason,
                   ", ".join(g.lines[:3]) + (" ..." if len(g.lines) > 3 else "")]
                  for g in comp.ranges), note="" if comp.ranges else "none")
    files = table("Snapshot files", ["file", "lines"],
                  ([name, n] for name, n in data.snapshot_files.items()))
    return area("data_integrity", "Data integrity", facts, [gaps, files])


def _where(found: Any) -> str:
    if isinstance(found, dict) and found.get("file"):
        name = str(found["file"]).rsplit("/", 1)[-1]
        return f"{name}:{found.get('line')}"
    return ""


# -- issues ---------------------------------------------------------------------------------------

def issue_stubs(ctx: Context) -> list[dict[str, Any]]:
    """One stub per alert episode that fired, most severe first, then by start."""
    fired = sorted((e for e in ctx.episodes if e.fired),
                   key=lambda e: (SEVERITY_ORDER.get(e.severity, 3),
                                  e.start or ctx.data.start, e.key))
    per_rule: dict[str, list[EpisodeLog]] = {}
    for episode in ctx.episodes:
        if episode.fired:
            per_rule.setdefault(episode.rule, []).append(episode)
    per_minute = ((ctx.data.final_report or {}).get("alerts_per_minute_view") or {}
                  ).get("by_rule") or {}
    issues = []
    for number, episode in enumerate(fired, 1):
        record = episode.record
        siblings = sorted(per_rule[episode.rule], key=lambda e: e.start or ctx.data.start)
        index = siblings.index(episode) + 1
        rule_minutes = sum(int(e.record.get("minutes") or 0) for e in siblings)
        stale = " (as of its last alerts.jsonl line)" if record.get("state") == "firing" \
            and not episode.from_report else ""
        frequency = (f"held in {record.get('minutes', 0)} minute(s) over "
                     f"{_duration(record.get('duration_s'))}{stale}; episode {index} of "
                     f"{len(siblings)} of rule {episode.rule} ({rule_minutes} minute(s) in all)")
        if episode.rule in per_minute:
            frequency += (f"; the old console monitor would have raised "
                          f"{per_minute[episode.rule]} alert(s) for this rule")
        issues.append({
            "id": f"ISSUE-{number:02d}", "episode": episode.key, "rule": episode.rule,
            "severity": episode.severity.upper(), "title": record.get("message") or episode.key,
            "state": record.get("state"), "start": record.get("start"),
            "fired": record.get("fired"), "end": record.get("end"),
            "minutes": record.get("minutes"), "duration_s": record.get("duration_s"),
            "peak": record.get("peak"), "threshold": record.get("threshold"),
            "condition": _condition(ctx, episode),
            "frequency": frequency, "area": episode_area(episode),
            "evidence": evidence(ctx, episode), "runbook": (record.get("runbook") or "").strip(),
            "acknowledged": bool(record.get("acknowledged")),
            "impact": RECOMMENDATION, "recommendation": RECOMMENDATION})
    return issues


def _condition(ctx: Context, episode: EpisodeLog) -> str:
    rule = ctx.rules.get(episode.rule)
    if rule is not None:
        return rule.describe()
    record = episode.record
    return (f"{record.get('window')}.{record.get('metric')} vs threshold "
            f"{_int(record.get('threshold'))}")


def _op(ctx: Context, episode: EpisodeLog) -> str:
    rule = ctx.rules.get(episode.rule)
    return rule.condition.op if rule is not None else "vs"


def evidence(ctx: Context, episode: EpisodeLog) -> list[dict[str, Any]]:
    """alerts.jsonl lines of the episode, and the snapshot line that shows it best."""
    found: list[dict[str, Any]] = []
    for step in episode.transitions:
        found.append({"file": "alerts.jsonl", "line": step.line, "at": _iso(step.at),
                      "what": step.event})
    record = episode.record
    start = parse_time(record.get("start"))
    if start is None:
        return found
    last = parse_time(record.get("last_held")) or parse_time(record.get("end")) or start
    window = str(record.get("window") or "current")
    # A minute window shows the minute before the evaluation: look one minute earlier too.
    first_minute = minute_of(start) - (MINUTE if window != "current" else timedelta(0))
    lines = [s for s in ctx.data.snapshots if s.minute is not None
             and first_minute <= s.minute <= minute_of(last)]
    metric = str(record.get("metric") or "")
    with_metric = [s for s in lines if isinstance(s.values.get(metric), (int, float))]
    gaps = [s for s in lines if s.kind == "gap"]
    op = _op(ctx, episode)
    threshold = record.get("threshold")
    if isinstance(threshold, (int, float)) and op in OPS:
        held = [s for s in with_metric if OPS[op](s.values[metric], threshold)]
        with_metric = held or with_metric
    if metric in ("db_up", "polls") and gaps:
        best, what = gaps[0], f"gap: {gaps[0].record.get('reason')}"
    elif with_metric:
        rising = op not in ("<", "<=")
        best = (max if rising else min)(with_metric, key=lambda s: s.values[metric])
        what = f"{metric} = {_int(best.values[metric])}"
    elif gaps:
        best, what = gaps[0], f"gap: {gaps[0].record.get('reason')}"
    elif lines:
        best, what = lines[0], f"minute {lines[0].kind}"
    else:
        return found
    found.append({"file": best.file, "line": best.line, "at": _iso(best.minute),
                  "what": f"snapshot minute: {what}"})
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
