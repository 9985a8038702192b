"""`bakery plan --json` over a tree of 200 recipes: how long the CLI takes to find, load and
graph every recipe and decide what is stale (target: ≤ 1 s).

    .venv/bin/python benchmarks/bench_plan.py [--recipes 200] [--runs 7] [--no-bake]

Generates ``--recipes`` small scratch recipes in a temp dir, in three generations (a tenth
roots, three tenths built on them, the rest leaves; half the edges ``base: {recipe: …}``,
half ``base: {image: NAME:TAG}``, in 10 directories), each copying a small file of its own,
and times ``bakery plan DIR --json`` as a subprocess (the median of ``--runs``, a new Python
each time, as CI would run it) against:

1. an empty store: every recipe "never baked";
2. the same tree after ``bakery bake DIR --jobs 2 --no-sign --no-record --no-scan``: every
   record read and compared, every copied file hashed, every base resolved (skip with
   ``--no-bake``);
3. that store after one root's copied file changed: its branch stale.

Writes benchmarks/results-plan.md. There is no peer tool for this (no other image builder
plans a tree of recipes): the figures are absolute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BAKERY = [sys.executable, "-m", "bakery"]
SDE = {"SOURCE_DATE_EPOCH": "1700000000"}
DIRECTORIES = 10
TARGET_S = 1.0


def generate(root: Path, count: int) -> list[Path]:
    """``count`` recipes in three generations under ``root``; returns the roots' files."""
    roots = max(1, count // 10)
    mids = max(1, count * 3 // 10)
    roots_files = []
    for i in range(count):
        directory = root / f"team-{i % DIRECTORIES}"
        directory.mkdir(parents=True, exist_ok=True)
        if i < roots:
            base = "scratch"
        else:
            parent = i % roots if i < roots + mids else roots + i % mids
            same_dir = parent % DIRECTORIES == i % DIRECTORIES
            base = f"{{recipe: bench/r{parent}}}" if same_dir else f"{{image: 'bench/r{parent}:1'}}"
        (directory / f"r{i}.txt").write_text(f"recipe {i}\n")
        (directory / f"r{i}.yaml").write_text(
            "apiVersion: bakery.dev/v1\n"
            f"name: bench/r{i}\n"
            'version: "1"\n'
            f"description: benchmark recipe {i}\n"
            f"base: {base}\n"
            "steps:\n"
            f"  - copy: {{src: r{i}.txt, dest: /srv/r{i}.txt, mode: '0644'}}\n"
            f"  - labels: {{bench.index: '{i}'}}\n"
            '  - user: "65534:65534"\n'
            "outputs:\n"
            '  - oci: {tags: ["1"], compression: zstd}\n'
            "tests:\n"
            f"  - file: {{path: /srv/r{i}.txt, contains: recipe}}\n"
        )
        if i < roots:
            roots_files.append(directory / f"r{i}.txt")
    return roots_files


def run(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        argv, env={**os.environ, **SDE}, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def time_plan(tree: Path, store: Path, runs: int) -> tuple[float, list[float], int]:
    """Median wall time of ``bakery plan --json``, the runs, and how many recipes are stale."""
    times, stale = [], 0
    for _ in range(runs):
        seconds, stdout = run([*BAKERY, "plan", str(tree), "--store", str(store), "--json"])
        times.append(seconds)
        stale = sum(1 for entry in json.loads(stdout) if entry["stale"])
    return statistics.median(times), times, stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-bake", action="store_true", help="only the empty-store case")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        tree, store = Path(tmp) / "recipes", Path(tmp) / "store"
        roots = generate(tree, args.recipes)
        cases = [("empty store: every recipe never baked", None)]
        if not args.no_bake:
            cases += [("after `bakery bake DIR`: every record compared", "bake")]
            cases += [("one root's copied file changed", "change")]
        for label, action in cases:
            if action == "bake":
                bake_argv = [*BAKERY, "bake", str(tree), "--store", str(store)]
                baked, _ = run([*bake_argv, "--jobs", "2", "--no-sign", "--no-record", "--no-scan"])
                label += f" (the bake took {baked:.0f} s)"
            elif action == "change":
                roots[0].write_text("changed\n")
            median, times, stale = time_plan(tree, store, args.runs)
            shown = ", ".join(f"{t:.2f}" for t in times)
            verdict = "yes" if median <= TARGET_S else "**no**"
            rows.append(f"| {label} | {stale} | **{median:.2f} s** ({shown}) | {verdict} |")
            print(rows[-1], flush=True)
    lines = [
        "# `bakery plan` over a tree of recipes",
        "",
        f"`.venv/bin/python benchmarks/bench_plan.py --recipes {args.recipes} --runs {args.runs}`"
        f", {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, 2 cores shared with other work (load "
        f"{load:.2f} before): {args.recipes} scratch recipes in three generations in "
        f"{DIRECTORIES} directories, each copying a file; `bakery plan DIR --json` run as a "
        "subprocess (a new Python each time, imports included), median of the runs.",
        "",
        f"| store | stale | median (runs) | ≤ {TARGET_S:.0f} s |",
        "|---|---|---|---|",
        *rows,
        "",
        "There is no peer tool for this: no other image builder plans a tree of recipes, so the "
        "figures are absolute, against the target of 1 s.",
        "",
    ]
    out = REPO / "benchmarks" / "results-plan.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
