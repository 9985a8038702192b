"""`bakery audit verify` on a large log: a first run (every checkpoint checked) and a run after
its trust anchor (only the checkpoints since it).

    .venv/bin/python benchmarks/bench_audit_verify.py [--entries 100000] [--per-write 10]

Builds a SQLite registry in a tmp dir with ``--entries`` audit entries appended through
``Registry.write`` (``--per-write`` entries and one signed checkpoint per transaction), then
times ``verify_log`` twice with the same trust-anchor file. Writes
benchmarks/results-audit-verify.md. There is no peer tool for this: the figures are absolute.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bakery.registry.audit.log import append  # noqa: E402
from bakery.registry.audit.verify import verify_log  # noqa: E402
from bakery.registry.db import open_registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--per-write", type=int, default=10)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-audit-verify-") as tmp:
        store = Path(tmp) / ".bakery"
        registry = open_registry(store)
        start = time.perf_counter()
        for write in range(args.entries // args.per_write):
            with registry.write() as session:
                for k in range(args.per_write):
                    subject = {"write": write, "k": k}
                    append(
                        session, kind="bench", actor="bench", at=datetime.now(UTC), subject=subject
                    )
        appended = time.perf_counter() - start
        rows = []
        for label in ("first run (no trust anchor: every checkpoint)", "next run (anchored)"):
            with registry.read() as session:
                start = time.perf_counter()
                report = verify_log(session, registry.signer.verifier, trusted=store / "anchor")
                seconds = time.perf_counter() - start
            assert report.ok, report.problems
            rows.append(f"| {label} | {seconds:.2f} s | {report.checkpoints:,} |")
        registry.dispose()
    lines = [
        "# `audit verify` on a large log",
        "",
        f"`.venv/bin/python benchmarks/bench_audit_verify.py --entries {args.entries} "
        f"--per-write {args.per_write}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load:.2f}: "
        f"{args.entries:,} entries in {args.entries // args.per_write:,} write transactions "
        f"(appended in {appended:.1f} s), SQLite.",
        "",
        "| run | time | checkpoints checked |",
        "|---|---|---|",
        *rows,
        "",
    ]
    out = REPO / "benchmarks" / "results-audit-verify.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
