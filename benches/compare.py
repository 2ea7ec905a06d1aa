#!/usr/bin/env python3
"""Runs mp's criterion benches and the CPython baselines doing the same work, in one run on one
machine, and prints (or writes into docs/performance.md) a table: id, CPython, mp, speedup.

Conventions (see benches/README.md):
- each `benches/benches/<file>.rs` has a twin `benches/python/<file>.py`;
- criterion ids are `group/name` and time ONE operation per iteration;
- the Python script prints `BENCH group/name <seconds per op>` lines with the same ids.

Usage: python3 benches/compare.py [--write] [--only FILE ...] [--skip FILE ...]
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches" / "benches"
PYTHON = ROOT / "benches" / "python"
CRITERION = ROOT / "target" / "criterion"
DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- compare.py:begin -->"
END = "<!-- compare.py:end -->"


def run_python(name):
    script = PYTHON / f"{name}.py"
    if not script.exists():
        return {}
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        print(f"python baseline {name} failed:\n{out.stderr}", file=sys.stderr)
    res = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "BENCH":
            res[parts[1]] = float(parts[2])
    return res


def run_criterion(name):
    started = time.time()
    cmd = ["cargo", "bench", "-q", "-p", "mp-benches", "--bench", name, "--", "--noplot"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        print(f"criterion bench {name} failed:\n{out.stderr[-4000:]}", file=sys.stderr)
    res = {}
    for bench in CRITERION.glob("**/new/benchmark.json"):
        if bench.stat().st_mtime < started:
            continue
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        bid = meta.get("full_id") or "/".join(
            x for x in (meta.get("group_id"), meta.get("function_id"), meta.get("value_str")) if x)
        res[bid] = est["median"]["point_estimate"] * 1e-9
    return res


def fmt(sec):
    if sec is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if sec >= scale:
            return f"{sec / scale:.3g} {unit}"
    return f"{sec / 1e-9:.3g} ns"


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"CPython {platform.python_version()}, commit {commit}, {time.strftime('%Y-%m-%d')}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="update docs/performance.md")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--skip", nargs="*", default=[])
    args = ap.parse_args()
    names = sorted(p.stem for p in BENCHES.glob("*.rs"))
    if args.only:
        names = [n for n in names if n in args.only]
    names = [n for n in names if n not in args.skip]
    rows = []
    for name in names:
        print(f"== {name}", file=sys.stderr)
        py = run_python(name)
        rs = run_criterion(name)
        for bid in sorted(set(py) | set(rs)):
            p, r = py.get(bid), rs.get(bid)
            ratio = f"{p / r:.1f}x" if p and r else "-"
            rows.append((name, bid, fmt(p), fmt(r), ratio))
    lines = [f"Measured on {machine()}.", "",
             "| bench file | id | CPython 3.11 | mp | speedup (CPython / mp) |",
             "|---|---|---|---|---|"]
    lines += [f"| {a} | `{b}` | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    table = "\n".join(lines)
    print(table)
    if args.write:
        text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
        if BEGIN not in text:
            text += f"\n{BEGIN}\n{END}\n"
        pre, rest = text.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        DOC.write_text(f"{pre}{BEGIN}\n{table}\n{END}{post}")


if __name__ == "__main__":
    main()
