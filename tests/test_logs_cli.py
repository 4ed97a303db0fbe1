"""``botmon logs``: text and JSON on a fixture with known counts, rotated sets, .gz, errors."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from tui.analysis import logs
from tui.analysis.logs import LogAnalysis, analyse_files, analyse_records, inspect_files
from tui.analysis.logs_cli import main
from tui.analysis.logs_report import build_report
from tui.sources.logparse import Categoriser, parse_lines

FIXTURE = Path(__file__).parent / "fixtures" / "logs" / "bot.log"
BENCH = Path(__file__).parent.parent / "bench" / "make_log.py"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--no-progress", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, FIXTURE)
    assert code == 0 and err == ""
    assert "1 file(s), 42 lines, 37 records, 2 unparsed" in out
    assert "Levels: INFO 24, WARNING 2, ERROR 8, CRITICAL 1" in out
    for title in (
        "Position lifecycle",
        "Stop-loss",
        "Trailing stop",
        "WebSocket health",
        "Waves and signals",
        "Timing issues",
        "Errors: 8 incidents in 9 ERROR/CRITICAL records (1 repeats folded",
        "Per exchange",
        "Most repeated messages",
    ):
        assert f"== {title}" in out, title
    assert "first at bot.log:7" in out  # the first position opened
    assert "TypeError" in out and "Error fetching signals" in out


def test_json_report_has_the_known_counts(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_json(capsys, FIXTURE)
    assert (r["lines"], r["records"], r["unparsed"], r["continuation_lines"]) == (42, 37, 2, 5)
    assert r["levels"] == {"INFO": 24, "WARNING": 2, "ERROR": 8, "CRITICAL": 1}
    assert (r["first_time"], r["last_time"]) == (
        "2025-10-15 13:00:00.001",
        "2025-10-15 14:06:00.000",
    )

    pos = r["position"]
    # "Error opening position for AVLUSDT" and "Atomic operation failed: pos_AVLUSDT_..." 1 ms
    # apart are one failed open
    assert {k: pos["counts"][k] for k in ("opened", "closed", "open_failed")} == {
        "opened": 2,
        "closed": 1,
        "open_failed": 1,
    }
    assert dict(pos["symbols"]["opened"]) == {"PUNDIXUSDT": 1, "1000PEPEUSDT": 1}
    assert pos["first"]["opened"] == {"file": str(FIXTURE), "line": 7}
    sl = r["stop_loss"]["counts"]
    assert (sl["set"], sl["verified"], sl["updated"], sl["missing"], sl["failed"]) == (2, 3, 2, 0, 0)
    assert (
        r["trailing_stop"]["counts"]["activated"] == 1
        and r["trailing_stop"]["counts"]["updated"] == 1
    )
    ws = r["websocket"]["counts"]
    assert (ws["connecting"], ws["connected"], ws["reconnect"], ws["stale"]) == (1, 1, 2, 0)
    assert r["wave"]["counts"] == {"detected": 1, "completed": 1, "processed": 1, "waiting": 0}
    assert r["wave"]["sums"]["detected.signals"] == 39
    assert (r["wave"]["sums"]["completed.opened"], r["wave"]["sums"]["completed.failed"]) == (2, 1)

    timing = r["timing"]
    assert timing["counts"] == {
        "timeout": 0,  # "Request timeout for ..." is not the bot's wording (see log_patterns.toml)
        "rate_limit": 1,
        "slow": 2,
    }  # "Order 42913 ... 0.0429" is not one
    assert [(s["ms"], s["line"]) for s in timing["slowest"]] == [(4090.0, 14), (1520.25, 25)]
    assert timing["slow_threshold_ms"] == 1000.0

    errors = r["errors"]
    assert (errors["total"], errors["records"], errors["folded"]) == (8, 9, 1)
    by_type = {g["type"]: g for g in errors["by_type"]}
    fetch = by_type["Error fetching signals"]
    assert fetch["count"] == 2
    assert (fetch["first_seen"], fetch["last_seen"]) == (
        "2025-10-15 14:01:00.000",
        "2025-10-15 14:06:00.000",
    )
    assert fetch["first"]["line"] == 36
    assert by_type["TypeError"]["samples"][0]["line"] == 28
    assert "Decimal is not JSON serializable" in by_type["TypeError"]["samples"][0]["text"]
    assert {"ExchangeError", "bybit 110043", "Unclosed client session"} <= set(by_type)
    assert errors["by_module"]["core.signal_processor_websocket"] == 2
    assert errors["per_hour"] == {"2025-10-15 13:00": 3, "2025-10-15 14:00": 5}
    assert r["coverage"]["folded"] == 1 and 0 < r["coverage"]["share"] < 1

    assert r["exchanges"]["bybit"]["records"] == 5 and r["exchanges"]["binance"]["records"] == 3
    assert r["exchanges"]["bybit"]["timing.rate_limit"] == 1

    top = r["top_messages"]
    update = next(
        m
        for m in top
        if m["message"].startswith("core.position_manager - INFO - Position update: PUNDIXUSDT")
    )
    assert (update["count"], update["line"]) == (2, 15)
    assert update["message"].endswith("mark_price=N.N")
    assert sum(1 for m in top if "Позиция" in m["message"] and "\ufffd" in m["message"]) == 1


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.json"
    code, out, err = run(capsys, "--json", "-o", target, FIXTURE)
    assert code == 0 and out == "" and str(target) in err
    assert json.loads(target.read_text(encoding="utf-8"))["records"] == 37


def split_fixture(tmp_path: Path) -> list[Path]:
    """The fixture as a rotated set cut at record boundaries: bot.log.2 (oldest) .. bot.log."""
    lines = FIXTURE.read_bytes().splitlines(keepends=True)
    parts = {"bot.log.2": lines[:14], "bot.log.1": lines[14:32], "bot.log": lines[32:]}
    for name, chunk in parts.items():
        (tmp_path / name).write_bytes(b"".join(chunk))
    return [tmp_path / n for n in parts]


def test_rotated_set_is_read_in_time_order_whatever_the_order_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oldest, middle, newest = split_fixture(tmp_path)
    r = run_json(capsys, newest, oldest, middle)
    assert [Path(f["path"]).name for f in r["files"]] == ["bot.log.2", "bot.log.1", "bot.log"]
    assert [f["lines"] for f in r["files"]] == [14, 18, 10]
    whole = run_json(capsys, FIXTURE)
    assert (r["lines"], r["records"], r["unparsed"], r["levels"]) == (
        whole["lines"],
        whole["records"],
        2,
        whole["levels"],
    )
    assert r["errors"]["per_hour"] == whole["errors"]["per_hour"]
    by_type = {g["type"]: g for g in r["errors"]["by_type"]}
    assert by_type["TypeError"]["first"] == {"file": str(middle), "line": 28 - 14}
    assert by_type["Error fetching signals"]["first"] == {"file": str(newest), "line": 36 - 32}


def test_empty_current_file_goes_last(tmp_path: Path) -> None:
    oldest, middle, newest = split_fixture(tmp_path)
    newest.write_bytes(b"")  # just rotated: no timestamp to order by
    assert [Path(f.path).name for f in inspect_files([newest, middle, oldest])] == [
        "bot.log.2",
        "bot.log.1",
        "bot.log",
    ]


def test_gz_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    oldest, middle, newest = split_fixture(tmp_path)
    for path in (oldest, middle):
        with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()
    r = run_json(capsys, newest, f"{middle}.gz", f"{oldest}.gz")
    assert [Path(f["path"]).name for f in r["files"]] == ["bot.log.2.gz", "bot.log.1.gz", "bot.log"]
    assert [f["compressed"] for f in r["files"]] == [True, True, False]
    whole = run_json(capsys, FIXTURE)
    for key in ("lines", "records", "unparsed", "levels", "errors"):
        assert r[key] == whole[key] if key != "errors" else r[key]["total"] == whole[key]["total"]
    for section in ("position", "stop_loss", "timing", "wave"):
        assert r[section]["counts"] == whole[section]["counts"]


def test_missing_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.log"
    code, out, err = run(capsys, FIXTURE, missing)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"botmon logs: {missing}: no such file (hint: ")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10), "not a valid gzip file"),
        (lambda p: p.write_bytes(gzip.compress(FIXTURE.read_bytes())[:60]), "truncated .gz"),
    ],
)
def test_unreadable_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, problem: str
) -> None:  # noqa: ANN001
    bad = tmp_path / "bot.log.1.gz"
    make(bad)
    code, out, err = run(capsys, bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"botmon logs: {bad}: ") and problem in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file(s): no log lines"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary data"),
        (b"hello\nthis is not the bot's log\n", "no line in the bot's log format"),
    ],
)
def test_empty_binary_or_foreign_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, problem: str
) -> None:
    bad = tmp_path / "bot.log"
    bad.write_bytes(content)
    code, out, err = run(capsys, bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"botmon logs: {bad}: ") and problem in err


def test_patterns_file_overrides_and_reports_bad_regex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "patterns.toml"
    extra.write_text("[funding]\npaid = ['Order \\d+ placed']\n", encoding="utf-8")
    r = run_json(capsys, "--patterns", extra, FIXTURE)
    assert r["funding"]["counts"] == {"paid": 1}
    extra.write_text("[websocket]\nstale = ['(unclosed']\n", encoding="utf-8")
    code, out, err = run(capsys, "--patterns", extra, FIXTURE)
    assert code == 2 and "websocket.stale" in err and err.count("\n") == 1


def _generated_log(tmp_path: Path, lines: int) -> Path:
    spec = importlib.util.spec_from_file_location("make_log", BENCH)
    assert spec and spec.loader
    make_log = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_log)
    out = tmp_path / "gen.log"
    make_log.generate(str(out), lines, seed=3)
    return out


def _comparable(report: dict) -> dict:
    report = dict(report)
    report.pop("analysis")
    report.pop("files")
    return report


@pytest.mark.parametrize("jobs", [1, 2])
def test_fast_scan_agrees_with_the_record_by_record_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """Chunked, shape-counted, parallel scan == one parsed record at a time, field for field."""
    path = _generated_log(tmp_path, 30_000)
    monkeypatch.setattr(logs, "PARALLEL_MIN_BYTES", 0)
    cat = Categoriser.load()
    fast = analyse_files(
        [path], categoriser=cat, jobs=jobs, unit_bytes=700_000, chunk_bytes=200_000
    )
    assert fast.units > 1 and fast.jobs == jobs
    with open(path, "rb") as fh:
        ref_stats = analyse_records(parse_lines(fh), cat)
    ref = LogAnalysis(inspect_files([path]), ref_stats, cat)
    fast_report, ref_report = build_report(fast, top=50), build_report(ref, top=50)
    assert fast_report["lines"] == path.read_bytes().count(b"\n") >= 30_000
    assert fast_report["errors"]["total"] > 0 and fast_report["continuation_lines"] > 0
    assert _comparable(fast_report) == _comparable(ref_report)


def test_config_patterns_apply_as_in_the_live_monitor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`botmon logs --config` reads the log with the live monitor's categories."""
    config = tmp_path / "botmon.toml"
    config.write_text("[logs]\npatterns = { funding = { paid = ['Order \\d+ placed'] } }\n",
                      encoding="utf-8")
    r = run_json(capsys, "--config", config, FIXTURE)
    assert r["funding"]["counts"] == {"paid": 1}
