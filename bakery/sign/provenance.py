"""SLSA provenance v1 (slsa.dev/provenance/v1) of a bake.

:func:`recipe_source` gathers the facts about the recipe file (its hash and its lock's) beside the
git facts the bake already resolved (:class:`~bakery.recipe.source.SourceInfo`);
:func:`build_provenance` is pure: a :class:`~bakery.result.BakeResult` (which carries
the lock: every Debian package with its .deb sha256, every copied file, the base digests)
plus those facts and the times become the predicate. Parameters are recorded in
``externalParameters``; what they resolved to, with digests, in ``resolvedDependencies``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from packageurl import PackageURL
from pydantic import BaseModel, ConfigDict, Field

from bakery import __version__
from bakery.oci.layout import OCILayout
from bakery.oci.model import ImageManifest
from bakery.recipe.lock import Lock, LockedPackage, lock_path_for
from bakery.result import BakeResult

BUILD_TYPE: Final = "https://bakery.dev/buildtypes/recipe/v1"
DEFAULT_BUILDER_ID: Final = "https://bakery.dev/builders/local/v1"


class _Document(BaseModel):
    """Frozen and strict; unknown fields of documents read back are kept."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True, populate_by_name=True)


class ResourceDescriptor(_Document):
    """An artifact: where it is, what it is called, and its digests."""

    uri: str | None = None
    digest: dict[str, str] | None = None
    name: str | None = None
    media_type: str | None = Field(default=None, alias="mediaType")
    annotations: dict[str, Any] | None = None


class BuildDefinition(_Document):
    build_type: str = Field(alias="buildType")
    external_parameters: dict[str, Any] = Field(alias="externalParameters")
    internal_parameters: dict[str, Any] | None = Field(default=None, alias="internalParameters")
    resolved_dependencies: tuple[ResourceDescriptor, ...] = Field(
        default=(), alias="resolvedDependencies"
    )


class Builder(_Document):
    id: str
    version: dict[str, str] | None = None


class BuildMetadata(_Document):
    invocation_id: str | None = Field(default=None, alias="invocationId")
    started_on: str | None = Field(default=None, alias="startedOn")
    finished_on: str | None = Field(default=None, alias="finishedOn")


class RunDetails(_Document):
    builder: Builder
    metadata: BuildMetadata | None = None
    byproducts: tuple[ResourceDescriptor, ...] = ()


class Provenance(_Document):
    """The SLSA v1 provenance predicate."""

    build_definition: BuildDefinition = Field(alias="buildDefinition")
    run_details: RunDetails = Field(alias="runDetails")

    def predicate(self) -> dict[str, Any]:
        """The predicate as JSON-ready data (aliases, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def base_digests(self) -> list[tuple[str | None, str]]:
        """(uri, ``sha256:…``) of every resolved dependency named ``base``."""
        return [
            (rd.uri, f"sha256:{rd.digest['sha256']}")
            for rd in self.build_definition.resolved_dependencies
            if rd.name == "base" and rd.digest and "sha256" in rd.digest
        ]


@dataclass(frozen=True)
class RecipeSource:
    """Facts about the recipe file and its git checkout, gathered at the edge."""

    path: str
    sha256: str
    lock_path: str | None = None
    lock_sha256: str | None = None
    repository: str | None = None
    ref: str | None = None
    commit: str | None = None


def recipe_source(recipe_path: Path, result: BakeResult) -> RecipeSource:
    """Hash the recipe and its lockfile; the git facts are those the bake resolved."""
    git = result.source
    lock = lock_path_for(recipe_path)
    return RecipeSource(
        path=git.path,
        sha256=_sha256(recipe_path),
        lock_path=str(lock_path_for(Path(git.path))) if lock.is_file() else None,
        lock_sha256=_sha256(lock) if lock.is_file() else None,
        repository=git.repository,
        ref=git.ref,
        commit=git.revision,
    )


def byproducts(layout: OCILayout, image_digest: str) -> list[ResourceDescriptor]:
    """The SBOMs and scan result kept beside the image, as byproducts (the newest of each)."""
    found: dict[str, ResourceDescriptor] = {}
    for desc in layout.referrers(image_digest):
        manifest = layout.read_manifest(desc)
        if not isinstance(manifest, ImageManifest) or not manifest.layers:
            continue
        kind = manifest.artifact_type or manifest.layers[0].media_type
        found[kind] = ResourceDescriptor(
            name=kind.rsplit("/", 1)[-1],
            digest={"sha256": manifest.layers[0].digest.removeprefix("sha256:")},
            media_type=kind,
            annotations={"manifestDigest": desc.digest},
        )
    return [found[kind] for kind in sorted(found)]


def build_provenance(
    result: BakeResult,
    source: RecipeSource,
    *,
    started: datetime,
    finished: datetime,
    builder_id: str = DEFAULT_BUILDER_ID,
    invocation_id: str | None = None,
    products: list[ResourceDescriptor] | tuple[ResourceDescriptor, ...] = (),
) -> Provenance:
    """The provenance of one bake."""
    external: dict[str, Any] = {
        "recipe": {"path": source.path, "name": result.name, "version": result.version},
        "source": {"repository": source.repository, "ref": source.ref},
        "locked": result.locked,
    }
    internal = {
        "sourceDateEpoch": result.source_date_epoch,
        "sourceDateEpochFrom": result.source_date_epoch_from,
        "scanned": result.scan is not None,
    }
    return Provenance(
        build_definition=BuildDefinition(
            build_type=BUILD_TYPE,
            external_parameters=external,
            internal_parameters=internal,
            resolved_dependencies=tuple(_dependencies(result, source)),
        ),
        run_details=RunDetails(
            builder=Builder(id=builder_id, version={"bakery": __version__}),
            metadata=BuildMetadata(
                invocation_id=invocation_id or f"urn:uuid:{uuid.uuid4()}",
                started_on=rfc3339(started),
                finished_on=rfc3339(finished),
            ),
            byproducts=tuple(products),
        ),
    )


def _dependencies(result: BakeResult, source: RecipeSource) -> list[ResourceDescriptor]:
    deps = [ResourceDescriptor(name="recipe", uri=source.path, digest={"sha256": source.sha256})]
    if source.lock_path and source.lock_sha256:
        deps.append(
            ResourceDescriptor(
                name="lockfile", uri=source.lock_path, digest={"sha256": source.lock_sha256}
            )
        )
    if source.commit:
        uri = f"git+{source.repository}" if source.repository else None
        if uri and source.ref:
            uri += f"@{source.ref}"
        deps.append(ResourceDescriptor(name="source", uri=uri, digest={"gitCommit": source.commit}))
    deps += _bases(result)
    deps += [_package(p) for p in _packages(result.lock)]
    for step in result.lock.steps:
        for file in step.files:
            deps.append(
                ResourceDescriptor(
                    name="file",
                    uri=file.path,
                    digest={"sha256": file.sha256},
                    annotations={"mode": f"{file.mode:04o}", "step": step.index},
                )
            )
    return deps


def _bases(result: BakeResult) -> list[ResourceDescriptor]:
    """The direct base image (``base``, by the ref it was taken from) and its own ancestors
    (``ancestor``), by manifest digest. Debian and scratch bases have no digest."""
    deps = []
    if result.base.digest is not None:
        annotations: dict[str, Any] = {"kind": result.base.kind}
        if result.lock.base.config_digest:
            annotations["configDigest"] = result.lock.base.config_digest
        deps.append(_image("base", result.base.name, result.base.digest, annotations))
    for ancestor in result.lineage[1:]:
        if ancestor.digest is not None:
            deps.append(_image("ancestor", ancestor.name, ancestor.digest, {"kind": ancestor.kind}))
    return deps


def _image(
    role: str, name: str | None, digest: str, annotations: dict[str, Any]
) -> ResourceDescriptor:
    return ResourceDescriptor(
        name=role,
        uri=f"oci:{name}" if name else None,
        digest={"sha256": digest.removeprefix("sha256:")},
        annotations=annotations,
    )


def _packages(lock: Lock) -> list[LockedPackage]:
    """Every Debian package of the base and the steps, each (name, arch, version) once."""
    seen: dict[tuple[str, str, str], LockedPackage] = {}
    for package in [*lock.base.packages, *(p for s in lock.steps for p in s.packages)]:
        seen.setdefault((package.name, package.architecture, package.version), package)
    return list(seen.values())


def _package(package: LockedPackage) -> ResourceDescriptor:
    purl = PackageURL(
        type="deb",
        namespace="debian",
        name=package.name,
        version=package.version,
        qualifiers={"arch": package.architecture},
    )
    return ResourceDescriptor(
        name=package.name,
        uri=purl.to_string(),
        digest={"sha256": package.sha256},
        annotations={"version": package.version, "architecture": package.architecture},
    )


def rfc3339(moment: datetime) -> str:
    """``2026-11-27T09:30:00Z`` (UTC, whole seconds); a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
