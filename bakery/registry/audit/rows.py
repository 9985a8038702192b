"""What an audit entry covers: the rows a write made, each by a hash of its content.

A :class:`Covered` names a row (table and primary key) or a collection of rows (every package
link or finding of an artifact) and the SHA-256 of its canonical JSON. ``bakery audit verify``
recomputes the hash from the database: an edited, added or deleted row no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.registry import models as m

#: the collection a new bake covers its packages with: the links and every package column
PACKAGES = "artifact_packages.v2"

#: tables whose single rows an entry may cover
TABLES: dict[str, type[m.Base]] = {
    cls.__tablename__: cls
    for cls in (
        m.Artifact,
        m.Repository,
        m.Build,
        m.LineageEdge,
        m.TagEvent,
        m.TagRule,
        m.Scan,
        m.Signature,
        m.Channel,
        m.ChannelAssignment,
        m.Revocation,
        m.Token,
        m.TrustedKey,
        m.KeyDistrust,
        m.ChannelRule,
    )
}

#: tables whose rows are updated in place, each update covered by a new entry: a row of these
#: must hash to what the latest entry covering it recorded (the earlier ones vouched for an
#: earlier state). Every other row must still hash to what every entry covering it recorded.
UPDATED_IN_PLACE = frozenset({m.Token.__tablename__})


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8; datetimes UTC ``Z``, bytes as hex."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot put {type(value).__name__} in an audit entry")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Covered:
    """A row, or a collection of rows, and the hash of its content when the entry was made."""

    table: str
    key: dict[str, int]
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "sha256": self.digest}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Covered:
        return cls(table=str(data["table"]), key=dict(data["key"]), digest=str(data["sha256"]))


def _primary_key(row: m.Base) -> dict[str, int]:
    mapper = row.__mapper__
    return {str(col.key): int(getattr(row, str(col.key))) for col in mapper.primary_key}


def cover(row: m.Base) -> Covered:
    """Cover one row (flushed: its primary key is known)."""
    return Covered(row.__tablename__, _primary_key(row), sha256(canonical(row.content())))


def _package_links(session: Session, artifact_ids: Sequence[int]) -> dict[int, bytes]:
    purls: dict[int, list[str]] = {a: [] for a in artifact_ids}
    for artifact_id, purl in session.execute(
        select(m.ArtifactPackage.artifact_id, m.Package.purl)
        .join(m.Package, m.ArtifactPackage.package_id == m.Package.id)
        .where(m.ArtifactPackage.artifact_id.in_(artifact_ids))
        .order_by(m.ArtifactPackage.artifact_id, m.Package.purl)
    ):
        purls[artifact_id].append(purl)
    return {a: canonical(found) for a, found in purls.items()}


def _package_rows(session: Session, artifact_ids: Sequence[int]) -> dict[int, bytes]:
    """Every column of each package an artifact links to (not only its purl: the version,
    its sort key and the source are what queries answer from), by purl."""
    found: dict[int, list[dict[str, Any]]] = {a: [] for a in artifact_ids}
    for artifact_id, package in session.execute(
        select(m.ArtifactPackage.artifact_id, m.Package)
        .join(m.Package, m.ArtifactPackage.package_id == m.Package.id)
        .where(m.ArtifactPackage.artifact_id.in_(artifact_ids))
        .order_by(m.ArtifactPackage.artifact_id, m.Package.purl)
    ):
        found[artifact_id].append(package.content())
    return {a: canonical(items) for a, items in found.items()}


def _findings(session: Session, artifact_ids: Sequence[int]) -> dict[int, bytes]:
    rows = session.scalars(
        select(m.Finding).where(m.Finding.artifact_id.in_(artifact_ids)).order_by(m.Finding.id)
    ).all()
    aliases: dict[int, list[str]] = {}
    for finding_id, alias in session.execute(
        select(m.FindingAlias.finding_id, m.FindingAlias.alias)
        .join(m.Finding, m.Finding.id == m.FindingAlias.finding_id)
        .where(m.Finding.artifact_id.in_(artifact_ids))
        .order_by(m.FindingAlias.finding_id, m.FindingAlias.alias)
    ):
        aliases.setdefault(finding_id, []).append(alias)
    found: dict[int, list[dict[str, Any]]] = {a: [] for a in artifact_ids}
    for row in rows:
        found[row.artifact_id].append({**row.content(), "aliases": aliases.get(row.id, [])})
    return {a: canonical(items) for a, items in found.items()}


#: collections an entry may cover, by the artifact they belong to (content of many at once)
COLLECTIONS: dict[str, Callable[[Session, Sequence[int]], dict[int, bytes]]] = {
    #: what entries made before the package rows were covered hashed: the purls only
    "artifact_packages": _package_links,
    PACKAGES: _package_rows,
    "findings": _findings,
}


def cover_collection(session: Session, name: str, artifact_id: int) -> Covered:
    """Cover every row of a collection of an artifact (after a flush)."""
    content = COLLECTIONS[name](session, [artifact_id])[artifact_id]
    return Covered(name, {"artifact_id": artifact_id}, sha256(content))


#: keys per IN (...) when rows are fetched in bulk
_CHUNK = 500


def _bulk_key(item: Covered) -> int | None:
    """The one integer that finds ``item`` in a bulk fetch; None for a composite key."""
    if item.table in COLLECTIONS:
        return item.key["artifact_id"]
    if item.table in TABLES and len(item.key) == 1:
        return next(iter(item.key.values()))
    return None


def current_digests(session: Session, covered: Sequence[Covered]) -> list[str | None]:
    """The hash of what the database holds now for each of ``covered`` (None: the row is
    gone), fetched a table at a time: one query per table and 500 keys, not one per row."""
    by_table: dict[str, set[int]] = {}
    for item in covered:
        key = _bulk_key(item)
        if key is not None:
            by_table.setdefault(item.table, set()).add(key)
    digests: dict[tuple[str, int], str] = {}
    for table, keys in by_table.items():
        ordered = sorted(keys)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            if table in COLLECTIONS:
                for key, content in COLLECTIONS[table](session, chunk).items():
                    digests[(table, key)] = sha256(content)
                continue
            model = TABLES[table]
            (column,) = model.__mapper__.primary_key
            for row in session.scalars(select(model).where(column.in_(chunk))):
                key = int(getattr(row, str(column.key)))
                digests[(table, key)] = sha256(canonical(row.content()))
    out: list[str | None] = []
    for item in covered:
        key = _bulk_key(item)
        out.append(current_digest(session, item) if key is None else digests.get((item.table, key)))
    return out


def current_digest(session: Session, covered: Covered) -> str | None:
    """The hash of what the database holds now for ``covered``; None if the row is gone."""
    if covered.table in COLLECTIONS:
        key = covered.key["artifact_id"]
        return sha256(COLLECTIONS[covered.table](session, [key])[key])
    model = TABLES.get(covered.table)
    if model is None:
        return None
    mapper = model.__mapper__
    ident = tuple(covered.key[str(col.key)] for col in mapper.primary_key)
    row = session.get(model, ident if len(ident) > 1 else ident[0])
    return None if row is None else sha256(canonical(row.content()))
