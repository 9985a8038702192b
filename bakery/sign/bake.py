"""Sign everything a bake made: the image, its provenance, its SBOM and its scan result.

:func:`sign_bake` runs after a bake has tagged its image in the local store. With no key it
uses (and on first use makes) the store's development key, and says so in
:attr:`SigningResult.notice`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bakery.errors import SignatureError
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from bakery.result import BakeResult
from bakery.scan.stage import CYCLONEDX, SCAN_RESULT, read_referrer
from bakery.sign.devkey import development_key
from bakery.sign.intoto import (
    BAKERY_SCAN_V1,
    CYCLONEDX_BOM,
    SLSA_PROVENANCE_V1,
    Statement,
    statement_about,
)
from bakery.sign.keys import PublicKey, SigningKey
from bakery.sign.local import attest_image, sign_image
from bakery.sign.provenance import (
    DEFAULT_BUILDER_ID,
    Provenance,
    build_provenance,
    byproducts,
    recipe_source,
)
from bakery.store import Store


@dataclass(frozen=True)
class SigningResult:
    """What :func:`sign_bake` wrote: the ``.sig`` and ``.att`` manifests and what they hold."""

    repository: str
    digest: str
    signature: Descriptor
    attestations: Descriptor
    predicate_types: tuple[str, ...]
    public_key: PublicKey
    provenance: Provenance
    #: set when the development key signed: show it to the user
    notice: str | None = None

    @property
    def development_key(self) -> bool:
        return self.notice is not None


def sign_bake(
    store: Store,
    result: BakeResult,
    recipe_path: Path,
    *,
    key: SigningKey | None,
    started: datetime,
    finished: datetime,
    builder_id: str = DEFAULT_BUILDER_ID,
) -> SigningResult:
    """Sign ``result``'s image and attest its provenance, CycloneDX SBOM and scan result.

    ``key`` None means the store's development key. The SBOM and scan attestations are made
    when the bake scanned the image (they are read from the referrers the scan stage stored).
    """
    notice = None
    if key is None:
        dev = development_key(store.keys_dir)
        key, notice = dev.key, dev.notice
    layout = store.oci
    repository, digest = result.name, result.digest
    signature = sign_image(layout, repository, digest, key)
    provenance = build_provenance(
        result,
        recipe_source(recipe_path, result),
        started=started,
        finished=finished,
        builder_id=builder_id,
        products=byproducts(layout, digest),
    )
    statements = [statement_about(repository, digest, SLSA_PROVENANCE_V1, provenance.predicate())]
    statements += _scan_statements(layout, repository, digest)
    # each attestation moves the .att tag; the last manifest holds them all
    attestations = [attest_image(layout, repository, s, key) for s in statements][-1]
    return SigningResult(
        repository=repository,
        digest=digest,
        signature=signature,
        attestations=attestations,
        predicate_types=tuple(s.predicate_type for s in statements),
        public_key=key.public_key,
        provenance=provenance,
        notice=notice,
    )


def scan_predicate(scan_result: bytes) -> dict[str, Any]:
    """The bakery scan predicate: the stored scan result (findings and the bake's verdict)."""
    return {"scanner": {"uri": "https://bakery.dev/scanner"}, "result": _json(scan_result)}


def stored_predicate(layout: OCILayout, digest: str, predicate_type: str) -> dict[str, Any] | None:
    """The predicate of ``predicate_type`` made from what the scan stage stored beside the
    image (the CycloneDX SBOM, the scan result); None when it was not stored."""
    if predicate_type == CYCLONEDX_BOM:
        sbom = read_referrer(layout, digest, CYCLONEDX)
        return None if sbom is None else _json(sbom)
    if predicate_type == BAKERY_SCAN_V1:
        scan = read_referrer(layout, digest, SCAN_RESULT)
        return None if scan is None else scan_predicate(scan)
    return None


def _scan_statements(layout: OCILayout, repository: str, digest: str) -> list[Statement]:
    """Statements of the CycloneDX SBOM and the scan result stored beside the image."""
    statements = []
    for predicate_type in (CYCLONEDX_BOM, BAKERY_SCAN_V1):
        predicate = stored_predicate(layout, digest, predicate_type)
        if predicate is not None:
            statements.append(statement_about(repository, digest, predicate_type, predicate))
    return statements


def _json(data: bytes) -> dict[str, Any]:
    document = json.loads(data)
    if not isinstance(document, dict):
        raise SignatureError("a stored SBOM or scan result is not a JSON object")
    return document
