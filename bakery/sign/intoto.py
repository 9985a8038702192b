"""in-toto attestation Statements (in-toto/attestation spec/v1) and the predicate types used.

A statement binds a predicate to subjects by digest. Bakery writes ``Statement/v1``; it reads
v1 and the ``v0.1`` statements cosign still writes. Digests in a subject are hex, without the
``sha256:`` prefix.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bakery.errors import SignatureError

STATEMENT_V1: Final = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES: Final = frozenset({STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})

SLSA_PROVENANCE_V1: Final = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM: Final = "https://cyclonedx.org/bom"
SPDX_DOCUMENT: Final = "https://spdx.dev/Document"
#: bakery's scan result (findings and the policy verdict of the bake)
BAKERY_SCAN_V1: Final = "https://bakery.dev/attestations/scan/v1"


class _Document(BaseModel):
    """Frozen and strict; unknown fields of documents read back are kept."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True, populate_by_name=True)


class Subject(_Document):
    """An artifact the statement is about: its digests (``{"sha256": hex}``) and, usually, a
    name (a v1 resource descriptor may leave it out, as cosign 3's signatures do)."""

    name: str | None = None
    digest: dict[str, str]


class Statement(_Document):
    """An in-toto statement: subjects, a predicate type URI and the predicate."""

    type: str = Field(default=STATEMENT_V1, alias="_type")
    subject: tuple[Subject, ...]
    predicate_type: str = Field(alias="predicateType")
    predicate: dict[str, Any]

    def to_json(self) -> bytes:
        """Compact JSON with the spec's field order."""
        document = self.model_dump(mode="json", by_alias=True)
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    def names_digest(self, digest: str) -> bool:
        """True when a subject has the sha256 of ``digest`` (``sha256:<hex>``)."""
        algorithm, _, hex_digest = digest.partition(":")
        return any(s.digest.get(algorithm) == hex_digest for s in self.subject)


def statement_about(
    name: str, digest: str, predicate_type: str, predicate: dict[str, Any]
) -> Statement:
    """A v1 statement of ``predicate`` about one image (``digest`` is ``sha256:<hex>``)."""
    algorithm, _, hex_digest = digest.partition(":")
    subject = Subject(name=name, digest={algorithm: hex_digest})
    return Statement(subject=(subject,), predicate_type=predicate_type, predicate=predicate)


def parse_statement(data: bytes, *, source: str = "in-toto statement") -> Statement:
    """Parse a statement; SignatureError if it is not one (or of an unknown ``_type``)."""
    try:
        statement = Statement.model_validate_json(data, strict=False)
    except ValidationError as e:
        raise SignatureError(f"{source} is not an in-toto statement: {e.errors()[0]['msg']}") from e
    if statement.type not in STATEMENT_TYPES:
        raise SignatureError(f"{source} has an unknown statement type {statement.type!r}")
    return statement
