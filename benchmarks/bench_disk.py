"""Disk images: build time, boot-test time under TCG, peak RSS (issue 6's targets).

    .venv/bin/python benchmarks/bench_disk.py        # root; writes benchmarks/results-disk.md

1. One cold bake (``--no-scan``) of vm-base's rootfs with a 2 GB *raw* disk output and the boot
   test: the stage times say what the disk adds over the rootfs bake (the disk stage builds it,
   the store stage compresses the raw disk into the store) and how long the boot test takes.
   Target: disk ≤ 20 s over the rootfs bake; boot test ≤ 90 s.
2. The disk build alone, in its own process, on the rootfs that bake kept: the raw disk, each
   conversion (qcow2, vmdk, vhdx) and storing the raw disk. ``wait4`` gives the peak RSS of that
   process and every child it ran (mke2fs, debugfs, mkfs.vfat, mtools, grub-mkimage, qemu-img).
   Target: ≤ 300 MB. QEMU's own RSS during the boot test is reported apart: it holds the guest's
   RAM (``-m 1024``), which is not the disk build's memory.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / "work" / "disk"
RESULTS = REPO / "benchmarks" / "results-disk.md"
SDE = {"SOURCE_DATE_EPOCH": "1700000000"}

RECIPE = """\
apiVersion: bakery.dev/v1
name: bench/vm-raw
version: "1"
base:
  debian:
    suite: bookworm
    variant: minbase
    packages: [linux-image-cloud-amd64, systemd-sysv, udev]
steps:
  - run: ": > /etc/machine-id"
  - user: nobody
outputs:
  - disk: {format: raw, size: 2G, boot: uefi, kernel: linux-image-cloud-amd64}
tests:
  - boot: {expect: "login:", timeout: 300}
"""


def measured(argv: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run argv with stdout to a file; wall seconds, peak RSS in MB (wait4), stdout."""
    WORK.mkdir(parents=True, exist_ok=True)
    out_path = WORK / "stdout.txt"
    with out_path.open("wb") as out, (WORK / "stderr.txt").open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        tail = (WORK / "stderr.txt").read_text(errors="replace")[-3000:]
        raise SystemExit(f"failed: {argv}\n{tail}")
    return elapsed, usage.ru_maxrss / 1024, out_path.read_text()


def build_only(rootfs: Path, out: Path) -> None:
    """Child mode: build the disk of ``rootfs`` and every conversion; print timings as JSON."""
    from bakery.disk.artifact import store_disk_file
    from bakery.disk.image import DiskSpec, build_disk, build_raw
    from bakery.oci.layout import OCILayout

    shutil.rmtree(out, ignore_errors=True)
    spec = DiskSpec("bench/vm-raw@1", 2 << 30, "2G", "raw", "uefi", "linux-image-cloud-amd64")
    times: dict[str, float] = {}
    start = time.perf_counter()
    raw = build_raw(rootfs, spec, out / "work", epoch=1700000000)
    times["raw_build_s"] = time.perf_counter() - start
    layout = OCILayout.open(out / "oci", create=True)
    t = time.perf_counter()
    store_disk_file(layout, build_disk(raw, "raw", out / "work"))
    times["raw_store_zstd_s"] = time.perf_counter() - t
    for fmt in ("qcow2", "vmdk", "vhdx"):
        t = time.perf_counter()
        build_disk(raw, fmt, out / "work")
        times[f"convert_{fmt}_s"] = time.perf_counter() - t
    print(json.dumps({"raw_digest": raw.digest, **{k: round(v, 2) for k, v in times.items()}}))


def boot_only(disk: Path, scratch: Path) -> None:
    """Child mode: boot-test a raw disk (the QEMU process is this process's child)."""
    from bakery.checks.boot import boot_test

    outcome = boot_test(disk, "raw", "login:", timeout=300, scratch=scratch)
    print(json.dumps({"passed": outcome.passed, "seconds": outcome.seconds}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--build-only":
        build_only(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--boot-only":
        boot_only(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "recipe").mkdir(parents=True)
    recipe = WORK / "recipe" / "vm-raw.yaml"
    recipe.write_text(RECIPE)
    store = WORK / "store"
    bake = [sys.executable, "-m", "bakery", "bake", str(recipe), "--store", str(store)]
    load_before = os.getloadavg()
    wall, bake_rss, out = measured([*bake, "--json", "--no-scan"], env=SDE)
    result = json.loads(out)
    stages = {s["name"]: s["seconds"] for s in result["stages"]}
    (boot,) = [t for t in result["tests"] if t["name"].startswith("boot")]
    boot_s = float(boot["detail"].rsplit(" after ", 1)[1].split()[0])
    kept = next((store / "rootfs").iterdir())
    _, build_rss, build_out = measured(
        [sys.executable, __file__, "--build-only", str(kept), str(WORK / "build-only")]
    )
    build = json.loads(build_out)
    raw_disk = WORK / "build-only" / "work" / "disk.raw"
    _, boot_rss, boot_out = measured(
        [sys.executable, __file__, "--boot-only", str(raw_disk), str(WORK / "boot-only")]
    )
    boot_alone = json.loads(boot_out)
    rootfs_s = sum(stages[s] for s in ("resolve", "base", "steps", "export"))
    disk_over = stages["disk"] + stages["store"]
    rows = [
        ("rootfs bake (resolve+base+steps+export)", f"{rootfs_s:.1f} s", ""),
        (
            "disk stage + store stage (2 GB raw, zstd into the store)",
            f"{disk_over:.1f} s",
            "≤ 20 s " + ("✓" if disk_over <= 20 else "✗"),
        ),
        (
            "  of which disk stage (partition, ESP+GRUB, mke2fs -d, debugfs, sha256)",
            f"{stages['disk']:.1f} s",
            "",
        ),
        ("  of which store stage", f"{stages['store']:.1f} s", ""),
        (
            "boot test: firmware → 'login:' under TCG",
            f"{boot_s:.1f} s",
            "≤ 90 s " + ("✓" if boot_s <= 90 else "✗"),
        ),
        ("test stage (image tests + boot test)", f"{stages['test']:.1f} s", ""),
        ("whole cold bake (wall)", f"{wall:.1f} s", ""),
        ("disk build alone: raw 2 GB", f"{build['raw_build_s']:.1f} s", ""),
        ("disk build alone: store raw (zstd)", f"{build['raw_store_zstd_s']:.1f} s", ""),
        *[
            (f"disk build alone: convert to {f}", f"{build[f'convert_{f}_s']:.1f} s", "")
            for f in ("qcow2", "vmdk", "vhdx")
        ],
        (
            "peak RSS of the disk build process + children (wait4)",
            f"{build_rss:.0f} MB",
            "≤ 300 MB " + ("✓" if build_rss <= 300 else "✗"),
        ),
        (
            "boot test alone (same disk, its own process): firmware → 'login:'",
            f"{boot_alone['seconds']:.1f} s",
            "≤ 90 s " + ("✓" if boot_alone["passed"] and boot_alone["seconds"] <= 90 else "✗"),
        ),
        (
            "peak RSS of the boot test alone: QEMU with the guest's RAM (-m 1024) (wait4)",
            f"{boot_rss:.0f} MB",
            "guest memory, not the disk build",
        ),
        ("peak RSS of the whole cold bake, every child included (wait4)", f"{bake_rss:.0f} MB", ""),
    ]
    lines = [
        "# Disk image benchmark",
        "",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()},"
        f" {os.cpu_count()} cores, load average before {load_before[0]:.2f}"
        f" (shared machine). Command: `.venv/bin/python benchmarks/bench_disk.py`.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Raw disk digest: `{result['disks'][0]['raw_digest']}` (bake) and"
        f" `{build['raw_digest']}` (disk build alone, same rootfs).",
        "",
        "Notes: what a disk output adds to a bake is its disk stage (GPT by sfdisk, FAT ESP by"
        " mkfs.vfat + mtools with GRUB's EFI image, ext4 by `mke2fs -d` at the partition's offset,"
        " one debugfs pass for first-boot edits and clamped times, sha256 of the raw disk) plus"
        " storing it (a raw disk is zstd-compressed into the store; a qcow2 is copied). The rootfs"
        " bake is the stages before (mmdebstrap of bookworm minbase + linux-image-cloud-amd64,"
        " systemd-sysv, udev). ru_maxrss from wait4 is the largest single process among the"
        " waited process and its children, so the whole-bake figure is the biggest of apt/dpkg,"
        " bakery itself and QEMU; the disk build's own figure comes from a process that only"
        " builds disks. Every figure is one run on a 2-core machine shared with other work.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
