"""The audit report: ``audit_report_<ts>.md`` and its JSON twin ``audit_report_<ts>.json``.

Built from a run directory, offline, after the fact (``botmon report RUN_DIR``) or from the UI's
``e`` key while a run goes on -- in a worker thread, with a progress callback::

    md, js = await asyncio.to_thread(build_audit_report, run_dir, config,
                                     progress=lambda step, fraction: ...)

It follows the old audit kit's template: executive summary with the GREEN / YELLOW / RED verdict
(``audit_health``), statistics at a glance, per-area sections (``audit_areas``), issue stubs for
every alert episode that fired, the hourly notes verbatim, appendices. Sources: the final report
(or, after a crash, totals rebuilt from the snapshot lines), the snapshot lines, alerts.jsonl,
the whole-file log analysis and the post-test SQL; either of the last two may be unavailable,
and the report then says so and goes on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable

from tui import __version__
from tui.config import Config, redact, secrets_of
from tui.outputs import audit_areas as areas
from tui.outputs.audit_data import (ALERTS_FILE, NOTES_FILE, Completeness, RunData,
                                    completeness, episodes_from_report,
                                    merge_report_episodes, open_run, read_run,
                                    snapshot_sums, summary_from_snapshots, without_hint)
from tui.outputs.audit_health import NOT_MEASURABLE, THRESHOLDS, evaluate
from tui.outputs.audit_nosource import no_source
from tui.outputs.audit_render import Formatter, render
from tui.outputs.audit_sources import analyse_database, analyse_logs, kept_analysis
from tui.outputs.durable import to_json, write_atomic
from tui.outputs.rundir import RunDir

AUDIT_PREFIX = "audit_report_"
MAX_GAP_RANGES_IN_LINE = 10
Progress = Callable[[str, float], None]

# Where the fraction of the progress bar stands when each step starts.
STEPS = {"run directory": 0.0, "snapshots and alerts": 0.05, "log analysis": 0.1,
         "database analysis": 0.6, "report": 0.9, "done": 1.0}


class _Steps:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.last = -1.0

    def __call__(self, step: str, fraction: float | None = None) -> None:
        if self.progress is None:
            return
        value = STEPS.get(step, 0.0) if fraction is None else fraction
        if value - self.last >= 0.01 or fraction is None or value >= 1.0:
            self.last = value
            self.progress(step, min(1.0, max(0.0, value)))


def build_audit_report(run_dir: RunDir | str | Path, config: Config, *,
                       progress: Progress | None = None, use_db: bool = True,
                       use_logs: bool = True, report: dict | None = None,
                       now: datetime | None = None, tz: tzinfo | None = None
                       ) -> tuple[Path, Path]:
    """Write the Markdown report and its JSON twin into the run directory; return both paths.

    ``progress(step, fraction)`` is called from the calling thread as the work goes on.
    ``report`` replaces the final report on disk (the live monitor's totals, for an export
    during the run); ``now`` and ``tz`` fix the clock and the display time zone (tests).
    Raises :class:`BotmonError` for a run directory that is not one.
    """
    steps = _Steps(progress)
    steps("run directory")
    run = run_dir if isinstance(run_dir, RunDir) else open_run(run_dir)
    now = now or datetime.now(timezone.utc)
    data = read_run(run, report=report, now=now)
    steps("snapshots and alerts")
    comp = completeness(data, config.run.snapshot_grace_s)
    if use_logs:
        steps("log analysis")
        logs = analyse_logs(config, data.start, progress=lambda done, total: steps(
            "log analysis", STEPS["log analysis"] + 0.5 * done / max(total, 1)))
        if logs.get("status") != "ok":
            logs = _kept(data, "log_analysis", logs)
    else:
        logs = {"status": "skipped", "reason": "not asked for (--no-logs)"}
    if use_db:
        steps("database analysis")
        db = analyse_database(config, data.start, analysis_until(data, now))
        if db.get("status") != "ok":
            db = _kept(data, "database_analysis", db)
    else:
        db = {"status": "skipped", "reason": "not asked for (--no-db)"}
    steps("report")
    stamp = now.astimezone(tz).strftime("%Y%m%d_%H%M%S")
    md_path, json_path = _free_names(run.path, stamp)
    doc = build_document(data, config, comp, logs, db, now=now, tz=tz,
                         names=(md_path.name, json_path.name))
    write_atomic(json_path, json.dumps(json.loads(to_json(doc)), indent=2,
                                       ensure_ascii=False) + "\n")
    write_atomic(md_path, render(doc, tz))
    steps("done")
    return md_path, json_path


def _kept(data: RunData, key: str, failed: dict[str, Any]) -> dict[str, Any]:
    """What the run directory already holds when the source is gone now (a demo's database
    dies with the demo; its log may have moved); else the failure, saying how to get it."""
    found = kept_analysis(data.path, key, None if data.in_progress else data.end)
    reason = without_hint(str(failed.get("reason")))  # the command line's hints are noise here
    if found is not None:
        analysis, where = found
        return {**analysis, "kept_from": where,
                "kept_because": f"{failed.get('status')}: {reason}"}
    if key == "database_analysis" and failed.get("status") == "failed":
        demo = data.meta.get("demo")
        how = ("the demo's database lived only while `botmon demo` ran" if demo else
               f"run `botmon report {data.path} --dsn postgresql://USER@HOST/DB` while the "
               "bot's database is reachable")
        return {**failed, "reason": f"{reason}; {how}"}
    if key == "log_analysis" and failed.get("status") == "skipped" and data.meta.get("logs"):
        return {**failed, "reason": f"{failed.get('reason')}; the run followed "
                                    f"{', '.join(map(str, data.meta['logs']))}"}
    return failed


def analysis_until(data: RunData, now: datetime) -> datetime | None:
    """The end of the post-test SQL window: the run's end; after a crash, the planned end once
    it has passed (the bot went on writing); during a run, the database's now()."""
    if data.final_report is not None:
        return data.end
    if data.planned_end is not None and data.planned_end <= now:
        return data.planned_end
    return None


def _free_names(folder: Path, stamp: str) -> tuple[Path, Path]:
    name, suffix = f"{AUDIT_PREFIX}{stamp}", 1
    while (folder / f"{name}.md").exists() or (folder / f"{name}.json").exists():
        suffix += 1  # two exports in the same second
        name = f"{AUDIT_PREFIX}{stamp}_{suffix}"
    return folder / f"{name}.md", folder / f"{name}.json"


# -- the document ---------------------------------------------------------------------------------

def completeness_line(comp: Completeness, fmt: Formatter) -> str:
    """``478 of 480 minutes recorded; gaps: 10:14–10:15 database down`` (local time)."""
    head = f"{comp.recorded} of {comp.expected} minutes recorded"
    if not comp.ranges:
        return f"{head}; no gaps"
    parts = []
    for gap in comp.ranges[:MAX_GAP_RANGES_IN_LINE]:
        span = fmt.time(gap.first, seconds=False)
        if gap.last != gap.first:
            span += "–" + fmt.time(gap.last, seconds=False)
        parts.append(f"{span} {gap.reason}")
    more = len(comp.ranges) - MAX_GAP_RANGES_IN_LINE
    tail = f", and {more} more (see Data integrity)" if more > 0 else ""
    return f"{head}; gaps: {', '.join(parts)}{tail}"


def build_document(data: RunData, config: Config, comp: Completeness, logs: dict[str, Any],
                   db: dict[str, Any], *, now: datetime, tz: tzinfo | None,
                   names: tuple[str, str]) -> dict[str, Any]:
    fmt = Formatter(tz, data.start)
    final = data.final_report
    if final is not None:
        summary = final.get("metrics_summary") or {}
        source = (f"final report {data.final_report_file}" if data.final_report_file
                  else "the live monitor's totals (exported during the run)")
        counting = summary.get("counting") or {}
        if counting.get("source") == "recount":
            source += " (exact recount of the run's interval)"
        elif counting.get("recount_error") == "not attempted":
            source += " (streamed counts; the exact recount runs when the run ends)"
        elif counting:
            source += (" (streamed counts: the exact recount failed: "
                       f"{counting.get('recount_error')})")
    else:
        summary = summary_from_snapshots(data)
        source = "snapshot lines (no final report; approximate)"
    merge_report_episodes(data.episodes, final)
    episodes = data.episodes or (episodes_from_report(final) if final else [])
    notes = list(data.notes)
    if not data.episodes and episodes:
        notes.append(f"{ALERTS_FILE} is missing: the episodes come from the final report "
                     "(no line numbers)")
    for name, kept in (("log analysis", logs), ("database analysis", db)):
        if kept.get("kept_from"):
            notes.append(f"{name}: kept from {kept['kept_from']} (not available now: "
                         f"{kept.get('kept_because')})")
    if logs.get("status") != "ok":
        notes.append(f"log analysis {logs.get('status')}: {logs.get('reason')}")
    if db.get("status") != "ok":
        notes.append(f"database analysis {db.get('status')}: {db.get('reason')}")
    elif db.get("failed_sections"):
        failed = [s["section"] for s in db.get("sections", []) if "error" in s]
        notes.append(f"database analysis: {len(failed)} section(s) failed ({', '.join(failed)});"
                     " see Appendix B")
    line = completeness_line(comp, fmt)
    ctx = areas.Context(data=data, config=config, summary=summary, totals_source=source,
                        sums=snapshot_sums(data), completeness=comp, episodes=episodes,
                        issues_by_episode={}, logs=logs, db=db, tz=tz, rules=_rules(config),
                        no_source=no_source(config, summary, data.run_minutes))
    issues = areas.issue_stubs(ctx)
    ctx.issues_by_episode = {i["episode"]: i["id"] for i in issues}
    health = _health(ctx, line)
    fired = [e for e in episodes if e.fired]
    by_severity = {s: sum(1 for e in fired if e.severity == s)
                   for s in ("critical", "warning", "info")}
    secrets = secrets_of(config)
    doc: dict[str, Any] = {
        "kind": "botmon_audit_report", "version": 1,
        "generated_at": now.isoformat(), "generated_by": f"botmon {__version__}",
        "run_dir": str(data.path), "markdown": names[0], "json": names[1],
        "run": {
            "name": data.path.name, "start": data.start.isoformat(),
            "end": data.end.isoformat(),
            "planned_end": data.planned_end.isoformat() if data.planned_end else None,
            "duration_minutes": round((data.end - data.start).total_seconds() / 60, 2),
            "finished_by": (final or {}).get("finished_by"),
            "in_progress": data.in_progress, "final_report": data.final_report_file,
            "totals_from": source, "resumed": bool(data.meta.get("resumed")),
            "database": redact(str(data.meta.get("database") or ""), secrets) or None,
            "config": data.meta.get("config")},
        "notes": notes,
        "health": health,
        "executive_summary": {
            "verdict": health["verdict"], "reason": health["reason"],
            "completeness": line,
            "alerts": _alerts_sentence(by_severity, final),
            "activity": _activity_sentence(summary),
            "issues": (f"{len(issues)} issue stub(s) below ({issues[0]['id']}–"
                       f"{issues[-1]['id']}) to finish" if issues else "none"),
            "operator_summary": areas.RECOMMENDATION},
        "statistics": areas.statistics(ctx),
        "areas": [areas.positions(ctx), areas.stop_loss(ctx), areas.trailing_stop(ctx),
                  areas.websocket(ctx), areas.errors(ctx), areas.zombies(ctx),
                  areas.aged(ctx), areas.integrity(ctx, line)],
        "issues": issues,
        "snapshots": {
            "expected": comp.expected, "recorded": comp.recorded,
            "gap_minutes": comp.gap_minutes, "missing_minutes": comp.missing_minutes,
            "planned": comp.planned, "line": line,
            "gaps": [{"from": g.first.isoformat(), "to": g.last.isoformat(),
                      "minutes": g.minutes, "reason": g.reason, "lines": g.lines}
                     for g in comp.ranges],
            "files": data.snapshot_files, "unreadable_lines": data.torn_lines},
        "alerts": {
            "journal": {"file": ALERTS_FILE, "lines": data.alert_lines,
                        "unreadable": data.alert_lines_skipped},
            "fired": by_severity, "fired_total": len(fired),
            "not_fired": len(episodes) - len(fired),
            "per_minute_view": (final or {}).get("alerts_per_minute_view"),
            "episodes": [{**{k: e.record.get(k) for k in (
                "rule", "severity", "state", "start", "fired", "end", "minutes", "peak",
                "threshold", "metric", "window", "message", "acknowledged")},
                "episode": e.key, "lines": [t.line for t in e.transitions]}
                for e in episodes]},
        "hourly_notes": {"file": NOTES_FILE, "present": data.hourly_notes is not None,
                         "text": data.hourly_notes},
        "database_analysis": db,
        "log_analysis": logs,
        "files": [{"name": n, "bytes": b} for n, b in data.files],
    }
    return doc


def _rules(config: Config) -> dict[str, Any]:
    try:
        from tui.alerts.rules import load_rules

        return {rule.name: rule for rule in load_rules(config.rules_dir).rules}
    except Exception:  # noqa: BLE001 - the report does not need the rules to be valid now
        return {}


SL_PLACEMENT = "position_created -> stop_loss_placed"


def _health(ctx: areas.Context, line: str) -> dict[str, Any]:
    s, comp = ctx.summary, ctx.completeness
    fired = [e for e in ctx.episodes if e.fired]
    critical = [e.key for e in fired if e.severity == "critical"]
    warning = [e.key for e in fired if e.severity == "warning"]
    wanted = comp.expected if ctx.data.in_progress else max(comp.expected, comp.planned or 0)
    values: dict[str, Any] = {
        "critical_episodes": len(critical), "warning_episodes": len(warning),
        "snapshot_minutes_missing": wanted - comp.recorded,
        "aged_max": s.get("max_aged"), "sl_update_p95_ms": None, "sl_placement_p95_ms": None,
        "db_poll_p95_ms": (s.get("poll_latency_ms") or {}).get("p95"),
        "api_p50_ms": None, "ws_reconnects": s.get("total_ws_reconnects"),
        "errors": s.get("total_errors"), "zombies": s.get("total_zombies")}
    details = {"critical_episodes": ", ".join(critical), "warning_episodes": ", ".join(warning),
               "snapshot_minutes_missing": line + (
                   f"; planned {comp.planned} minutes" if comp.planned and
                   comp.planned > comp.expected else "")}
    if ctx.data.in_progress and ctx.data.planned_end is not None:
        details["snapshot_minutes_missing"] += (
            f"; the run goes on until {ctx.data.planned_end.astimezone(ctx.tz):%H:%M}")
    unmeasurable = {
        "api_p50_ms": "botmon sees neither the bot's API calls nor their timing",
        "sl_update_p95_ms": "stop_loss_updated is never written and trailing_stop_sl_updated "
                            "carries no duration; the log's 'SL updated via … in N ms' lines "
                            "are only kept when slow"}
    sources: dict[str, str] = {}
    slow = areas.slow_sl_updates(ctx)
    if slow:
        details["sl_update_p95_ms"] = (f"the log has {slow['count']} SL update(s) of "
                                       f"{slow['threshold']} ms or more (max {slow['max_ms']} "
                                       "ms)")
    perf = ctx.db_section("05")
    placement = next((r for r in (perf or {}).get("rows", [])
                      if str(r.get("metric")) == SL_PLACEMENT), None)
    if perf is not None and "error" not in perf:
        if placement is None or not placement.get("samples"):
            unmeasurable["sl_placement_p95_ms"] = (
                "no position_created -> stop_loss_placed pair in the run: the bot's atomic "
                "open path writes neither (only its legacy path does)")
        else:
            values["sl_placement_p95_ms"] = placement.get("p95")
            details["sl_placement_p95_ms"] = (
                f"p50 {placement.get('p50')} ms, max {placement.get('max')} ms, "
                f"{placement.get('samples')} positions")
    else:
        details["sl_placement_p95_ms"] = "the database analysis did not run"
    for check, metric in (("ws_reconnects", "ws_reconnects"), ("errors", "errors"),
                          ("zombies", "zombies")):
        why = ctx.no_source.get(metric)
        if why is None:
            continue
        found = areas.log_reconnects(ctx) if metric == "ws_reconnects" else None
        if found is not None:
            values[check], sources[check] = found
            details[check] = f"events: {NOT_MEASURABLE} ({why})"
        else:
            unmeasurable[check] = why + (
                "; give botmon the bot's log (logs.paths or --log) to count them there"
                if metric == "ws_reconnects" else "")
    return evaluate(values, THRESHOLDS, details, unmeasurable, sources)


def _alerts_sentence(by_severity: dict[str, int], final: dict | None) -> str:
    total = sum(by_severity.values())
    text = (f"{total} fired ({by_severity['critical']} critical, {by_severity['warning']} "
            f"warning, {by_severity['info']} info)")
    view = (final or {}).get("alerts_per_minute_view") or {}
    if view.get("total") is not None:
        text += (f"; the old console monitor's one-alert-a-minute view of the same rules "
                 f"would have raised {view['total']}")
    return text


def _activity_sentence(s: dict[str, Any]) -> str:
    def n(key: str) -> str:
        value = s.get(key)
        return "?" if value is None else str(value)

    return (f"{n('total_positions_opened')} positions opened, {n('total_positions_closed')} "
            f"closed (max {n('max_open_positions')} open), {n('total_ts_activations')} "
            f"trailing-stop activations, {n('total_sl_updates')} stop-loss moves, "
            f"{n('total_errors')} errors, {n('total_ws_reconnects')} WebSocket reconnects, "
            f"{n('total_zombies')} zombie orders, {n('total_emergency_closes')} emergency closes")
