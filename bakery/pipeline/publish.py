"""After a bake: sign, record and push what it made.

These stages run once an image is tagged in the local store, for every recipe a bake baked
(a parent recipe too), in this order:

1. **sign**: the image digest is signed and its SLSA provenance, CycloneDX SBOM and scan result
   are attested, in cosign's formats (with the given key, else the store's development key);
2. **record**: the bake, its lineage, packages, findings, signature and attestations go into
   the metadata registry through the context's :class:`~bakery.registry.recorder.Recorder`
   (the store's SQLite, ``--database-url``, or a ``bakery serve``), with an audit entry;
3. **push**: the image, its referrers and its signature tags go to a registry.

A failure stops the rest and says which stage failed; what earlier stages did stays valid
(a signed but unrecorded image can be recorded later).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from bakery.pipeline.bake import BaseToCheck
from bakery.pipeline.report import Reporter, SilentReporter
from bakery.result import BakeResult, DiskResult
from bakery.store import Store

if TYPE_CHECKING:
    from bakery.registry.recorder import Recorder
    from bakery.sign.keys import PublicKey, SigningKey
    from bakery.sign.provenance import Provenance


class PublishOptions(BaseModel):
    """What to do after each bake (built by the CLI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sign: bool = True
    #: a cosign-format private key (password in COSIGN_PASSWORD); None: the development key
    key: Path | None = None
    #: ``HOST/REPO[:TAG]`` to push the top-level image to
    push: str | None = None
    insecure: bool = False


class Published(BaseModel):
    """What publishing one bake did (``--json`` carries it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    digest: str
    signed_with: str | None = None
    predicate_types: tuple[str, ...] = ()
    development_key: bool = False
    audit_entry: int | None = None
    pushed_to: str | None = None
    blobs_pushed: int | None = None
    blobs_skipped: int | None = None


@dataclass(frozen=True)
class Context:
    """Where a bake ran: the store, the environment, the user's home (for credentials), the
    metadata registry (None: none at all), whether the bake is recorded there (false:
    ``--no-record``, which still asks it whether a base is revoked) and where progress goes."""

    store: Store
    environ: Mapping[str, str]
    home: Path
    recorder: Recorder | None = None
    reporter: Reporter = field(default_factory=SilentReporter)
    record: bool = True

    @contextmanager
    def stage(self, recipe: str, name: str, detail: str) -> Iterator[None]:
        """Report a publishing stage like the bake's own stages."""
        self.reporter.stage_started(recipe, name, detail)
        start = time.monotonic()
        yield
        self.reporter.stage_done(recipe, name, time.monotonic() - start, detail)


def publish(
    context: Context,
    result: BakeResult,
    recipe_path: Path,
    options: PublishOptions,
    *,
    started: datetime,
    finished: datetime,
    push: bool,
) -> tuple[Published, str | None]:
    """Sign, record and (when ``push``) push one bake. Returns what was done and a notice to
    show the user (the development key was used), if any."""
    published = Published(name=result.name, digest=result.digest)
    notice = None
    signer = None
    if options.sign:
        from bakery.sign.bake import sign_bake
        from bakery.sign.devkey import development_key

        key = _signing_key(options.key, context.environ)
        if key is None:
            dev = development_key(context.store.keys_dir)
            key, notice = dev.key, dev.notice
        with context.stage(result.name, "sign", "signature, provenance, SBOM, scan"):
            signing = sign_bake(
                context.store, result, recipe_path, key=key, started=started, finished=finished
            )
            for disk in result.disks:
                _sign_disk(context.store, result, disk, key, signing.provenance)
        signer = signing.public_key
        published = published.model_copy(
            update={
                "signed_with": signing.public_key.key_id,
                "predicate_types": signing.predicate_types,
                "development_key": notice is not None,
            }
        )
    if context.recorder is not None and context.record:
        with context.stage(result.name, "record", context.recorder.where):
            entry = _record(
                context.recorder, context.store, result, recipe_path, signer, started, finished
            )
        published = published.model_copy(update={"audit_entry": entry})
    if push and options.push:
        with context.stage(result.name, "push", options.push):
            published = _push(context, result, options.push, options.insecure, published)
    return published, notice


def _sign_disk(
    store: Store, result: BakeResult, disk: DiskResult, key: SigningKey, provenance: Provenance
) -> None:
    """Sign a disk artifact of the bake and attest, about it, the bake's provenance (one build
    made the image and its disks) and its image's SBOM and scan result (one rootfs)."""
    from bakery.sign.bake import stored_predicate
    from bakery.sign.intoto import (
        BAKERY_SCAN_V1,
        CYCLONEDX_BOM,
        SLSA_PROVENANCE_V1,
        statement_about,
    )
    from bakery.sign.local import attest_image, sign_image

    sign_image(store.oci, result.name, disk.digest, key)
    predicates = {SLSA_PROVENANCE_V1: provenance.predicate()}
    for predicate_type in (CYCLONEDX_BOM, BAKERY_SCAN_V1):
        stored = stored_predicate(store.oci, result.digest, predicate_type)
        if stored is not None:
            predicates[predicate_type] = stored
    for predicate_type, predicate in predicates.items():
        statement = statement_about(result.name, disk.digest, predicate_type, predicate)
        attest_image(store.oci, result.name, statement, key)


def _push(
    context: Context, result: BakeResult, dest: str, insecure: bool, published: Published
) -> Published:
    """Push the image to ``dest``; with no tag in ``dest``, under each of the bake's tags (the
    blobs go once: later pushes find them present)."""
    from bakery.distribute.reference import Reference
    from bakery.distribute.session import push_image

    target = Reference.parse(dest)
    if target.tag or target.digest:
        pushes = [(result.digest, dest)]
    else:  # each of the bake's tags, its disks' tags too
        pushes = [(result.digest, f"{dest}:{tag.rpartition(':')[2]}") for tag in result.tags]
        for disk in result.disks:
            pushes += [(disk.digest, f"{dest}:{tag.rpartition(':')[2]}") for tag in disk.tags]
        pushes = pushes or [(result.digest, dest)]
    pushed, skipped = 0, 0
    for digest, destination in pushes:
        done = push_image(
            context.store.oci,
            digest,
            destination,
            environ=context.environ,
            home=context.home,
            insecure=insecure,
        )
        pushed += done.blobs_pushed
        skipped += done.blobs_skipped
    destinations = [destination for _, destination in pushes]
    return published.model_copy(
        update={
            "pushed_to": ", ".join(destinations),
            "blobs_pushed": pushed,
            "blobs_skipped": skipped,
        }
    )


def _signing_key(path: Path | None, environ: Mapping[str, str]) -> SigningKey | None:
    """The key at ``path`` (its password from COSIGN_PASSWORD), or None for the dev key."""
    if path is None:
        return None
    from bakery.sign.keys import load_signing_key

    return load_signing_key(path, environ.get("COSIGN_PASSWORD", "").encode())


def _record(
    recorder: Recorder,
    store: Store,
    result: BakeResult,
    recipe_path: Path,
    signer: PublicKey | None,
    started: datetime,
    finished: datetime,
) -> int | None:
    """Record the bake (its bases first, its disks after), then submit what ``signer``
    signed of its image (the registry verifies each before recording it); the last audit
    entry's number."""
    from bakery.oci.source import LayoutSource
    from bakery.registry.record import bake_facts
    from bakery.sign.evidence import signed_objects

    facts = bake_facts(
        result, store, recipe_path=recipe_path, started_at=started, finished_at=finished
    )
    entry = recorder.record(facts)[result.digest]
    if signer is None:
        return entry
    present = recorder.signatures(result.digest, signer.key_id)
    source = LayoutSource(store.oci, result.name)
    for signed in signed_objects(source, result.digest, signer):
        if (signed.kind, signed.predicate_type()) not in present:
            done = recorder.record_signature(result.digest, signed, signer=signer)
            entry = entry if done is None else done
    return entry


def check_revoked(context: Context, ref: str, digest: str) -> None:
    """Refuse a base the metadata registry knows as revoked (a parent recipe's image before
    it is signed or recorded again); with no registry to ask and ``--no-record``, say so."""
    asked = context.recorder is not None and context.recorder.ensure_not_revoked(
        digest, what=f"base {ref}"
    )
    if not asked and not context.record:
        context.reporter.warning(
            f"base {ref} was not checked for revocation: there is no metadata registry "
            "(no bakery.db in the store, no --database-url or --registry-url)"
        )


def check_tags(context: Context, moves: Mapping[str, str]) -> None:
    """Refuse, before anything is tagged, to move a tag the registry's rules make immutable."""
    if context.recorder is not None:
        context.recorder.ensure_tags_movable(moves)


def check_base(context: Context, base: BaseToCheck) -> None:
    """Refuse a base before anything is built on it: one not signed by a key its recipe's
    ``signedBy`` names (its own bases too), or one the metadata registry knows as revoked."""
    _check_signed(context.store, base)
    if base.kind != "recipe":  # a parent recipe's image was asked before it was published
        check_revoked(context, base.ref, base.digest)


def _check_signed(store: Store, base: BaseToCheck) -> None:
    """The ``signedBy`` demand of the recipe's base, checked in the local store."""
    from bakery.recipe.model import ImageBase, RecipeBase

    demand = base.recipe.recipe.base
    declared = demand.signed_by if isinstance(demand, ImageBase | RecipeBase) else ()
    if not declared:
        return
    from bakery.errors import SignatureError
    from bakery.oci.source import LayoutSource
    from bakery.sign.keys import load_public_key
    from bakery.sign.refs import repository_of
    from bakery.sign.verify import verify_base

    keys = []
    for index, name in enumerate(declared):
        path = base.recipe.directory / name
        if not path.is_file():
            raise base.recipe.error_at(
                ("base", "signedBy", index), f"no public key file {name} beside the recipe"
            )
        keys.append(load_public_key(path))
    report = verify_base(
        LayoutSource(store.oci, repository_of(base.ref)),
        base.digest,
        tuple(keys),
        open_source=lambda repository: LayoutSource(store.oci, repository),
    )
    failures = report.failures()
    if failures:
        raise SignatureError(
            f"base {base.ref} is not signed as the recipe demands: {'; '.join(failures)}",
            hint="sign it with one of the recipe's signedBy keys (bakery sign --key …)",
        )
