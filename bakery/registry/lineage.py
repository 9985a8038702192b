"""Walking lineage edges (base → child) up to the ancestors or down to the descendants.

One recursive CTE each way; the edge table is indexed in both directions, so a walk costs one
index probe per node.
"""

from __future__ import annotations

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from bakery.registry import models as m

MAX_DEPTH = 100


def walk(
    session: Session, artifact_id: int, *, up: bool, depth: int = MAX_DEPTH
) -> list[tuple[int, int]]:
    """``(artifact id, distance)`` of every ancestor (``up``) or descendant, nearest first."""
    edge = m.LineageEdge
    src, dst = (edge.child_id, edge.parent_id) if up else (edge.parent_id, edge.child_id)
    start = select(dst.label("node"), literal(1).label("depth")).where(src == artifact_id)
    tree = start.cte("tree", recursive=True)
    step = (
        select(dst, (tree.c.depth + 1))
        .join(tree, src == tree.c.node)
        .where(tree.c.depth < min(depth, MAX_DEPTH))
    )
    tree = tree.union(step)
    rows = session.execute(select(tree.c.node, tree.c.depth).order_by(tree.c.depth, tree.c.node))
    seen: dict[int, int] = {}
    for node, distance in rows:
        seen.setdefault(int(node), int(distance))
    return list(seen.items())
