#!/usr/bin/env python3
"""Runs the criterion benchmarks of benches/hot_paths.rs and compares each
median (thread CPU time per iteration) with bench/baseline.json.

    bench/regress.py                  run, compare, exit 1 on a regression
    bench/regress.py --tolerance 0.4  allow 40 % (default 25 %, or $BENCH_TOLERANCE)
    bench/regress.py --save           record the baseline (middle median of 1 + --confirm runs)
    bench/regress.py --no-run         compare the last run's results only

A bench regresses when its median is more than the tolerance above the
baseline's. The baseline is a typical run: the middle of the medians of
several runs. Load from other processes only ever adds time, so a bench
that looks slower is run again (--confirm times, default 2) and its lowest
median kept: a regression must show in every run. A bench of the baseline
that did not run fails too (rename or removal: record a new baseline with
--save); a new bench is only listed. The baseline belongs to one machine:
record it where the comparison runs, when the machine is otherwise idle.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = "hot_paths"
DEFAULT_TOLERANCE = 0.25


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def run_benches(only: list[str] | None = None) -> float:
    """Runs the benches (or only those named); returns the start time, to
    tell fresh results from old ones."""
    started = time.time()
    command = ["cargo", "bench", "--bench", BENCH]
    if only:
        # criterion takes one filter, a regular expression over the ids.
        command += ["--", "^(" + "|".join(re.escape(name) for name in only) + ")$"]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return started


def read_medians(since: float) -> dict:
    """Median time per bench id, in nanoseconds, from criterion's
    target/criterion/<group>/<bench>/new/{benchmark,estimates}.json."""
    medians = {}
    for estimates in sorted((target_dir() / "criterion").glob("**/new/estimates.json")):
        if estimates.stat().st_mtime < since:
            continue
        benchmark = json.loads((estimates.parent / "benchmark.json").read_text())
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        medians[benchmark["full_id"]] = median
    return medians


def fmt_ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.1f} ns"


def slower(baseline: dict, now: dict, tolerance: float) -> list[str]:
    return [n for n, ns in now.items() if n in baseline and ns > baseline[n] * (1 + tolerance)]


def compare(baseline: dict, now: dict, tolerance: float) -> bool:
    """Prints the table; True when nothing regressed."""
    names = sorted(set(baseline) | set(now))
    width = max(len("bench"), *(len(n) for n in names))
    print(f"\n{'bench':<{width}}  {'baseline':>10}  {'now':>10}  {'ratio':>6}  verdict")
    ok = True
    for name in names:
        base, cur = baseline.get(name), now.get(name)
        if base is None:
            print(f"{name:<{width}}  {'-':>10}  {fmt_ns(cur):>10}  {'-':>6}  new (not in the baseline)")
            continue
        if cur is None:
            print(f"{name:<{width}}  {fmt_ns(base):>10}  {'-':>10}  {'-':>6}  MISSING (did not run)")
            ok = False
            continue
        ratio = cur / base
        verdict = "ok"
        if ratio > 1 + tolerance:
            verdict = "REGRESSION"
            ok = False
        elif ratio < 1 - tolerance:
            verdict = "faster"
        print(f"{name:<{width}}  {fmt_ns(base):>10}  {fmt_ns(cur):>10}  {ratio:>6.2f}  {verdict}")
    load = os.getloadavg()[0]
    print(f"\ntolerance: +{tolerance:.0%} on the median; load average {load:.1f} on {os.cpu_count()} cores")
    print("PASS" if ok else "FAIL: a bench regressed or did not run")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", action="store_true", help="record the baseline: the middle median of 1 + --confirm runs")
    parser.add_argument("--no-run", action="store_true", help="compare the results already in target/criterion")
    parser.add_argument("--baseline", type=Path, default=ROOT / "bench" / "baseline.json")
    parser.add_argument("--confirm", type=int, default=2, help="re-runs of a bench that looks slower")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=float(os.environ.get("BENCH_TOLERANCE", DEFAULT_TOLERANCE)),
        help="allowed slowdown as a fraction (0.25 = 25 %%)",
    )
    args = parser.parse_args()

    load = os.getloadavg()[0]
    if not args.no_run and load > 1.0:
        print(f"note: load average {load:.1f} before the run: other work shares the cores, figures may be inflated")
    since = 0.0 if args.no_run else run_benches()
    now = read_medians(since)
    if not now:
        print(f"no criterion results under {target_dir() / 'criterion'}", file=sys.stderr)
        return 2

    if args.save:
        # A typical run, not a lucky one: the middle of each bench's medians.
        runs = {name: [ns] for name, ns in now.items()}
        for attempt in range(0 if args.no_run else args.confirm):
            print(f"\nbaseline run {attempt + 2}")
            for name, ns in read_medians(run_benches()).items():
                runs.setdefault(name, []).append(ns)
        now = {name: statistics.median(values) for name, values in runs.items()}
        record = {
            "about": "median thread CPU time (ns) per bench of benches/hot_paths.rs; written by bench/regress.py --save",
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()}",
            "recorded": time.strftime("%Y-%m-%d"),
            "median_ns": {name: round(ns, 1) for name, ns in sorted(now.items())},
        }
        args.baseline.write_text(json.dumps(record, indent=2) + "\n")
        print(f"baseline written to {args.baseline}")
        compare(now, now, args.tolerance)
        return 0

    if not args.baseline.exists():
        print(f"no baseline at {args.baseline}: record one with --save", file=sys.stderr)
        return 2
    baseline = json.loads(args.baseline.read_text())["median_ns"]
    for attempt in range(0 if args.no_run else args.confirm):
        suspects = slower(baseline, now, args.tolerance)
        if not suspects:
            break
        print(f"\nconfirming {len(suspects)} slower bench(es), run {attempt + 2}: {', '.join(suspects)}")
        again = read_medians(run_benches(suspects))
        for name in suspects:
            now[name] = min(now[name], again.get(name, now[name]))
    return 0 if compare(baseline, now, args.tolerance) else 1


if __name__ == "__main__":
    sys.exit(main())
