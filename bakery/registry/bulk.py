"""Bulk writes of an SBOM's packages, in each database's fastest form.

A 10,000-component SBOM must go in within a second. SQLite takes multi-row INSERTs well;
PostgreSQL takes whole columns as arrays (``unnest``), one statement and one round trip for
any number of rows, where a multi-row INSERT of 10,000 rows spends most of its time in the
driver turning placeholders into a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from bakery.registry import models as m
from bakery.registry.audit.rows import PACKAGES, Covered, cover_collection
from bakery.registry.facts import PackageFact
from bakery.registry.versionkey import try_version_key

_CHUNK = 2000
_COLUMNS = ("purl", "type", "name", "version", "version_key", "source_name", "source_version")
_PG_IDS = text("SELECT purl, id FROM packages WHERE purl = ANY(CAST(:purls AS text[]))")
_PG_INSERT = text(
    """
    INSERT INTO packages (purl, type, name, version, version_key, source_name, source_version)
    SELECT * FROM unnest(
        CAST(:purl AS text[]), CAST(:type AS text[]), CAST(:name AS text[]),
        CAST(:version AS text[]), CAST(:version_key AS bytea[]), CAST(:source_name AS text[]),
        CAST(:source_version AS text[])
    )
    ON CONFLICT (purl) DO NOTHING
    RETURNING purl, id
    """
)
_PG_LINK = text(
    "INSERT INTO artifact_packages (package_id, artifact_id)"
    " SELECT unnest(CAST(:ids AS integer[])), :artifact"
)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _ids_of(session: Session, purls: list[str]) -> dict[str, int]:
    if _is_pg(session):
        return {str(p): int(i) for p, i in session.execute(_PG_IDS, {"purls": purls})}
    found: dict[str, int] = {}
    for start in range(0, len(purls), _CHUNK):
        query = select(m.Package.purl, m.Package.id).where(
            m.Package.purl.in_(purls[start : start + _CHUNK])
        )
        found.update((str(purl), int(pid)) for purl, pid in session.execute(query))
    return found


def _insert(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    if _is_pg(session):
        columns = {c: [row[c] for row in rows] for c in _COLUMNS}
        return {str(p): int(i) for p, i in session.execute(_PG_INSERT, columns)}
    table = cast(Table, m.Package.__table__)
    statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=["purl"])
    returning = statement.returning(table.c.purl, table.c.id)
    return {str(p): int(i) for p, i in session.connection().execute(returning, rows)}


def package_ids(session: Session, packages: Iterable[PackageFact]) -> dict[str, int]:
    """The id of every package (by purl), inserting the ones not seen before.

    Writers are serialised, so no row goes missing between the lookup and the insert.
    """
    by_purl = {p.purl: p for p in packages}
    ids = _ids_of(session, list(by_purl))
    new = [
        {**p.model_dump(), "version_key": try_version_key(p.type, p.version)}
        for purl, p in by_purl.items()
        if purl not in ids
    ]
    if new:
        ids.update(_insert(session, new))
    return ids


def link_packages(session: Session, artifact_id: int, packages: Sequence[PackageFact]) -> Covered:
    """Link an artifact to its packages; returns what the audit entry covers of the links."""
    ids = package_ids(session, packages)
    package_ids_sorted = sorted(set(ids.values()))
    if package_ids_sorted and _is_pg(session):
        session.execute(_PG_LINK, {"ids": package_ids_sorted, "artifact": artifact_id})
    elif package_ids_sorted:
        rows = [{"package_id": pid, "artifact_id": artifact_id} for pid in package_ids_sorted]
        session.connection().execute(insert(cast(Table, m.ArtifactPackage.__table__)), rows)
    return cover_collection(session, PACKAGES, artifact_id)
