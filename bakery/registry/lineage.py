"""Walking lineage edges (base → child) up to the ancestors or down to the descendants; the
edges among a set of artifacts, and an artifact's edges from its bases.

One recursive CTE each way; the edge table is indexed in both directions, so a walk costs one
index probe per node.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import TextClause, select, text
from sqlalchemy.orm import Session, aliased

from bakery.registry import models as m
from bakery.registry.views import EdgeView

MAX_DEPTH = 100


def _walk_statement(src: str, dst: str) -> TextClause:
    """Built once per direction: walks run often and must not pay for building a query."""
    return text(
        f"""
        WITH RECURSIVE tree(node, depth) AS (
            SELECT {dst}, 1 FROM lineage WHERE {src} = :start
            UNION
            SELECT lineage.{dst}, tree.depth + 1
            FROM lineage JOIN tree ON lineage.{src} = tree.node
            WHERE tree.depth < :depth
        )
        SELECT node, min(depth) AS distance FROM tree GROUP BY node ORDER BY distance, node
        """  # noqa: S608 - column names are constants, values are bound
    )


_UP = _walk_statement("child_id", "parent_id")
_DOWN = _walk_statement("parent_id", "child_id")


def walk(
    session: Session, artifact_id: int, *, up: bool, depth: int = MAX_DEPTH
) -> list[tuple[int, int]]:
    """``(artifact id, distance)`` of every ancestor (``up``) or descendant, nearest first."""
    rows = session.execute(
        _UP if up else _DOWN, {"start": artifact_id, "depth": min(depth, MAX_DEPTH)}
    )
    return [(int(node), int(distance)) for node, distance in rows]


def edges_among(session: Session, ids: Collection[int]) -> list[EdgeView]:
    """Every edge whose two ends are both among ``ids``, as digests."""
    parent, child = aliased(m.Artifact), aliased(m.Artifact)
    rows = session.execute(
        select(parent.digest, child.digest, m.LineageEdge.relation)
        .join(parent, parent.id == m.LineageEdge.parent_id)
        .join(child, child.id == m.LineageEdge.child_id)
        .where(m.LineageEdge.parent_id.in_(ids), m.LineageEdge.child_id.in_(ids))
        .order_by(m.LineageEdge.parent_id, m.LineageEdge.child_id)
    )
    return [EdgeView(parent=p, child=c, relation=r) for p, c, r in rows]


def parents_of(session: Session, artifact: m.Artifact) -> list[EdgeView]:
    """The edges from the artifact's bases to it."""
    parent = aliased(m.Artifact)
    rows = session.execute(
        select(parent.digest, m.LineageEdge.relation)
        .join(parent, parent.id == m.LineageEdge.parent_id)
        .where(m.LineageEdge.child_id == artifact.id)
    )
    return [EdgeView(parent=p, child=artifact.digest, relation=r) for p, r in rows]
