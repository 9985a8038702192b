"""The disk side of a bake: build each ``disk:`` output from the finished rootfs, boot-test it,
and store and tag it with the image.

The engine calls :func:`build_disks` after the image is exported (the rootfs is final),
:func:`boot_tests` in its test stage, :func:`packer_builds` after it (a ``packer`` output boots
the disk with Packer's qemu builder) and :func:`store_disks` in its store stage, so a failure
anywhere before the store stage leaves no disk in the store and no tag. A disk file is cached
by the image config (which names every layer), its definition and the epoch: a warm re-bake
stores nothing new and rebuilds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from bakery.checks.boot import boot_test
from bakery.disk import artifact, packer
from bakery.disk.bootloader import MissingKernel
from bakery.disk.ext4 import DiskTooSmall
from bakery.disk.geometry import parse_size
from bakery.disk.image import BuiltDisk, DiskSpec, RawDisk, build_disk, build_raw
from bakery.errors import ImageTestError, UserError
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.recipe.loader import LoadedRecipe
from bakery.recipe.model import BootTest, DiskOutputItem, PackerOutputItem, step_definition
from bakery.result import (
    DiskResult,
    PackerArtifactResult,
    PackerFileResult,
    PackerResult,
    TestResult,
)
from bakery.rootfs.cache import StepCache, TestRecord, cache_key

#: bump when the disk layout changes, so cached disk files are not reused
DISK_VERSION = 1


@dataclass(frozen=True)
class PendingDisk:
    """A disk output made (or found in the cache) but not stored or tagged yet."""

    index: int
    output: DiskOutputItem
    key: str
    #: the freshly built disk, or None when ``cached`` holds it
    built: BuiltDisk | None
    cached: artifact.DiskRecord | None


@dataclass(frozen=True)
class DiskContext:
    """What the disk stage needs from the bake."""

    loaded: LoadedRecipe
    layout: OCILayout
    cache: StepCache
    cache_dir: Path
    use_cache: bool
    config_digest: str
    epoch: int
    workdir: Path
    rootfs: Callable[[], Path]


def disk_outputs(loaded: LoadedRecipe) -> list[tuple[int, DiskOutputItem]]:
    """The recipe's disk outputs with their index in ``outputs``."""
    return [(i, o) for i, o in enumerate(loaded.recipe.outputs) if isinstance(o, DiskOutputItem)]


def packer_outputs(loaded: LoadedRecipe) -> list[PackerOutputItem]:
    """The recipe's packer outputs."""
    return [o for o in loaded.recipe.outputs if isinstance(o, PackerOutputItem)]


def build_disks(ctx: DiskContext) -> list[PendingDisk]:
    """Build (or take from the cache) every disk output of the recipe."""
    recipe = ctx.loaded.recipe
    identity = f"{recipe.name}@{recipe.version}"
    raws: dict[tuple[str, str | None, str | None], RawDisk] = {}
    pending = []
    for index, output in disk_outputs(ctx.loaded):
        disk = output.disk
        definition = step_definition(output)
        key = cache_key("disk", DISK_VERSION, ctx.config_digest, identity, definition, ctx.epoch)
        record = artifact.read_record(ctx.cache_dir, key, ctx.layout) if ctx.use_cache else None
        if record is not None:
            pending.append(PendingDisk(index, output, key, None, record))
            continue
        spec = DiskSpec(
            identity=identity,
            size=parse_size(disk.size),
            size_text=disk.size,
            format=disk.format,
            boot=disk.boot,
            kernel=disk.kernel,
        )
        where = ctx.workdir / f"disk-{index}"
        shape = (disk.size, disk.boot, disk.kernel)
        if shape not in raws:
            raws[shape] = _build_raw(ctx, index, spec, where)
        built = build_disk(raws[shape], disk.format, where)
        pending.append(PendingDisk(index, output, key, built, None))
    return pending


def _build_raw(ctx: DiskContext, index: int, spec: DiskSpec, where: Path) -> RawDisk:
    """The raw disk; a bad size, kernel or boot is reported at its line in the recipe."""
    try:
        return build_raw(ctx.rootfs(), spec, where, epoch=ctx.epoch)
    except UserError as e:
        field = "boot"
        if isinstance(e, DiskTooSmall):
            field = "size"
        elif isinstance(e, MissingKernel) and spec.kernel is not None:
            field = "kernel"
        raise ctx.loaded.error_at(("outputs", index, "disk", field), e.message, hint=e.hint) from e


def boot_tests(ctx: DiskContext, disks: list[PendingDisk]) -> list[TestResult]:
    """Run the recipe's boot tests on its first bootable disk; ImageTestError if one fails."""
    tests = [t for t in ctx.loaded.recipe.tests if isinstance(t, BootTest)]
    found = _bootable(disks)
    if not tests or found is None:
        return []
    target, file_digest = found
    key = cache_key("boot-tests", file_digest, [step_definition(t) for t in tests])
    if ctx.use_cache and ctx.cache.get_tests(key) is not None:
        return [TestResult(name=t.name, passed=True, cached=True) for t in tests]
    path = _disk_file(ctx, target)
    results = []
    for n, test in enumerate(tests):
        outcome = boot_test(
            path,
            target.output.disk.format,
            test.boot.expect,
            timeout=test.boot.timeout,
            scratch=ctx.workdir / f"boot-{n}",
            firmware=target.output.disk.boot or "uefi",
        )
        if not outcome.passed:
            raise ImageTestError(
                f"boot test '{test.name}' failed for {ctx.loaded.recipe.name}: {outcome.detail};"
                f" nothing was tagged. Last console lines:\n{outcome.console_tail}"
            )
        detail = f"console showed {test.boot.expect!r} after {outcome.seconds:g} s"
        results.append(TestResult(name=test.name, passed=True, cached=False, detail=detail))
    ctx.cache.put_tests(key, TestRecord(passed=tuple(t.name for t in tests)))
    return results


def packer_builds(ctx: DiskContext, disks: list[PendingDisk]) -> list[PackerResult]:
    """Run each ``packer`` output's build on the first bootable disk; record its artifacts."""
    outputs = packer_outputs(ctx.loaded)
    found = _bootable(disks)
    if not outputs or found is None:
        return []
    target, file_digest = found
    results = []
    for n, output in enumerate(outputs):
        spec = output.packer
        key = cache_key("packer", file_digest, step_definition(output))
        cached = _read_packer(ctx.cache_dir, key) if ctx.use_cache else None
        if cached is not None:
            results.append(cached.model_copy(update={"cached": True}))
            continue
        work = ctx.workdir / f"packer-{n}"
        fmt = target.output.disk.format
        template = packer.qemu_template(
            _disk_file(ctx, target),
            fmt,
            name=ctx.loaded.recipe.name,
            workdir=work,
            expect=spec.expect,
            timeout=spec.timeout,
        )
        run = packer.run_packer(template, work, timeout=spec.timeout + 300)
        result = PackerResult(
            builder_type=run.builder_type,
            disk=file_digest,
            artifacts=tuple(
                PackerArtifactResult(build=a.build, builder_id=a.builder_id, id=a.id, files=a.files)
                for a in run.artifacts
            ),
            files=tuple(
                PackerFileResult(path=f.path, digest=f.digest, size=f.size) for f in run.files
            ),
        )
        _write_packer(ctx.cache_dir, key, result)
        results.append(result)
    return results


def _read_packer(cache_dir: Path, key: str) -> PackerResult | None:
    try:
        return PackerResult.model_validate_json((cache_dir / "packer" / f"{key}.json").read_bytes())
    except (OSError, ValidationError):
        return None


def _write_packer(cache_dir: Path, key: str, result: PackerResult) -> None:
    path = cache_dir / "packer" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(result.model_dump_json().encode())
    os.replace(tmp, path)


def _bootable(disks: list[PendingDisk]) -> tuple[PendingDisk, str] | None:
    """The first bootable disk and the digest of its file (what boot tests and Packer use)."""
    for disk in disks:
        if disk.output.disk.boot is None:
            continue
        if disk.built is not None:
            return disk, disk.built.digest
        if disk.cached is not None:
            layer = disk.cached.layer
            return disk, (layer.annotations or {}).get(artifact.ANN_DIGEST, layer.digest)
    return None


def _disk_file(ctx: DiskContext, disk: PendingDisk) -> Path:
    """The disk's file: the one just built, or the cached one exported from the store."""
    if disk.built is not None:
        return disk.built.path
    if disk.cached is None:
        raise AssertionError("a pending disk is neither built nor cached")
    path = ctx.workdir / f"cached-{disk.index}.{disk.output.disk.format}"
    if not path.exists():
        artifact.extract(ctx.layout, disk.cached.layer, path)
    return path


def store_disks(
    ctx: DiskContext,
    disks: list[PendingDisk],
    *,
    subject: Descriptor,
    annotations: dict[str, str],
    tag: bool,
) -> list[tuple[DiskResult, Descriptor]]:
    """Store every disk file (unless cached) and its manifest; their results (with the tags
    to set, when ``tag``) and manifests. The caller sets the tags, once every tag of the bake
    is known to be movable."""
    name = ctx.loaded.recipe.name
    results = []
    for disk in disks:
        if disk.built is not None:
            layer = artifact.store_disk_file(ctx.layout, disk.built)
            artifact.write_record(ctx.cache_dir, disk.key, artifact.DiskRecord(layer=layer))
        elif disk.cached is not None:
            layer = disk.cached.layer
        else:
            raise AssertionError("a pending disk is neither built nor cached")
        desc = artifact.store_disk_manifest(
            ctx.layout, layer, subject=subject, annotations=annotations
        )
        tags = tuple(f"{name}:{t}" for t in disk.output.disk.tags)
        facts = layer.annotations or {}
        result = DiskResult(
            digest=desc.digest,
            tags=tags if tag else (),
            format=disk.output.disk.format,
            boot=disk.output.disk.boot,
            file_digest=facts.get(artifact.ANN_DIGEST, layer.digest),
            file_size=int(facts.get(artifact.ANN_FILE_SIZE, layer.size)),
            raw_digest=facts[artifact.ANN_RAW_DIGEST],
            raw_size=int(facts[artifact.ANN_RAW_SIZE]),
            cached=disk.built is None,
        )
        results.append((result, desc))
    return results
