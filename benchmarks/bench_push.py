"""Push and pull of a 500 MB, 5-layer image: bakery vs crane, side by side, in one run.

    .venv/bin/python benchmarks/bench_push.py [--rounds 3]

Writes benchmarks/results-push.md (with every round's figures). The image (5 gzip layers of
100 MiB of random bytes each, stored blocks) is made once in a tmp layout. Each round starts a
fresh CNCF distribution registry (`docker-registry serve`, storage in a tmp dir) per tool, so
no blob is there before the first push; the order of the tools alternates between rounds.
For each tool and round:

- push:     `bakery push` (the CLI, and the library call `push()` in this process) vs
            `crane push LAYOUT_DIR REF`
- re-push:  the same push again, every blob present (target ≤ 0.5 s)
- pull:     `bakery pull REF` into a fresh store vs `crane pull --format=oci REF DIR`; bakery
            fsyncs each blob before keeping it (the store's crash safety) and crane does not, so
            crane is also timed with a `sync` of the blobs it wrote

Dirty pages are flushed (`sync`) before each timed operation, so no tool pays for the writes
of the one before it.

With ``--oras-python PY`` (a Python that has oras-py, e.g. a venv made with ``pip install
oras``: it is not a project dependency) oras-py is timed as a third column, blobs one by one
through its ``upload_blob`` / ``download_blob`` and the manifest through ``upload_manifest``.

Medians over the rounds; ratio = bakery / crane (targets ≤ 1.1). The load average is recorded
before and after: other work on the 2 cores skews every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bakery.distribute.client import RegistryClient  # noqa: E402
from bakery.distribute.reference import Reference  # noqa: E402
from bakery.distribute.transfer import pull, push  # noqa: E402
from bakery.oci.layout import OCILayout  # noqa: E402
from tests.integration.registry_fixtures import free_port, make_image  # noqa: E402

BAKERY = [sys.executable, "-m", "bakery"]
LAYER = 100 << 20
TAG = "bench/app:1"


def installed_env(cache: Path) -> dict[str, str]:
    """The environment for timing the CLI as installed: a pip install compiles the bytecode,
    while this checkout is an editable install, and a PYTHONDONTWRITEBYTECODE=1 (as in some
    sandboxes) would make every run recompile bakery's modules. The cache is warmed here."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "bakery")], env=env, check=True
    )
    return env


def run(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command, fail loudly, return its wall time (dirty pages flushed first)."""
    os.sync()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {argv}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def timed(fn: Callable[[], object]) -> float:
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Registry:
    """A fresh docker-registry on 127.0.0.1 with its storage in ``root``."""

    def __init__(self, root: Path) -> None:
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        (root / "storage").mkdir(parents=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(root / "storage")}},
            "http": {"addr": self.host},
        }
        (root / "registry.yml").write_text(json.dumps(config))
        self.log = (root / "registry.log").open("wb")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(root / "registry.yml")],
            stdout=self.log,
            stderr=self.log,
        )
        with RegistryClient(self.host) as client:
            for _ in range(200):
                try:
                    client.ping()
                    return
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.05)
        raise SystemExit("docker-registry did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        self.log.close()


def bakery_round(
    work: Path, store: Path, layout: OCILayout, env: dict[str, str]
) -> dict[str, float]:
    registry = Registry(work / "registry")
    ref = f"{registry.host}/bench/app:1"
    try:
        times = {"push_cli": run([*BAKERY, "push", TAG, ref, "--store", str(store)], env)}
        times["repush_cli"] = run([*BAKERY, "push", TAG, ref, "--store", str(store)], env)
        with RegistryClient(registry.host) as client:
            times["repush_library"] = timed(lambda: push(layout, TAG, Reference.parse(ref), client))
            other = f"{registry.host}/bench/lib:1"
            times["push_library"] = timed(lambda: push(layout, TAG, Reference.parse(other), client))
            pulled = OCILayout.open(work / "pulled-lib" / "oci")
            times["pull_library"] = timed(lambda: pull(Reference.parse(ref), pulled, client))
        times["pull_cli"] = run([*BAKERY, "pull", ref, "--store", str(work / "pulled")], env)
    finally:
        registry.stop()
    return times


def crane_round(work: Path, layout_dir: Path) -> dict[str, float]:
    registry = Registry(work / "registry")
    ref = f"{registry.host}/bench/app:1"
    try:
        times = {"push": run(["crane", "push", str(layout_dir), ref])}
        times["repush"] = run(["crane", "push", str(layout_dir), ref])
        times["pull"] = run(["crane", "pull", "--format=oci", ref, str(work / "pulled")])
        # like for like: bakery fsyncs every blob it keeps; crane leaves them to the page cache
        times["pull_durable"] = run(
            [
                "sh",
                "-c",
                f"crane pull --format=oci {ref} {work / 'pulled-sync'} && "
                f"sync {work / 'pulled-sync'}/blobs/sha256/*",
            ]
        )
    finally:
        registry.stop()
    return times


ORAS_SCRIPT = """
import json, sys, time
from pathlib import Path
import oras.container, oras.provider
mode, host, layout_dir, target = sys.argv[1:5]
registry = oras.provider.Registry(hostname=host, insecure=True)
container = oras.container.Container(f"{host}/bench/app:1")
index = json.loads((Path(layout_dir) / "index.json").read_text())
top = index["manifests"][0]["digest"]
blobs = Path(layout_dir) / "blobs" / "sha256"
manifest = json.loads((blobs / top.split(":")[1]).read_text())
start = time.perf_counter()
for layer in [manifest["config"], *manifest["layers"]]:
    if mode == "push":
        registry.upload_blob(str(blobs / layer["digest"].split(":")[1]), container, layer)
    else:
        registry.download_blob(container, layer["digest"], f"{target}/{layer['digest'][7:]}")
if mode == "push":
    registry.upload_manifest(manifest, container).raise_for_status()
print(time.perf_counter() - start)
"""


def oras_round(work: Path, layout_dir: Path, python: str) -> dict[str, float]:
    registry = Registry(work / "registry")
    try:
        script = [python, "-c", ORAS_SCRIPT]
        times = {"push": run([*script, "push", registry.host, str(layout_dir), "-"])}
        times["repush"] = run([*script, "push", registry.host, str(layout_dir), "-"])
        (work / "pulled").mkdir()
        times["pull"] = run([*script, "pull", registry.host, str(layout_dir), str(work / "pulled")])
    finally:
        registry.stop()
    return times


def median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--oras-python", help="a Python with oras-py, for a third column")
    args = parser.parse_args()
    for tool in ("crane", "docker-registry"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: run `make setup`")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        base = Path(tmp)
        store = base / "store"
        layout = OCILayout.open(store / "oci")
        image = make_image(layout, TAG, [LAYER] * 5)
        env = installed_env(base / "pycache")
        size = sum(d.size for d in layout.walk_referenced(image))
        bakery_runs: list[dict[str, float]] = []
        crane_runs: list[dict[str, float]] = []
        oras_runs: list[dict[str, float]] = []
        tools = ["bakery", "crane", *(["oras-py"] if args.oras_python else [])]
        for n in range(args.rounds):
            for tool in tools[n % len(tools) :] + tools[: n % len(tools)]:
                work = base / f"{tool}-{n}"
                if tool == "bakery":
                    bakery_runs.append(bakery_round(work, store, layout, env))
                elif tool == "crane":
                    crane_runs.append(crane_round(work, store / "oci"))
                else:
                    oras_runs.append(oras_round(work, store / "oci", args.oras_python))
                shutil.rmtree(work)
            print(f"round {n + 1}: bakery {bakery_runs[-1]}, crane {crane_runs[-1]}", flush=True)
    load_after = os.getloadavg()
    report(size, bakery_runs, crane_runs, oras_runs, load_before, load_after)


def report(
    size: int,
    bakery_runs: list[dict[str, float]],
    crane_runs: list[dict[str, float]],
    oras_runs: list[dict[str, float]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    b = {k: median(bakery_runs, k) for k in bakery_runs[0]}
    c = {k: median(crane_runs, k) for k in crane_runs[0]}
    o = {k: median(oras_runs, k) for k in oras_runs[0]} if oras_runs else {}
    results: dict[str, Any] = {
        "meta": {
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "image_bytes": size,
            "rounds": len(bakery_runs),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "bakery_median_s": b,
        "crane_median_s": c,
        "oras_py_median_s": o,
        "ratios": {
            "push_cli": round(b["push_cli"] / c["push"], 3),
            "push_library": round(b["push_library"] / c["push"], 3),
            "pull_cli": round(b["pull_cli"] / c["pull"], 3),
            "pull_library": round(b["pull_library"] / c["pull"], 3),
            "pull_cli_vs_durable": round(b["pull_cli"] / c["pull_durable"], 3),
            "pull_library_vs_durable": round(b["pull_library"] / c["pull_durable"], 3),
        },
        "runs": {"bakery": bakery_runs, "crane": crane_runs, "oras-py": oras_runs},
    }
    out = REPO / "benchmarks"
    r = results["ratios"]
    lines = [
        "# Push / pull benchmark: bakery vs crane",
        "",
        f"Measured {results['meta']['when']} on {results['meta']['machine']} by "
        "`benchmarks/bench_push.py`: a 5-layer image of "
        f"{size / 1e6:.0f} MB, a fresh `docker-registry` (distribution 2.8) on 127.0.0.1 per "
        f"tool and round, {len(bakery_runs)} rounds, medians. Load average (1/5/15 min) "
        f"before {results['meta']['load_average_before']}, after "
        f"{results['meta']['load_average_after']}.",
        "",
        "| operation | bakery | crane | oras-py | bakery / crane | target |",
        "|---|---|---|---|---|---|",
        f"| push (CLI, incl. Python start-up) | {b['push_cli']} s | {c['push']} s | "
        f"{o.get('push', 'n/a')} | {r['push_cli']} | ≤ 1.1 |",
        f"| push (library call) | {b['push_library']} s | {c['push']} s | | "
        f"{r['push_library']} | ≤ 1.1 |",
        f"| re-push, all blobs present (CLI) | {b['repush_cli']} s | {c['repush']} s | "
        f"{o.get('repush', 'n/a')} | | ≤ 0.5 s |",
        f"| re-push, all blobs present (library call) | {b['repush_library']} s | "
        f"{c['repush']} s | | | ≤ 0.5 s |",
        f"| pull into the store (CLI) | {b['pull_cli']} s | {c['pull']} s | "
        f"{o.get('pull', 'n/a')} | {r['pull_cli']} | ≤ 1.1 |",
        f"| pull into the store (library call) | {b['pull_library']} s | {c['pull']} s | | "
        f"{r['pull_library']} | ≤ 1.1 |",
        f"| pull, vs crane + `sync` of its blobs (CLI) | {b['pull_cli']} s | "
        f"{c['pull_durable']} s | | {r['pull_cli_vs_durable']} | |",
        f"| pull, vs crane + `sync` of its blobs (library call) | {b['pull_library']} s | "
        f"{c['pull_durable']} s | | {r['pull_library_vs_durable']} | |",
        "",
        "Commands: `bakery push bench/app:1 REG/bench/app:1 --store STORE` vs "
        "`crane push STORE/oci REG/bench/app:1`; `bakery pull REG/bench/app:1 --store NEW` vs "
        "`crane pull --format=oci REG/bench/app:1 DIR`. The library rows time "
        "`bakery.distribute.transfer.push()` / `pull()` in the benchmark's process. The CLI "
        "runs as installed, its bytecode compiled (not recompiled on every run); about 0.3 s "
        "of each CLI figure is Python start-up and imports (httpx, pydantic, click, rich).",
        "",
        "Per-round seconds:",
        "",
        "```",
        json.dumps(results["runs"], indent=1),
        "```",
        "",
    ]
    (out / "results-push.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
