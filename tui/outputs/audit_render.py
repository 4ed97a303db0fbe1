"""Render the audit report document (the JSON twin) as Markdown, in the old audit kit's order:
executive summary with the health verdict, statistics at a glance, per-area sections, issues,
hourly observations, appendices. Times are shown in local time (or ``tz``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, tzinfo
from typing import Any

from tui.outputs.audit_data import parse_time

CELL_LIMIT = 200
_ISO = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$")


class Formatter:
    def __init__(self, tz: tzinfo | None, day: datetime) -> None:
        self.tz = tz
        self.day = day.astimezone(tz).date()

    def time(self, moment: datetime | str | None, seconds: bool = True) -> str:
        if isinstance(moment, str):
            moment = parse_time(moment)
        if moment is None:
            return "—"
        local = moment.astimezone(self.tz)
        text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
        return text if local.date() == self.day else f"{local:%Y-%m-%d} {text}"

    def value(self, value: Any, limit: int = CELL_LIMIT) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            if value == int(value) and abs(value) < 1e15:
                return str(int(value))
            text = f"{value:.2f}".rstrip("0").rstrip(".")
            return "0" if text == "-0" else text  # -0.001 is 0 at two decimals, not "-0"
        if isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        else:
            text = str(value)
            if _ISO.match(text):
                return self.time(text)
        text = " ".join(text.split())
        if limit and len(text) > limit:
            text = text[: limit - 1] + "…"
        return text

    def cell(self, value: Any) -> str:
        return self.value(value).replace("|", "\\|")


def md_table(fmt: Formatter, columns: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(fmt.cell(c) for c in columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(fmt.cell(v) for v in row) + " |" for row in rows]
    return out


def render(doc: dict[str, Any], tz: tzinfo | None = None) -> str:
    run = doc["run"]
    fmt = Formatter(tz, parse_time(run["start"]) or datetime.now().astimezone())
    out: list[str] = []
    add = out.append
    start = parse_time(run["start"])
    offset = start.astimezone(tz).strftime("%z") if start else ""
    add(f"# Audit report: botmon run {run['name']}")
    add("")
    header = [
        ["run directory", f"`{doc['run_dir']}`"],
        ["run", f"{start.astimezone(tz):%Y-%m-%d %H:%M:%S} → {fmt.time(run['end'])} local time "
                f"(UTC{offset[:3]}:{offset[3:]}), {fmt.value(run['duration_minutes'])} min"
         + (f"; planned end {fmt.time(run['planned_end'])}" if run.get("planned_end") else "")
         if start else "—"],
        ["finished by", _finished_by(run)],
        ["totals from", run["totals_from"]],
        ["database", run.get("database") or "—"],
        ["generated", f"{fmt.time(doc['generated_at'])} by {doc['generated_by']}; "
                      f"JSON twin `{doc['json']}`"],
    ]
    out += md_table(fmt, ["", ""], header)
    if doc["notes"]:
        add("")
        add("> **Notes on this report**")
        for note in doc["notes"]:
            add(f"> - {note}")
    _summary(doc, fmt, add, out)
    add("")
    add("## 2. Statistics at a glance")
    add("")
    out += md_table(fmt, ["metric", "value", "detail"],
                    [[f["label"], _fact_value(fmt, f), f["detail"]] for f in doc["statistics"]])
    number = 3
    for area in doc["areas"]:
        add("")
        add(f"## {number}. {area['title']}")
        number += 1
        add("")
        out += md_table(fmt, ["", "value", "detail"],
                        [[f["label"], _fact_value(fmt, f), f["detail"]] for f in area["facts"]])
        for tab in area["tables"]:
            _table_block(fmt, tab, add, out)
        for note in area["notes"]:
            add("")
            add(f"_{note}_")
    _issues(doc, fmt, add, number)
    number += 1
    add("")
    add(f"## {number}. Hourly observations")
    add("")
    notes = doc["hourly_notes"]
    if notes.get("text"):
        add(f"_Embedded verbatim from `{notes['file']}`._")
        add("")
        out.append(notes["text"].rstrip("\n"))
    else:
        add(f"_No hourly notes: `{notes['file']}` is missing or empty._")
    _appendices(doc, fmt, add, out)
    return "\n".join(out).rstrip("\n") + "\n"


def _summary(doc: dict[str, Any], fmt: Formatter, add: Any, out: list[str]) -> None:
    health, summary = doc["health"], doc["executive_summary"]
    add("")
    add("## 1. Executive summary")
    add("")
    decided = "decided by: " if health["decided_by"] else ""
    add(f"**Overall health: {health['verdict']}** — {decided}{health['reason']}.")
    add("")
    add(f"- **Snapshots:** {doc['snapshots']['line']}")
    add(f"- **Alert episodes:** {summary['alerts']}")
    add(f"- **Activity:** {summary['activity']}")
    add(f"- **Issues:** {summary['issues']}")
    add(f"- **Operator's summary:** {summary['operator_summary']}")
    add("")
    add("### Health checks")
    add("")
    rows = [[c["label"], _check_value(fmt, c), c["target"], c["rule"] or "—",
             c["status"].upper() if c["status"] in ("bad", "warning") else c["status"],
             c["source"]] for c in health["checks"]]
    out += md_table(fmt, ["check", "value", "operators' target", "marks", "status", "source"],
                    rows)
    add("")
    add(f"_Verdict rule: {health['rule']}._")


def _finished_by(run: dict[str, Any]) -> str:
    finished = run.get("finished_by")
    if finished == "running" or (finished is None and run.get("in_progress")
                                 and run.get("final_report") is None
                                 and run.get("totals_from", "").startswith("the live")):
        return "still running: exported during the run (streamed totals so far)"
    return finished or ("still running or crashed" if run.get("in_progress") else "crashed")


def _fact_value(fmt: Formatter, found: dict[str, Any]) -> str:
    text = fmt.value(found["value"])
    if found.get("unit") and found["value"] is not None:
        text += found["unit"] if found["unit"] == "%" else f" {found['unit']}"
    return text


def _check_value(fmt: Formatter, check: dict[str, Any]) -> str:
    if check.get("not_measurable"):
        return f"n/a: not measurable on this bot ({check['not_measurable']})"
    value = fmt.value(check["value"])
    if check["value"] is not None and check.get("unit"):
        value += f" {check['unit']}"
    if check.get("detail"):
        value += f" ({check['detail']})"
    return value


def _table_block(fmt: Formatter, tab: dict[str, Any], add: Any, out: list[str]) -> None:
    add("")
    add(f"**{tab['title']}**")
    add("")
    if tab["rows"] and tab["columns"]:
        out.extend(md_table(fmt, tab["columns"], tab["rows"]))
        if tab.get("note"):
            add("")
            add(f"_{tab['note']}_")
    else:
        add(f"_{tab.get('note') or 'no rows'}_")


def _issues(doc: dict[str, Any], fmt: Formatter, add: Any, number: int) -> None:
    add("")
    add(f"## {number}. Issues")
    add("")
    issues = doc["issues"]
    if not issues:
        add("_No alert episode fired: no issue stubs. Add any issue the operator saw here._")
        return
    add(f"One stub per alert episode that fired ({len(issues)}), most severe first. Evidence "
        "cites lines of the run directory's files; fill in the fields marked TODO (operator) "
        "and delete stubs that are not issues.")
    for issue in issues:
        add("")
        add(f"### {issue['id']} · {issue['severity']} · {issue['episode']}")
        add("")
        add(f"**{issue['title']}**")
        add("")
        when = (f"{fmt.time(issue['start'])} → "
                + (fmt.time(issue["end"]) if issue.get("end") else "still firing at the end")
                + (f" (fired {fmt.time(issue['fired'])})" if issue.get("fired") else ""))
        evidence = "<br>".join(
            f"`{e['file']}:{e['line']}` {e['what']}"
            + (f" at {fmt.time(e['at'])}" if e.get("at") else "") for e in issue["evidence"])
        rows = [["Severity", issue["severity"] + (" (acknowledged)" if issue["acknowledged"]
                                                  else "")],
                ["Condition", issue["condition"]],
                ["When", when],
                ["Frequency", issue["frequency"]],
                ["Peak / threshold", f"{fmt.value(issue['peak'])} / "
                                     f"{fmt.value(issue['threshold'])}"],
                ["Evidence", evidence or "—"],
                ["Runbook", issue["runbook"] or "—"],
                ["Impact", issue["impact"]],
                ["Recommendation", issue["recommendation"]]]
        add("| | |")
        add("|---|---|")
        for label, text in rows:  # not cut short: the operator finishes these
            add(f"| {label} | {' '.join(str(text).split()).replace('|', chr(92) + '|')} |")


def _appendices(doc: dict[str, Any], fmt: Formatter, add: Any, out: list[str]) -> None:
    alerts = doc["alerts"]
    add("")
    add("## Appendix A. Alert episodes")
    add("")
    rows = [[e["episode"], e["severity"], e["state"], e["start"], e["fired"], e["end"],
             e["minutes"], e["peak"], e["message"],
             ", ".join(str(n) for n in e["lines"]) if e["lines"] else "—"]
            for e in alerts["episodes"]]
    if rows:
        out.extend(md_table(fmt, ["episode", "severity", "state", "start", "fired", "end",
                                  "minutes", "peak", "message", "alerts.jsonl lines"], rows))
    else:
        add("_No alert episodes._")
    view = alerts.get("per_minute_view") or {}
    add("")
    add(f"{alerts['fired_total']} episode(s) fired, {alerts['not_fired']} never fired (pending "
        f"that cleared, or still pending)"
        + (f"; the old console monitor's view of the same rules: {view.get('total')} alerts "
           f"({', '.join(f'{k} {v}' for k, v in (view.get('by_rule') or {}).items())})"
           if view.get("total") is not None else "") + ".")

    db = doc["database_analysis"]
    add("")
    add("## Appendix B. Post-test database analysis")
    add("")
    if db.get("status") != "ok":
        add(f"_Not available ({db.get('status')}): {db.get('reason')}_")
    else:
        add(f"Window {fmt.time(db['since'])} → {fmt.time(db['until'])} (the run), "
            f"{len(db['sections'])} sections, {db['failed_sections']} failed, "
            f"{db['seconds']} s.")
        for part in db["sections"]:
            add("")
            add(f"### {part['section']}: {part['title']}")
            add("")
            if "error" in part:
                add(f"_Failed: {part['error']}_")
            elif not part.get("rows"):
                add(f"_n/a: not measurable on this bot: {part['not_measurable']}_"
                    if part.get("not_measurable") else "_No rows._")
            else:
                rows = part["rows"]
                columns = list(rows[0].keys())
                out.extend(md_table(fmt, columns, [[r.get(c) for c in columns]
                                                   for r in rows[:100]]))
                if len(rows) > 100:
                    add("")
                    add(f"_{len(rows) - 100} more row(s) in the JSON twin._")

    logs = doc["log_analysis"]
    add("")
    add("## Appendix C. Log analysis")
    add("")
    if logs.get("status") != "ok":
        add(f"_Not available ({logs.get('status')}): {logs.get('reason')}_")
    else:
        _log_appendix(fmt, logs, add, out)

    add("")
    add("## Appendix D. Files of the run directory")
    add("")
    out.extend(md_table(fmt, ["file", "bytes"], [[f["name"], f["bytes"]] for f in doc["files"]]))


def _log_appendix(fmt: Formatter, logs: dict[str, Any], add: Any, out: list[str]) -> None:
    report = logs["report"]
    files = report.get("files", [])
    out.extend(md_table(fmt, ["file", "lines", "records", "first", "last"],
                        [[f.get("path"), f.get("lines"), f.get("records"), f.get("first_time"),
                          f.get("last_time")] for f in files]))
    if logs.get("left_out"):
        add("")
        add(f"_Left out (last written before the run started): "
            f"{', '.join(logs['left_out'])}_")
    add("")
    levels = report.get("levels") or {}
    add(f"{report.get('records')} records, {report.get('unparsed')} unparsed lines; levels: "
        + ", ".join(f"{k} {v}" for k, v in levels.items()) + ". The whole files are analysed, "
        "not only the run's window (log times are the bot host's local time).")
    cov = report.get("coverage") or {}
    if cov.get("records"):
        add("")
        add(f"**Coverage**: {cov.get('categorised')} of {cov.get('records')} records got a "
            f"category ({100 * (cov.get('share') or 0):.1f} %); {cov.get('folded')} lines "
            "repeated an incident already counted (one failure logged several times counts "
            "once).")
        shapes = cov.get("uncategorised") or []
        if shapes:
            add("")
            add("**Not understood** (the most frequent shapes without a category, one real line "
                "each)")
            add("")
            out.extend(md_table(fmt, ["count", "shape", "sample"],
                                [[u.get("count"), u.get("shape"), u.get("sample")]
                                 for u in shapes[:10]]))
    rows = []
    for name, part in report.items():
        if isinstance(part, dict) and isinstance(part.get("counts"), dict):
            first = part.get("first") or {}
            for sub, count in part["counts"].items():
                where = first.get(sub) or {}
                rows.append([name, sub, count, (f"{str(where.get('file', '')).rsplit('/', 1)[-1]}"
                                                f":{where.get('line')}") if where else ""])
    if rows:
        add("")
        add("**By category**")
        add("")
        out.extend(md_table(fmt, ["category", "what", "records", "first at"], rows))
    top = report.get("top_messages") or []
    if top:
        add("")
        add("**Most repeated messages (numbers as N)**")
        add("")
        out.extend(md_table(fmt, ["count", "message"], [[m.get("count"), m.get("message")]
                                                       for m in top]))
