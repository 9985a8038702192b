"""What holds for artifacts now: their current tags, the channels pointing at them, whether
they are revoked.

Every listing asks these for a page of artifacts at once (one query each); channels and
revocation both build on them, so they live below both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session, aliased

from bakery.registry import models as m

_CURRENT_CHANNELS = text(
    """
    SELECT ca.artifact_id, r.name, c.name
    FROM channel_assignments ca
    JOIN channels c ON c.id = ca.channel_id
    JOIN repositories r ON r.id = c.repository_id
    WHERE ca.artifact_id IN :ids
      AND ca.id = (SELECT max(x.id) FROM channel_assignments x WHERE x.channel_id = ca.channel_id)
    """
).bindparams(bindparam("ids", expanding=True))


def revoked_ids(session: Session, artifact_ids: Iterable[int]) -> set[int]:
    """Those of ``artifact_ids`` that are revoked (directly or by a cascade)."""
    ids = list(artifact_ids)
    if not ids:
        return set()
    rows = session.scalars(
        select(m.Revocation.artifact_id).where(m.Revocation.artifact_id.in_(ids))
    )
    return set(rows)


def channels_of(session: Session, artifact_ids: Sequence[int]) -> dict[int, list[str]]:
    """The channels (``repository@channel``) that point at each artifact now."""
    if not artifact_ids:
        return {}
    found: dict[int, list[str]] = {}
    for artifact_id, repo, name in session.execute(_CURRENT_CHANNELS, {"ids": list(artifact_ids)}):
        found.setdefault(int(artifact_id), []).append(f"{repo}@{name}")
    return {k: sorted(v) for k, v in found.items()}


def current_tags(session: Session, artifact_ids: Sequence[int]) -> dict[int, list[str]]:
    """``repository:tag`` of every tag whose latest event points at each artifact."""
    if not artifact_ids:
        return {}
    later = aliased(m.TagEvent)
    rows = session.execute(
        select(m.TagEvent.artifact_id, m.Repository.name, m.TagEvent.tag)
        .join(m.Repository, m.Repository.id == m.TagEvent.repository_id)
        .where(m.TagEvent.artifact_id.in_(artifact_ids))
        .where(
            ~select(later.id)
            .where(
                later.repository_id == m.TagEvent.repository_id,
                later.tag == m.TagEvent.tag,
                later.id > m.TagEvent.id,
            )
            .exists()
        )
    )
    found: dict[int, list[str]] = {}
    for artifact_id, repo, tag in rows:
        found.setdefault(int(artifact_id or 0), []).append(f"{repo}:{tag}")
    return {k: sorted(v) for k, v in found.items()}
