"""Benchmark ``botmon logs`` on a big generated log: wall time and peak memory.

    python bench/log_analysis.py                      # 8M lines under /tmp/botmon-bench/
    python bench/log_analysis.py --log FILE --jobs 2  # an existing log

Runs the real command (``python -m tui.analysis.logs_cli FILE --json -o ...``) in a child process
and prints wall time, CPU time, peak RSS as ``resource.getrusage`` of self + children (for
children Linux reports the largest single descendant), and - when psutil is available - the
peak of the whole process tree's summed RSS, sampled every 20 ms, which is the honest figure for
"how much memory did the analysis need". The target is 15 s and 150 MB on a 2-core machine; the
load average is printed too, because a busy shared machine stretches wall time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 15.0
TARGET_MB = 150.0


def ensure_log(path: Path, lines: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.spec_from_file_location("make_log", ROOT / "bench" / "make_log.py")
    assert spec and spec.loader
    make_log = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_log)
    print(f"generating {lines:,} lines into {path} (once) ...", file=sys.stderr)
    make_log.generate(str(path), lines)


class TreeSampler(threading.Thread):
    """Peak of the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self.stop.wait(0.02)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", type=Path, default=Path("/tmp/botmon-bench/bot_8m.log"))
    ap.add_argument(
        "--lines", type=int, default=8_000_000, help="lines to generate if --log is missing"
    )
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument(
        "--baseline", action="store_true", help="also time `grep -c ERROR` on the same file"
    )
    args = ap.parse_args(argv)

    ensure_log(args.log, args.lines)
    size = args.log.stat().st_size
    out = args.log.with_suffix(".report.json")
    cmd = [
        sys.executable,
        "-m",
        "tui.analysis.logs_cli",
        str(args.log),
        "--json",
        "-o",
        str(out),
        "--no-progress",
    ]
    if args.jobs:
        cmd += ["--jobs", str(args.jobs)]

    load = os.getloadavg()
    if args.baseline:
        t0 = time.perf_counter()
        # Piped, not /dev/null: GNU grep stops at the first match when its output is /dev/null.
        subprocess.run(["grep", "-c", "ERROR", str(args.log)], check=False, capture_output=True)
        print(f"grep -c ERROR: {time.perf_counter() - t0:.2f} s")

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    sampler = None
    try:
        import psutil  # noqa: F401

        sampler = TreeSampler(proc.pid)
        sampler.start()
    except ImportError:
        pass
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if sampler:
        sampler.stop.set()
        sampler.join()
    if proc.returncode != 0:
        print(err, file=sys.stderr)
        return proc.returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = after.ru_maxrss / 1024
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    report = json.loads(out.read_text(encoding="utf-8"))
    lines = report["lines"]
    print(
        f"file           {args.log}  {size / 1e6:,.0f} MB, {lines:,} lines, {report['records']:,} "
        "records"
    )
    print(f"load average   {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"processes      {report['analysis']['jobs']} ({report['analysis']['units']} byte ranges)"
    )
    print(
        f"wall           {wall:.2f} s   ({lines / wall / 1e6:.2f} M lines/s, "
        f"{size / wall / 1e6:.0f} MB/s)"
    )
    print(f"cpu            {cpu:.2f} s (user + sys, all processes)")
    print(
        f"peak RSS       {self_rss + child_rss:.0f} MB  (getrusage self {self_rss:.0f} + children "
        f"{child_rss:.0f})"
    )
    if sampler:
        print(f"tree RSS peak  {sampler.peak / 2**20:.0f} MB  (sum over the process tree, sampled)")
    ok = wall <= TARGET_SECONDS and self_rss + child_rss <= TARGET_MB
    print(
        f"target         <= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:.0f} MB: "
        f"{'met' if ok else 'NOT met'}"
    )
    out.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
