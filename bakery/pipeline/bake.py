"""The bake engine: resolve → base → steps → export → test → store.

One :class:`Bake` bakes one recipe. Each stage takes the values the previous one produced; only
``store`` tags anything, so a failure anywhere leaves the tags as they were. Blobs written before a
failure are complete and hash-valid (the store writes them atomically); they are simply not
referenced by a tag yet, and the step cache reuses them on the next bake.

The rootfs on disk is built lazily: when every filesystem step hits the cache, no rootfs is ever
made. When step *k* misses, the rootfs is materialised from the layers before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from bakery.checks.imagetests import run_tests
from bakery.errors import ImageTestError, LockError, UserError
from bakery.oci import mediatypes as mt
from bakery.oci.digest import chain_id
from bakery.oci.model import Descriptor, ImageConfig, ImageManifest
from bakery.pipeline import disks as disk_stage
from bakery.pipeline import scanning
from bakery.pipeline.report import Reporter, SilentReporter
from bakery.pipeline.staleness import record_of, write_record
from bakery.recipe.loader import LoadedRecipe, find_recipe_by_name, load_recipe
from bakery.recipe.lock import Lock, LockedBase, LockedPackage, LockedStep
from bakery.recipe.model import (
    BootTest,
    CopyStep,
    DebianBase,
    ImageBase,
    Output,
    PackagesStep,
    RecipeBase,
    RunStep,
    Step,
    step_definition,
)
from bakery.recipe.source import SourceInfo, describe
from bakery.result import (
    BakeResult,
    BaseResult,
    DiskResult,
    LayerResult,
    OutputResult,
    PackerResult,
    ScanSummary,
    StageResult,
    TestResult,
)
from bakery.rootfs import debian, snapshot, steps
from bakery.rootfs.cache import LayerRecord, StepCache, TestRecord, cache_key
from bakery.rootfs.image import (
    ImageState,
    Layer,
    apply_config_step,
    image_config,
    image_manifest,
    rfc3339,
    with_history,
)
from bakery.rootfs.inputs import CopySource, copy_sources
from bakery.rootfs.layerwriter import Compression, LayerWriter
from bakery.rootfs.locking import LockPlan, plan_lock
from bakery.rootfs.sandbox import Mount
from bakery.rootfs.worktree import WorkTree
from bakery.store import Store

FS_STEPS = (PackagesStep, CopyStep, RunStep)
#: one output's manifest, its full tag names and its layer compression
_Manifest = tuple[Descriptor, tuple[str, ...], Compression]


@dataclass(frozen=True)
class BakeOptions:
    """How to bake (built by the CLI; library code reads no environment of its own)."""

    store: Store
    environ: Mapping[str, str]
    use_cache: bool = True
    locked: bool = False
    #: ``bakery lock``: resolve and record, without tagging
    lock_mode: bool = False
    #: resolve afresh even when a current lock exists (``bakery lock --update``)
    ignore_lock: bool = False
    #: run the scan stage and its policy gate
    scan: bool = True
    #: a policy file overriding the recipe's (and the built-in default)
    policy: Path | None = None
    #: the day allowlist expiry dates are judged against
    today: date = field(default_factory=date.today)
    reporter: Reporter = field(default_factory=SilentReporter)
    #: called with each recipe's result (a parent's too) once its image is tagged, with the
    #: recipe and when its bake started: signing, recording and pushing hang here
    on_baked: Callable[[BakeResult, LoadedRecipe, datetime], None] | None = None
    #: called before a bake builds on a base image; raises to refuse it (revoked, unsigned)
    check_base: Callable[[BaseToCheck], None] | None = None
    #: called with a parent recipe's ref and digest before anything about it is published
    #: again; raises to refuse it (revoked)
    check_revoked: Callable[[str, str], None] | None = None
    #: called with the tags a bake is about to set (``repo:tag`` → digest) before any is
    #: set; raises to refuse them (an immutable tag would move)
    check_tags: Callable[[Mapping[str, str]], None] | None = None


@dataclass(frozen=True)
class BaseToCheck:
    """A base image a recipe is about to build on."""

    ref: str
    digest: str
    kind: Literal["image", "recipe"]
    recipe: LoadedRecipe


def bake(recipe_path: Path, options: BakeOptions) -> BakeResult:
    """Bake the recipe at ``recipe_path`` (and, first, any recipe it inherits from)."""
    return Bake(load_recipe(recipe_path), options, stack=()).run()


class Bake:
    """One recipe's bake. Use :func:`bake`."""

    def __init__(
        self, loaded: LoadedRecipe, options: BakeOptions, *, stack: tuple[str, ...]
    ) -> None:
        self.loaded = loaded
        self.recipe = loaded.recipe
        self.options = options
        self.store = options.store
        self.cache = StepCache(options.store.cache_dir, options.store.oci)
        self.stack = (*stack, self.recipe.name)
        oci = [o for o in self.recipe.outputs if isinstance(o, Output)]
        compression: Compression = oci[0].oci.compression if oci else "gzip"
        #: the epoch is the resolve stage's; until then no layer is written
        self.writer = LayerWriter(
            options.store.oci, self.cache, compression, epoch=0, use_cache=options.use_cache
        )
        self.layers: list[Layer] = []
        self.state = ImageState()
        self.stages: list[StageResult] = []
        self.base_result = BaseResult(kind="scratch")
        self.lineage: list[BaseResult] = []
        self.locked_base: LockedBase | None = None
        self.locked_steps: list[LockedStep] = []
        self.steps_run = 0
        self.steps_cached = 0
        self._work: WorkTree | None = None
        self._sources: dict[int, list[CopySource]] = {}

    # -- the pipeline ---------------------------------------------------------------------

    def run(self) -> BakeResult:
        started = datetime.now(UTC)
        result = self._run()
        self._publish(result, started)
        return result

    def _publish(self, result: BakeResult, started: datetime) -> None:
        """Hand the result to ``on_baked`` (sign, record, push); then note what it was made
        from (``bakery plan`` reads it)."""
        if self.options.lock_mode:
            return
        if self.options.on_baked is not None:
            self.options.on_baked(result, self.loaded, started)
        write_record(self.store.root, record_of(self.loaded, self._sources, result))

    def _run(self) -> BakeResult:
        with self.store.work_dir() as work_dir:
            self._work = WorkTree(work_dir, self.store, warn=self.options.reporter.warning)
            with self._stage("resolve", self.loaded.path.name):
                source, plan, sources = self._resolve()
                self.writer = replace(self.writer, epoch=source.source_date_epoch)
            with self._stage("base", _describe_base(self.recipe.base)):
                self._base(source, plan)
            with self._stage("steps", f"{len(self.recipe.steps)} steps"):
                self._steps(source, plan, sources)
            with self._stage("export", f"{len(self.layers)} layers"):
                config_desc, config = self._config(source)
                manifests = self._manifests(config_desc, source)
            disks: list[disk_stage.PendingDisk] = []
            disk_ctx = self._disk_context(config_desc)
            if disk_stage.disk_outputs(self.loaded) and not self.options.lock_mode:
                with self._stage("disk", _describe_disks(self.loaded)):
                    disks = disk_stage.build_disks(disk_ctx)
            with self._stage("test", f"{len(self.recipe.tests)} tests"):
                tests = self._tests(config_desc, config)
                tests += disk_stage.boot_tests(disk_ctx, disks)
            packer: list[PackerResult] = []
            if disks and disk_stage.packer_outputs(self.loaded):
                with self._stage("packer", "packer build (qemu builder) of the disk"):
                    packer = disk_stage.packer_builds(disk_ctx, disks)
            scan: ScanSummary | None = None
            if self.options.scan and not self.options.lock_mode:
                with self._stage("scan", "SBOM, vulnerabilities, secrets, misconfig, policy"):
                    scan = self._scan(manifests, config_desc, config)
            with self._stage("store", "no tags (lock)" if self.options.lock_mode else "tags"):
                stored_disks = disk_stage.store_disks(
                    disk_ctx,
                    disks,
                    subject=manifests[0][0],
                    annotations=self._annotations(source),
                    tag=not self.options.lock_mode,
                )
                outputs = self._store(manifests, stored_disks)
                disk_results = [disk for disk, _ in stored_disks]
            self._work.keep(self._diffs())
        result = self._result(source, config_desc, outputs, tests, plan, scan)
        return result.model_copy(update={"disks": tuple(disk_results), "packer": tuple(packer)})

    @contextmanager
    def _stage(self, name: str, detail: str) -> Iterator[None]:
        self.options.reporter.stage_started(self.recipe.name, name, detail)
        start = time.monotonic()
        yield
        seconds = time.monotonic() - start
        self.stages.append(StageResult(name=name, seconds=round(seconds, 3), detail=detail))
        self.options.reporter.stage_done(self.recipe.name, name, seconds, detail)

    # -- resolve --------------------------------------------------------------------------

    def _resolve(self) -> tuple[SourceInfo, LockPlan, dict[int, list[CopySource]]]:
        source = describe(self.loaded.path, self.options.environ)
        sources = {
            i: copy_sources(self.loaded, i, step)
            for i, step in enumerate(self.recipe.steps)
            if isinstance(step, CopyStep)
        }
        self._sources = sources
        plan = plan_lock(
            self.loaded, sources, locked=self.options.locked, ignore=self.options.ignore_lock
        )
        for warning in plan.warnings:
            self.options.reporter.warning(warning)
        return source, plan, sources

    # -- base -----------------------------------------------------------------------------

    def _base(self, source: SourceInfo, plan: LockPlan) -> None:
        base = self.recipe.base
        fingerprint = plan.base_fingerprint
        if isinstance(base, DebianBase):
            self._debian_base(base, source, plan)
        elif isinstance(base, ImageBase | RecipeBase):
            self._image_base(base, plan)
        else:
            self.locked_base = LockedBase(kind="scratch", fingerprint=fingerprint)
        if self.locked_base is None:
            raise AssertionError("base stage left no lock entry")

    def _debian_base(self, base: DebianBase, source: SourceInfo, plan: LockPlan) -> None:
        pins = plan.base_pins
        key = cache_key("debian", step_definition(base), _pins_json(pins), source.source_date_epoch)
        created_by = f"bakery: debian {base.suite} {base.variant}" + (
            f" +{','.join(base.packages)}" if base.packages else ""
        )
        record = self.writer.cached(key)
        cached = record is not None
        if record is None:
            work = self._work_state()
            packages = debian.bootstrap(
                base,
                work.rootfs,
                source_date_epoch=source.source_date_epoch,
                pins=pins,
                scratch_dir=work.scratch,
            )
            snapshot.purge_volatile(work.rootfs, self.writer.epoch)
            snap = snapshot.take(work.rootfs)
            record = self.writer.write(work.rootfs, snapshot.everything(snap), created_by, packages)
            work.made(snap)
            self.cache.put_layer(key, record)
            if pins is None:  # the same bake, pinned, gives this layer: seed the locked key
                locked_key = cache_key(
                    "debian",
                    step_definition(base),
                    _pins_json(record.packages),
                    source.source_date_epoch,
                )
                self.cache.put_layer(locked_key, record)
            self.steps_run += 1
        else:
            self.steps_cached += 1
        self.state = replace(self.state, architecture=base.architecture)
        self._add_layer(record, cached=cached, source=source)
        self.locked_base = LockedBase(
            kind="debian", fingerprint=plan.base_fingerprint, packages=record.packages
        )
        self.base_result = BaseResult(kind="debian", name=f"{base.suite}/{base.variant}")

    def _image_base(self, base: ImageBase | RecipeBase, plan: LockPlan) -> None:
        oci = self.store.oci
        kind: Literal["image", "recipe"] = "recipe"
        if isinstance(base, RecipeBase):
            started = datetime.now(UTC)
            parent_bake = self._parent(base)
            parent = parent_bake._run()
            ref, digest = parent.tags[0] if parent.tags else parent.name, parent.digest
            # a revoked parent is refused before it is signed or recorded again
            if self.options.check_revoked is not None:
                self.options.check_revoked(ref, digest)
            parent_bake._publish(parent, started)
            self.lineage = [
                BaseResult(kind="recipe", name=parent.name, digest=parent.digest),
                *parent.lineage,
            ]
            # a parent recipe is pinned by content (its config digest covers every layer's
            # diff_id), not by manifest digest, which also carries the git revision
            self._check_pinned(ref, "content", parent.config_digest, plan.base_config_digest)
        else:
            ref = base.image
            digest = plan.base_digest or oci.resolve(base.image).digest
            kind = "image"
        if self.options.check_base is not None:
            self.options.check_base(BaseToCheck(ref, digest, kind, self.loaded))
        manifest = oci.read_manifest(digest)
        if not isinstance(manifest, ImageManifest):
            raise UserError(f"base {ref} is an index, not an image manifest")
        config = oci.read_config(manifest)
        for desc, diff_id in zip(manifest.layers, config.rootfs.diff_ids, strict=True):
            self.layers.append(
                Layer(diff_id, desc, created_by=f"base {ref}", cached=True, inherited=True)
            )
        self.state = ImageState.from_config(config)
        self.base_result = BaseResult(kind=kind, name=ref, digest=digest)
        if isinstance(base, ImageBase):
            self.lineage = [self.base_result]
        if isinstance(base, ImageBase):
            self.locked_base = LockedBase(
                kind=kind, fingerprint=plan.base_fingerprint, ref=ref, digest=digest
            )
        else:
            self.locked_base = LockedBase(
                kind=kind,
                fingerprint=plan.base_fingerprint,
                ref=ref,
                config_digest=manifest.config.digest,
            )

    def _check_pinned(self, ref: str, what: str, actual: str, pinned: str | None) -> None:
        if pinned is not None and pinned != actual:
            raise LockError(
                f"base {ref}: its {what} is now {actual} but the lock pins {pinned}",
                hint=f"run `bakery lock {self.loaded.path}` to accept the new base",
            )

    def _parent(self, base: RecipeBase) -> Bake:
        if base.recipe in self.stack:
            cycle = " → ".join([*self.stack, base.recipe])
            raise self.loaded.error_at(("base", "recipe"), f"inheritance cycle: {cycle}")
        path = find_recipe_by_name(self.loaded.directory, base.recipe)
        if path is None:
            raise self.loaded.error_at(
                ("base", "recipe"),
                f"no recipe named '{base.recipe}' in {self.loaded.directory}",
                hint="base.recipe names another recipe's `name:`; keep it in the same directory",
            )
        return Bake(load_recipe(path), self.options, stack=self.stack)

    # -- steps ----------------------------------------------------------------------------

    def _steps(
        self, source: SourceInfo, plan: LockPlan, sources: dict[int, list[CopySource]]
    ) -> None:
        total = len(self.recipe.steps)
        for index, step in enumerate(self.recipe.steps):
            label = f"step {index + 1}/{total} ({step.kind})"
            if not isinstance(step, FS_STEPS):
                self.state = apply_config_step(self.state, step)
                self.state = with_history(
                    self.state, f"bakery: {_summary(step)}", source.source_date_epoch, empty=True
                )
                continue
            self._fs_step(index, step, label, source, plan, sources.get(index, []))

    def _fs_step(
        self,
        index: int,
        step: PackagesStep | CopyStep | RunStep,
        label: str,
        source: SourceInfo,
        plan: LockPlan,
        copy_from: list[CopySource],
    ) -> None:
        pins = plan.step_pins.get(index)
        parent = self._chain()

        def key_for(pinned: tuple[LockedPackage, ...] | None) -> str:
            return cache_key(
                "step",
                parent,
                step_definition(step),
                [(s.relative, s.sha256, s.mode) for s in copy_from],
                _pins_json(pinned),
                self.state.env_map if isinstance(step, RunStep) else None,
                self.state.workdir if isinstance(step, RunStep) else None,
                source.source_date_epoch,
            )

        key = key_for(pins)
        record = self.writer.cached(key)
        cached = record is not None
        if record is None:
            record = self._execute(index, step, label, source, pins, copy_from)
            self.cache.put_layer(key, record)
            if pins is None and isinstance(step, PackagesStep):
                self.cache.put_layer(key_for(record.packages), record)
            self.steps_run += 1
        else:
            self.steps_cached += 1
            self._work_state().invalidate()
        self._add_layer(record, cached=cached, source=source)
        if isinstance(step, PackagesStep):
            fp = plan.step_fingerprints[index]
            self.locked_steps.append(
                LockedStep(index=index, kind="packages", fingerprint=fp, packages=record.packages)
            )
        elif isinstance(step, CopyStep):
            fp = plan.step_fingerprints[index]
            files = tuple(s.locked() for s in copy_from)
            self.locked_steps.append(
                LockedStep(index=index, kind="copy", fingerprint=fp, files=files)
            )

    def _execute(
        self,
        index: int,
        step: PackagesStep | CopyStep | RunStep,
        label: str,
        source: SourceInfo,
        pins: tuple[LockedPackage, ...] | None,
        copy_from: list[CopySource],
    ) -> LayerRecord:
        work = self._work_state()
        work.materialize(self._diffs())
        before = work.current if work.current is not None else snapshot.take(work.rootfs)
        ctx = steps.StepContext(
            rootfs=work.rootfs,
            scratch=work.scratch,
            env=self.state.env_map,
            workdir=self.state.workdir or "/",
            source_date_epoch=source.source_date_epoch,
        )
        packages: list[LockedPackage] = []
        if isinstance(step, PackagesStep):
            packages = steps.packages_step(step, ctx, pins=pins, label=label)
        elif isinstance(step, CopyStep):
            steps.copy_step(step, copy_from, ctx)
        else:
            steps.run_step(step, ctx, secrets=self._secrets(index, step), label=label)
        snapshot.purge_volatile(work.rootfs, self.writer.epoch)
        after = snapshot.take(work.rootfs)
        work.made(after)
        return self.writer.write(
            work.rootfs, snapshot.diff(before, after), f"bakery: {_summary(step)}", packages
        )

    def _secrets(self, index: int, step: RunStep) -> list[Mount]:
        mounts = []
        for n, secret in enumerate(step.secrets):
            src = Path(secret.src)
            path = src if src.is_absolute() else self.loaded.directory / src
            if not path.is_file():
                raise self.loaded.error_at(
                    ("steps", index, "secrets", n, "src"),
                    f"secret '{secret.id}': {path} is not a file",
                )
            mounts.append(Mount(path, secret.dest))
        return mounts

    # -- rootfs ---------------------------------------------------------------------------

    def _work_state(self) -> WorkTree:
        if self._work is None:
            raise AssertionError("no work directory")
        return self._work

    def _materialize(self) -> Path:
        """The rootfs, made to match the layers so far (applying them from the store)."""
        return self._work_state().materialize(self._diffs())

    def _diffs(self) -> list[tuple[str, Descriptor]]:
        return [(layer.diff_id, layer.descriptor) for layer in self.layers]

    def _chain(self) -> str:
        """The chain id of the layers so far: the identity of the filesystem they stack to."""
        return chain_id([layer.diff_id for layer in self.layers])

    # -- layers ---------------------------------------------------------------------------

    def _add_layer(self, record: LayerRecord, *, cached: bool, source: SourceInfo) -> None:
        desc = record.blobs[self.writer.compression]
        self.layers.append(Layer(record.diff_id, desc, record.created_by, cached=cached))
        self.state = with_history(
            self.state, record.created_by, source.source_date_epoch, empty=False
        )

    # -- export ---------------------------------------------------------------------------

    def _config(self, source: SourceInfo) -> tuple[Descriptor, ImageConfig]:
        config = image_config(self.state, self.layers, source.source_date_epoch)
        return self.store.oci.put_json(config, mt.CONFIG), config

    def _manifests(self, config_desc: Descriptor, source: SourceInfo) -> list[_Manifest]:
        annotations = self._annotations(source)
        made: list[_Manifest] = []
        for output in self.recipe.outputs:
            if not isinstance(output, Output):
                continue
            layers = [self._layer_for(layer, output.oci.compression) for layer in self.layers]
            manifest = image_manifest(config_desc, layers, annotations)
            desc = self.store.oci.put_json(manifest, mt.MANIFEST)
            tags = tuple(f"{self.recipe.name}:{tag}" for tag in output.oci.tags)
            made.append((desc, tags, output.oci.compression))
        if not made:  # disks only: the image is stored untagged, as the disks' subject
            layers = [layer.descriptor for layer in self.layers]
            manifest = image_manifest(config_desc, layers, annotations)
            made.append(
                (self.store.oci.put_json(manifest, mt.MANIFEST), (), self.writer.compression)
            )
        return made

    def _layer_for(self, layer: Layer, compression: Compression) -> Descriptor:
        if layer.inherited:
            return layer.descriptor
        return self.writer.for_output(layer.diff_id, layer.descriptor, compression)

    def _annotations(self, source: SourceInfo) -> dict[str, str]:
        annotations = {
            mt.ANN_CREATED: rfc3339(source.source_date_epoch),
            mt.ANN_TITLE: self.recipe.name,
            mt.ANN_VERSION: self.recipe.version,
        }
        if self.recipe.description:
            annotations[mt.ANN_DESCRIPTION] = self.recipe.description
        if source.repository:
            annotations[mt.ANN_SOURCE] = source.repository
        if source.revision:
            annotations[mt.ANN_REVISION] = source.revision
        if self.base_result.digest is not None and self.base_result.name is not None:
            annotations[mt.ANN_BASE_NAME] = self.base_result.name
            annotations[mt.ANN_BASE_DIGEST] = self.base_result.digest
        return annotations

    def _disk_context(self, config_desc: Descriptor) -> disk_stage.DiskContext:
        work = self._work_state()
        return disk_stage.DiskContext(
            loaded=self.loaded,
            layout=self.store.oci,
            cache=self.cache,
            cache_dir=self.store.cache_dir,
            use_cache=self.options.use_cache,
            config_digest=config_desc.digest,
            epoch=self.writer.epoch,
            workdir=work.scratch,
            rootfs=self._materialize,
        )

    # -- test -----------------------------------------------------------------------------

    def _tests(self, config_desc: Descriptor, config: ImageConfig) -> list[TestResult]:
        tests = tuple(t for t in self.recipe.tests if not isinstance(t, BootTest))
        if not tests:
            return []
        key = cache_key("tests", config_desc.digest, [step_definition(t) for t in tests])
        if self.options.use_cache and self.cache.get_tests(key) is not None:
            return [TestResult(name=t.name, passed=True, cached=True) for t in tests]
        outcomes = run_tests(tests, self._materialize(), self.state)
        failed = [o for o in outcomes if not o.passed]
        if failed:
            lines = "\n".join(f"  ✗ {o.name}: {o.detail}" for o in failed)
            raise ImageTestError(
                f"{len(failed)} of {len(outcomes)} image tests failed for {self.recipe.name}; "
                f"nothing was tagged:\n{lines}"
            )
        self.cache.put_tests(key, TestRecord(passed=tuple(o.name for o in outcomes)))
        return [TestResult(name=o.name, passed=True, cached=False) for o in outcomes]

    # -- scan -----------------------------------------------------------------------------

    def _scan(
        self, manifests: list[_Manifest], config_desc: Descriptor, config: ImageConfig
    ) -> ScanSummary:
        request = scanning.ScanRequest(
            loaded=self.loaded,
            store=self.store,
            cache=self.cache,
            use_cache=self.options.use_cache,
            policy=self.options.policy,
            today=self.options.today,
            config_desc=config_desc,
            config=config,
            manifests=tuple(desc for desc, _, _ in manifests),
            rootfs=self._materialize,
            warn=self.options.reporter.warning,
        )
        return scanning.scan(request)

    # -- store ----------------------------------------------------------------------------

    def _store(
        self, manifests: list[_Manifest], disks: list[tuple[DiskResult, Descriptor]]
    ) -> list[OutputResult]:
        """Tag the images and disks: all of them, or (when one may not move) none."""
        setting = (
            [] if self.options.lock_mode else [(t, d) for d, tags, _ in manifests for t in tags]
        )
        setting += [(tag, desc) for disk, desc in disks for tag in disk.tags]
        if self.options.check_tags is not None and setting:
            self.options.check_tags({tag: desc.digest for tag, desc in setting})
        for tag, desc in setting:
            self.store.oci.tag(tag, desc)
        return [
            OutputResult(digest=desc.digest, tags=tags, compression=compression)
            for desc, tags, compression in manifests
        ]

    def _result(
        self,
        source: SourceInfo,
        config_desc: Descriptor,
        outputs: list[OutputResult],
        tests: list[TestResult],
        plan: LockPlan,
        scan: ScanSummary | None,
    ) -> BakeResult:
        if self.locked_base is None:
            raise AssertionError("no base lock entry")
        lock = Lock(recipe=self.recipe.name, base=self.locked_base, steps=tuple(self.locked_steps))
        return BakeResult(
            name=self.recipe.name,
            version=self.recipe.version,
            digest=outputs[0].digest,
            config_digest=config_desc.digest,
            tags=() if self.options.lock_mode else tuple(t for o in outputs for t in o.tags),
            layers=tuple(
                LayerResult(
                    digest=layer.descriptor.digest,
                    diff_id=layer.diff_id,
                    size=layer.descriptor.size,
                    media_type=layer.descriptor.media_type,
                    created_by=layer.created_by,
                    cached=layer.cached,
                    inherited=layer.inherited,
                )
                for layer in self.layers
            ),
            outputs=tuple(outputs),
            base=self.base_result,
            lineage=tuple(self.lineage),
            source=source,
            locked=plan.using_lock,
            steps_run=self.steps_run,
            steps_cached=self.steps_cached,
            tests=tuple(tests),
            scan=scan,
            stages=tuple(self.stages),
            lock=lock,
        )


def _pins_json(pins: tuple[LockedPackage, ...] | None) -> list[object] | None:
    return None if pins is None else [p.model_dump(mode="json") for p in pins]


def _describe_disks(loaded: LoadedRecipe) -> str:
    disks = [o.disk for _, o in disk_stage.disk_outputs(loaded)]
    return ", ".join(f"{d.format} {d.size} boot={d.boot or 'none'}" for d in disks)


def _describe_base(base: object) -> str:
    if isinstance(base, DebianBase):
        return f"debian {base.suite} {base.variant}"
    if isinstance(base, ImageBase):
        return f"image {base.image}"
    if isinstance(base, RecipeBase):
        return f"recipe {base.recipe}"
    return "scratch"


def _summary(step: Step) -> str:
    definition = step_definition(step)
    text = " ".join(f"{k}={v}" for k, v in definition.items() if v not in (None, [], {}, False))
    return text if len(text) <= 200 else text[:199] + "…"


__all__ = ["Bake", "BakeOptions", "bake"]
