"""Naming artifacts in the registry: a digest, ``name@digest`` or a tag ``repository:tag``."""

from __future__ import annotations

import re

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bakery.errors import ReferenceNotFound, UserError
from bakery.registry import models as m
from bakery.registry.fields import DIGEST_PATTERN
from bakery.registry.tags import current_tag, repository, split_ref

_DIGEST = re.compile(DIGEST_PATTERN)
MAX_REF = 512
_BY_DIGEST = select(m.Artifact).where(m.Artifact.digest == bindparam("digest"))


_CHANNEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_channel(name: str) -> str:
    if _CHANNEL.fullmatch(name) is None:
        raise UserError(
            f"{name[:80]!r} is not a channel name",
            hint="lower-case letters, digits, '.', '_' or '-', e.g. prod or staging",
        )
    return name


def check_text(value: str, what: str, *, limit: int = 4000) -> str:
    """Free text kept in history (a reason, an actor): non-empty, bounded, no control bytes."""
    if (
        not value.strip()
        or len(value) > limit
        or any(ord(c) < 0x20 and c not in "\t\n" for c in value)
    ):
        raise UserError(
            f"give a {what} of 1 to {limit} printable characters", hint="it is kept in the history"
        )
    return value


def check_digest(digest: str) -> str:
    if _DIGEST.fullmatch(digest) is None:
        raise UserError(f"{digest[:80]!r} is not a sha256 digest", hint="sha256:<64 hex digits>")
    return digest


def resolve(session: Session, ref: str) -> m.Artifact:
    """The artifact ``ref`` names; ReferenceNotFound when the registry has none."""
    if len(ref) > MAX_REF:
        raise UserError("reference too long", hint=f"at most {MAX_REF} characters")
    digest = ref.rpartition("@")[2] if "@" in ref else ref
    if digest.startswith("sha256:"):
        check_digest(digest)
        found = session.scalars(_BY_DIGEST, {"digest": digest}).first()
    else:
        repo_name, tag = split_ref(ref)
        repo = repository(session, repo_name, create=False)
        event = current_tag(session, repo.id, tag) if repo is not None else None
        found = session.get(m.Artifact, event.artifact_id) if event and event.artifact_id else None
    if found is None:
        raise ReferenceNotFound(
            f"no artifact {ref!r} in the registry",
            hint="`bakery query builds RECIPE` lists recorded bakes; record a bake first",
        )
    return found


def repository_of(session: Session, artifact: m.Artifact, ref: str) -> str:
    """The repository a reference means: its own name, else the artifact's latest tag's."""
    if not ref.startswith("sha256:"):
        name = ref.partition("@")[0]
        return split_ref(name)[0] if "@" not in ref else name
    row = session.execute(
        select(m.Repository.name)
        .join(m.TagEvent, m.TagEvent.repository_id == m.Repository.id)
        .where(m.TagEvent.artifact_id == artifact.id)
        .order_by(m.TagEvent.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return str(row[0])
    if artifact.name:
        return artifact.name
    raise UserError(
        f"{artifact.digest} has no repository", hint="name it as REPOSITORY@sha256:… instead"
    )
