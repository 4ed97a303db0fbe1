"""Benchmark ``botmon logs`` on a big log: wall time and peak memory, next to ``grep -c``.

    python bench/log_analysis.py --mix production     # 8M real-shaped lines (bench/make_real_log.py)
    python bench/log_analysis.py --mix storm          # 8M lines of the real error storm (~20 % ERROR)
    python bench/log_analysis.py --mix generator      # 8M lines of bench/make_log.py
    python bench/log_analysis.py --log FILE --jobs 2  # an existing log

Missing logs are generated once under /tmp/botmon-bench/ (a few minutes each).

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


MIXES = ("generator", "production", "storm")


def ensure_log(path: Path, lines: int, mix: str = "generator") -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    script = "make_log.py" if mix == "generator" else "make_real_log.py"
    spec = importlib.util.spec_from_file_location(script[:-3], ROOT / "bench" / script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"generating {lines:,} lines ({mix}) into {path} (once) ...", file=sys.stderr)
    if mix == "generator":
        module.generate(str(path), lines)
    else:
        module.generate(str(path), lines, mix)


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
    ap.add_argument("--mix", choices=MIXES, default="generator",
                    help="which log to generate when --log is not given")
    ap.add_argument("--log", type=Path, default=None)
    ap.add_argument(
        "--lines", type=int, default=8_000_000, help="lines to generate if --log is missing"
    )
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--no-grep", action="store_true", help="skip timing `grep -c ERROR`")
    args = ap.parse_args(argv)
    if args.log is None:
        name = "bot_8m.log" if args.mix == "generator" else f"{args.mix}_8m.log"
        args.log = Path("/tmp/botmon-bench") / name
        ensure_log(args.log, args.lines, args.mix)
    elif not args.log.exists():
        ensure_log(args.log, args.lines, args.mix)
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
    grep_s = None
    if not args.no_grep:
        t0 = time.perf_counter()
        # Piped, not /dev/null: GNU grep stops at the first match when its output is /dev/null.
        subprocess.run(["grep", "-c", "ERROR", str(args.log)], check=False, capture_output=True)
        grep_s = time.perf_counter() - t0

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
    load_after = os.getloadavg()
    print(
        f"file           {args.log}  {size / 1e6:,.0f} MB, {lines:,} lines, {report['records']:,} "
        "records"
    )
    print(
        f"load average   {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before, {load_after[0]:.2f} "
        f"after, on {os.cpu_count()} CPUs (uptime)"
    )
    print(
        f"processes      {report['analysis']['jobs']} ({report['analysis']['units']} byte ranges)"
    )
    if grep_s is not None:
        print(f"grep -c ERROR  {grep_s:.2f} s  (same file, same run)")
    print(
        f"wall           {wall:.2f} s   ({lines / wall / 1e6:.2f} M lines/s, "
        f"{size / wall / 1e6:.0f} MB/s)"
    )
    print(f"cpu            {cpu:.2f} s (user + sys, all processes)")
    print(
        f"peak RSS       {self_rss + child_rss:.0f} MB  (getrusage self {self_rss:.0f} + largest "
        f"child {child_rss:.0f})"
    )
    tree_mb = sampler.peak / 2**20 if sampler else None
    if tree_mb is not None:
        print(f"tree RSS peak  {tree_mb:.0f} MB  (sum over the whole process tree, sampled 20 ms)")
    errors = report["errors"]
    cov = report["coverage"]
    print(
        f"counts         levels {report['levels']}; error incidents {errors['total']:,} in "
        f"{errors['records']:,} records; stop-loss failures "
        f"{report['stop_loss']['counts']['failed']:,}; folded {cov['folded']:,}; categorised "
        f"{cov['share']:.2%}"
    )
    memory = tree_mb if tree_mb is not None else self_rss + child_rss
    ok = wall <= TARGET_SECONDS and memory <= TARGET_MB
    print(
        f"target         <= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:.0f} MB (process tree): "
        f"{'met' if ok else 'NOT met'}"
    )
    out.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
