"""Turn a ``LogAnalysis`` into the ``botmon logs`` report: a JSON-ready dict, and text from it.

The dict is the one source of truth; the text rendering only formats it. Every category of the
pattern table gets its own section (so a category added in config shows up without code), plus
errors, per-exchange distribution and the most repeated messages.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import datetime
from typing import Any

from tui.analysis.logs import LogAnalysis
from tui.analysis.logs_stats import Where
from tui.sources.logparse import ERROR_CATEGORY, EVENT_CATEGORY, EXCHANGE_CATEGORY

LEVEL_ORDER = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TITLES = {
    "position": "Position lifecycle",
    "stop_loss": "Stop-loss",
    "trailing_stop": "Trailing stop",
    "websocket": "WebSocket health",
    "wave": "Waves and signals",
    "zombie": "Zombie orders",
    "aged": "Aged positions",
    "timing": "Timing issues",
    "event": "Event logger echo lines, by event type (the database's names)",
}
RESERVED = {
    "files",
    "lines",
    "records",
    "levels",
    "unparsed",
    "continuation_lines",
    "first_time",
    "last_time",
    "errors",
    "exchanges",
    "top_messages",
    "analysis",
    "coverage",
}
_DIGITS = re.compile(r"[0-9]+")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(sep=" ", timespec="milliseconds") if t else None


def build_report(a: LogAnalysis, *, top: int = 20) -> dict[str, Any]:
    st = a.stats
    files = a.files

    def where(w: Where | None) -> dict[str, Any] | None:
        return None if w is None else {"file": files[w[0]].path, "line": w[1]}

    levels = {lv: st.levels[lv] for lv in LEVEL_ORDER if st.levels[lv]}
    levels.update({lv: n for lv, n in sorted(st.levels.items()) if lv not in levels})
    report: dict[str, Any] = {
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "compressed": f.gz,
                "lines": f.lines,
                "records": f.records,
                "first_time": _iso(f.first_time),
                "last_time": _iso(f.last_time),
            }
            for f in files
        ],
        "lines": st.lines,
        "records": st.records,
        "levels": levels,
        "unparsed": st.unparsed,
        "continuation_lines": st.continuation,
        "first_time": _iso(st.first_time),
        "last_time": _iso(st.last_time),
    }
    for category, subs in a.categoriser.patterns.items():
        if category in (EXCHANGE_CATEGORY, ERROR_CATEGORY):
            continue
        if category == EVENT_CATEGORY:  # sub-keys are the event types found
            prefix = EVENT_CATEGORY + "."
            subs = sorted((t[len(prefix) :] for t in st.tags if t.startswith(prefix)),
                          key=lambda e: (-st.tags[prefix + e], e))
        name = category if category not in RESERVED else f"category_{category}"
        report[name] = _section(st, category, list(subs), where)
    if "timing" in report:
        report["timing"]["slow_threshold_ms"] = a.categoriser.slow_ms
        report["timing"]["slowest"] = [
            {"ms": round(ms, 2), **(where(w) or {}), "text": text}
            for ms, w, text in sorted(st.slowest, reverse=True)
        ]
        ops = sorted(st.slow_ops.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
        report["timing"]["slow_by_operation"] = [
            {
                "operation": op,
                "count": int(c),
                "avg_ms": round(total / c, 1),
                "max_ms": round(peak, 1),
            }
            for op, (c, total, peak) in ops
        ]
    groups = sorted(st.errors.items(), key=lambda kv: (-kv[1].count, kv[0]))
    report["errors"] = {
        # Incidents: one failure logged several times counts once; the lines of a multi-line
        # dump belong to the error they detail.
        "total": sum(g.count for _, g in groups),
        "records": st.error_records,
        "folded": st.error_folded,
        "detail_lines": st.error_details,
        "by_type": [
            {
                "type": kind,
                "count": g.count,
                "first_seen": _iso(g.first_time),
                "last_seen": _iso(g.last_time),
                "first": where(g.first_where),
                "modules": dict(g.modules.most_common(5)),
                "samples": [
                    {**(where(w) or {}), "time": t, "logger": lg, "text": text}
                    for w, t, lg, text in g.samples
                ],
            }
            for kind, g in groups
        ],
        "by_module": dict(st.error_modules.most_common()),
        "per_hour": dict(sorted(st.errors_per_hour.items())),
        "kinds": {
            tag.partition(".")[2]: n
            for tag, n in sorted(st.tags.items())
            if tag.startswith(ERROR_CATEGORY + ".")
        },
    }
    report["exchanges"] = {
        ex: {"records": n, **dict(sorted(st.exchange_tags.get(ex, Counter()).items()))}
        for ex, n in st.exchange_records.most_common()
    }
    report["top_messages"] = _top_messages(st.top, st.top_where, top, where)
    report["coverage"] = _coverage(st, top, where)
    report["analysis"] = {
        "seconds": round(a.seconds, 3),
        "jobs": a.jobs,
        "units": a.units,
        "top_messages_approximate": st.top_pruned,
    }
    return report


def _coverage(st: Any, top: int, where: Any) -> dict[str, Any]:
    """What share of the records botmon understood, and what it did not: the most frequent
    uncategorised shapes with a count and one real line each."""
    parsed = st.records - st.unparsed
    shapes = sorted(st.uncategorised.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "records": parsed,
        "categorised": st.categorised,
        "share": round(st.categorised / parsed, 4) if parsed else None,
        "folded": st.folded,
        "uncategorised": [
            {
                "shape": shape,
                "count": n,
                **(where(st.uncategorised_sample[shape][0]) or {}),
                "sample": st.uncategorised_sample[shape][1],
            }
            for shape, n in shapes
        ],
        "uncategorised_shapes": len(st.uncategorised),
        "approximate": st.uncategorised_pruned,
    }


def _section(st: Any, category: str, subs: list[str], where: Any) -> dict[str, Any]:
    prefix = category + "."
    section: dict[str, Any] = {"counts": {sub: st.tags[prefix + sub] for sub in subs}}
    sums = {
        k[len(prefix) :]: (int(v) if float(v).is_integer() else round(v, 3))
        for k, v in sorted(st.field_sums.items())
        if k.startswith(prefix)
    }
    if sums:
        section["sums"] = sums
    symbols = {
        sub: st.symbols[prefix + sub].most_common(10) for sub in subs if prefix + sub in st.symbols
    }
    if symbols:
        section["symbols"] = symbols
        section["distinct_symbols"] = {sub: len(st.symbols[prefix + sub]) for sub in symbols}
    section["first"] = {
        sub: where(st.tag_first[prefix + sub]) for sub in subs if prefix + sub in st.tag_first
    }
    section["samples"] = {
        sub: [{**where(w), "text": text} for w, text in st.tag_samples[prefix + sub]]
        for sub in subs
        if st.tag_samples.get(prefix + sub)
    }
    return section


def _top_messages(
    top: Counter[bytes], top_where: dict[bytes, Where], n: int, where: Any
) -> list[dict[str, Any]]:
    # Shapes were counted with every digit turned into "0"; merge them with numbers as "N".
    merged: dict[str, list[Any]] = {}
    for key, count in top.items():
        text = _DIGITS.sub("N", key.decode("utf-8", "replace")).rstrip()
        w = top_where.get(key)
        slot = merged.get(text)
        if slot is None:
            merged[text] = [count, w]
        else:
            slot[0] += count
            if w is not None and (slot[1] is None or w < slot[1]):
                slot[1] = w
    best = sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
    return [{"message": text, "count": c, **(where(w) or {})} for text, (c, w) in best]


# -- text ---------------------------------------------------------------------------------------


def render_text(report: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    files = report["files"]
    names = _short_names([f["path"] for f in files])

    def at(d: dict[str, Any] | None) -> str:
        return f"{names.get(d['file'], d['file'])}:{d['line']}" if d else "-"

    add(
        f"botmon logs: {len(files)} file(s), {report['lines']:,} lines, "
        f"{report['records']:,} records, {report['unparsed']:,} unparsed"
    )
    for f in files:
        span = f"{f['first_time'] or '?'} -> {f['last_time'] or '?'}"
        gz = "  (gz)" if f["compressed"] else ""
        add(f"  {names[f['path']]:<28} {f['lines']:>12,} lines  {span}{gz}")
    add(f"Period: {report['first_time'] or '?'} -> {report['last_time'] or '?'}")
    add("Levels: " + ", ".join(f"{lv} {n:,}" for lv, n in report["levels"].items()))
    cov = report["coverage"]
    if cov["records"]:
        add(
            f"Coverage: {cov['categorised']:,} of {cov['records']:,} records categorised "
            f"({cov['share']:.1%}); {cov['folded']:,} lines repeated an incident already "
            "counted (folded)"
        )

    for name, section in report.items():
        if name in RESERVED or not isinstance(section, dict) or "counts" not in section:
            continue
        title = TITLES.get(name, name.replace("_", " ").capitalize())
        add("")
        add(f"== {title} ==")
        for sub, n in section["counts"].items():
            first = section.get("first", {}).get(sub)
            add(f"  {sub:<22} {n:>10,}" + (f"   first at {at(first)}" if first else ""))
        for key, value in section.get("sums", {}).items():
            add(f"  sum of {key:<30} {value:>10,}")
        for sub, syms in section.get("symbols", {}).items():
            shown = ", ".join(f"{s} {n}" for s, n in syms[:5])
            add(f"  {sub} by symbol ({section['distinct_symbols'][sub]} distinct): {shown}")
        for sub, samples in section.get("samples", {}).items():
            for s in samples[:1]:
                add(f"  e.g. {sub}: {at(s)}  {s['text']}")
        if name == "timing":
            add(f"  slow = at least {section['slow_threshold_ms']:g} ms; slowest:")
            for s in section["slowest"][:5]:
                add(f"    {s['ms']:>10,.1f} ms  {at(s)}  {s['text']}")
            for op in section["slow_by_operation"][:5]:
                add(
                    f"    {op['count']:>6,} x avg {op['avg_ms']:,.0f} ms "
                    f"max {op['max_ms']:,.0f} ms  {op['operation']}"
                )

    err = report["errors"]
    add("")
    add(
        f"== Errors: {err['total']:,} incidents in {err['records']:,} ERROR/CRITICAL records "
        f"({err['folded']:,} repeats folded, {err['detail_lines']:,} lines of multi-line "
        "messages) =="
    )
    add("  by type:")
    for g in err["by_type"][:15]:
        add(f"    {g['count']:>8,}  {g['type']}")
        seen = f"first {g['first_seen'] or '?'}  last {g['last_seen'] or '?'}"
        add(f"              {seen}  at {at(g['first'])}")
        for s in g["samples"][:1]:
            add(f"              e.g. [{s['logger']}] {s['text']}")
    if len(err["by_type"]) > 15:
        add(f"    ... {len(err['by_type']) - 15} more types (see --json)")
    add("  by module:")
    for module, n in list(err["by_module"].items())[:10]:
        add(f"    {n:>8,}  {module}")
    add("  per hour:")
    for hour, n in err["per_hour"].items():
        add(f"    {hour}  {n:>8,}")

    add("")
    add("== Per exchange ==")
    for ex, counts in report["exchanges"].items():
        rest = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "records")
        add(f"  {ex:<10} {counts['records']:>10,} records" + (f"; {rest}" if rest else ""))

    add("")
    approx = (
        " (approximate: too many distinct messages)"
        if report["analysis"]["top_messages_approximate"]
        else ""
    )
    add(f"== Most repeated messages (numbers as N){approx} ==")
    for m in report["top_messages"]:
        add(f"  {m['count']:>10,}  {m['message'][:150]}  ({at(m)})")

    add("")
    share = f"{cov['share']:.1%}" if cov["share"] is not None else "-"
    approx = " (approximate: too many distinct shapes)" if cov["approximate"] else ""
    add(
        f"== Not understood: {cov['records'] - cov['categorised']:,} records without a category "
        f"({share} categorised){approx} =="
    )
    add("  the most frequent shapes (symbols as <SYM>, numbers as N), with one real line each:")
    for u in cov["uncategorised"]:
        add(f"  {u['count']:>10,}  {u['shape'][:150]}")
        add(f"              e.g. {at(u)}  {u['sample']}")
    add("")
    a = report["analysis"]
    add(f"Analysed in {a['seconds']:.1f} s with {a['jobs']} process(es).")
    return "\n".join(out) + "\n"


def _short_names(paths: list[str]) -> dict[str, str]:
    """Base names when they are unique (bot.log.1, bot.log), full paths otherwise."""
    base = [os.path.basename(p) for p in paths]
    unique = len(set(base)) == len(base)
    return {p: (b if unique else p) for p, b in zip(paths, base)}
