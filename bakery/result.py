"""What a bake made: the values the CLI prints (and ``--json`` emits), and what signing and
the metadata registry read (the source facts too, so neither asks git again)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, computed_field

from bakery.recipe.lock import Lock
from bakery.recipe.source import SourceInfo


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LayerResult(_Out):
    digest: str
    diff_id: str
    size: int
    media_type: str
    created_by: str
    cached: bool
    inherited: bool


class StageResult(_Out):
    name: str
    seconds: float
    detail: str


class TestResult(_Out):
    name: str
    passed: bool
    cached: bool
    detail: str = ""


class OutputResult(_Out):
    digest: str
    tags: tuple[str, ...]
    compression: str


class DiskResult(_Out):
    """A disk output: its artifact manifest and tags, the stored file and the raw disk."""

    digest: str
    tags: tuple[str, ...]
    format: str
    boot: str | None
    #: the stored disk file (in ``format``): what ``bakery export`` writes
    file_digest: str
    file_size: int
    #: the raw disk: reproducible across bakes of the same recipe
    raw_digest: str
    raw_size: int
    cached: bool


class PackerFileResult(_Out):
    path: str
    digest: str
    size: int


class PackerArtifactResult(_Out):
    build: str
    builder_id: str
    id: str
    files: tuple[str, ...]


class PackerResult(_Out):
    """A ``packer build`` of a disk: the builder type, its artifacts and their files' digests."""

    builder_type: str
    #: the digest of the disk file Packer started from
    disk: str
    artifacts: tuple[PackerArtifactResult, ...]
    files: tuple[PackerFileResult, ...]
    cached: bool = False


class ScanSummary(_Out):
    """The scan stage's verdict: counts per category, notes, the policy table."""

    passed: bool
    packages: int
    findings: dict[str, int]
    violations: int
    notes: tuple[str, ...]
    table: str


class BaseResult(_Out):
    kind: str
    name: str | None = None
    digest: str | None = None


class BakeResult(_Out):
    """One baked recipe."""

    name: str
    version: str
    digest: str
    config_digest: str
    tags: tuple[str, ...]
    layers: tuple[LayerResult, ...]
    outputs: tuple[OutputResult, ...]
    disks: tuple[DiskResult, ...] = ()
    packer: tuple[PackerResult, ...] = ()
    base: BaseResult
    lineage: tuple[BaseResult, ...]
    #: SOURCE_DATE_EPOCH and the git facts of the recipe, gathered once by the resolve stage
    source: SourceInfo
    locked: bool
    steps_run: int
    steps_cached: int
    tests: tuple[TestResult, ...]
    scan: ScanSummary | None
    stages: tuple[StageResult, ...]
    lock: Lock

    @computed_field  # type: ignore[prop-decorator]
    @property
    def source_date_epoch(self) -> int:
        return self.source.source_date_epoch

    @computed_field  # type: ignore[prop-decorator]
    @property
    def source_date_epoch_from(self) -> str:
        return self.source.epoch_from
