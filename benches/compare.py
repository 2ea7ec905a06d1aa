#!/usr/bin/env python3
"""Runs mp's criterion benches and their CPython twins, and prints the ratios.

    python3 benches/compare.py                 # every bench that has a python twin
    python3 benches/compare.py process_spawn   # only these

For each `benches/benches/<name>.rs` with a `benches/python/<name>.py`: runs
`cargo bench -p mp-benches --bench <name>`, reads criterion's median estimate of each
benchmark id (`target/criterion/<group>/<name>/new/estimates.json`, nanoseconds per op), runs
the Python script (lines `BENCH <group>/<name> <seconds per op>`), and prints one row per id:
mp, CPython, and how many times faster mp is.
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def criterion_median(group, name):
    est = ROOT / "target" / "criterion" / group / name / "new" / "estimates.json"
    if not est.exists():
        return None
    data = json.loads(est.read_text())
    return data["median"]["point_estimate"] * 1e-9


def fmt(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def main():
    names = sys.argv[1:] or sorted(
        p.stem for p in (ROOT / "benches" / "python").glob("*.py")
        if (ROOT / "benches" / "benches" / f"{p.stem}.rs").exists()
    )
    rows = []
    for name in names:
        subprocess.run(
            ["cargo", "bench", "-p", "mp-benches", "--bench", name],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )
        out = subprocess.run(
            [sys.executable, str(ROOT / "benches" / "python" / f"{name}.py")],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[0] != "BENCH":
                continue
            bench_id, py = parts[1], float(parts[2])
            group, _, bname = bench_id.partition("/")
            rs = criterion_median(group, bname)
            ratio = f"{py / rs:.1f}x" if rs else "-"
            rows.append((bench_id, fmt(rs), fmt(py), ratio))
    width = max([len(r[0]) for r in rows] + [9])
    print(f"{'benchmark':<{width}}  {'mp':>10}  {'CPython':>10}  {'mp faster':>9}")
    for bench_id, rs, py, ratio in rows:
        print(f"{bench_id:<{width}}  {rs:>10}  {py:>10}  {ratio:>9}")


if __name__ == "__main__":
    main()
