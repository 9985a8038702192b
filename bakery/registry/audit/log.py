"""The audit log in the database: an append-only RFC 6962 tree of every write.

Each entry is canonical JSON (its kind, actor, time, subject and the rows it covers,
:mod:`bakery.registry.audit.rows`) stored as the exact leaf bytes. Appending stores the leaf
hash and the hash of every perfect subtree the leaf completes (``audit_nodes``, keyed
``level << 48 | index``), so an append touches O(1) rows amortised and never recomputes the
tree; a root or an inclusion proof needs only O(log n) stored nodes, fetched in one query.
Every write transaction ends with a signed checkpoint (:mod:`bakery.registry.audit.note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.audit import merkle
from bakery.registry.audit.note import Checkpoint, Signer, sign_checkpoint
from bakery.registry.audit.rows import Covered, canonical

LEVEL_SHIFT = 48
_CACHE = "bakery_audit_nodes"


def pos(level: int, index: int) -> int:
    """The ``audit_nodes`` key of the perfect subtree ``(level, index)``."""
    return level << LEVEL_SHIFT | index


def _cache(session: Session) -> dict[int, bytes]:
    cache: dict[int, bytes] = session.info.setdefault(_CACHE, {})
    return cache


def fetch_nodes(
    session: Session, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the given perfect subtrees, in one query."""
    keys = {pos(level, index): (level, index) for level, index in wanted}
    cache = _cache(session)
    found = {keys[k]: cache[k] for k in keys if k in cache}
    missing = [k for k in keys if k not in cache]
    for chunk in range(0, len(missing), 500):
        rows = session.execute(
            select(m.AuditNode.pos, m.AuditNode.hash).where(
                m.AuditNode.pos.in_(missing[chunk : chunk + 500])
            )
        )
        for key, value in rows:
            found[keys[key]] = bytes(value)
    return found


def _lookup(nodes: dict[tuple[int, int], bytes]) -> merkle.NodeLookup:
    def node(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise UserError(f"the audit log lacks node ({level}, {index})") from None

    return node


def log_size(session: Session) -> int:
    return session.execute(select(m.AuditHead.size).where(m.AuditHead.id == 1)).scalar_one()


def append(
    session: Session,
    *,
    kind: str,
    actor: str,
    at: datetime,
    subject: dict[str, Any],
    rows: Sequence[Covered] = (),
) -> int:
    """Append one entry in the current write transaction; returns its sequence number.

    The caller holds the audit head (:meth:`bakery.registry.db.Registry.write`), so the
    number is the next leaf index with no gap and no race.
    """
    head = session.get_one(m.AuditHead, 1)
    seq = head.size
    data = canonical(
        {
            "seq": seq,
            "kind": kind,
            "actor": actor,
            "at": at,
            "subject": subject,
            "rows": [row.to_json() for row in rows],
        }
    )
    session.execute(
        insert(m.AuditEntry), [{"seq": seq, "kind": kind, "actor": actor, "at": at, "data": data}]
    )
    cache = _cache(session)
    siblings = fetch_nodes(session, _left_siblings(seq))
    completed = merkle.completed_nodes(seq, merkle.leaf_hash(data), _lookup(siblings))
    values = [{"pos": pos(level, index), "hash": h} for level, index, h in completed]
    session.execute(insert(m.AuditNode), values)
    for level, index, h in completed:
        cache[pos(level, index)] = h
    head.size = seq + 1
    return seq


def _left_siblings(index: int) -> list[tuple[int, int]]:
    """The stored nodes appending leaf ``index`` combines with (one per trailing 1 bit)."""
    wanted = []
    level, i = 0, index
    while i & 1:
        wanted.append((level, i - 1))
        level, i = level + 1, i >> 1
    return wanted


def root(session: Session, size: int) -> bytes:
    """The root hash of the first ``size`` entries."""
    nodes = fetch_nodes(session, merkle.perfect_nodes(0, size))
    return merkle.range_hash(0, size, _lookup(nodes))


def checkpoint_if_grown(session: Session, signer: Signer, start: int, at: datetime) -> None:
    """Sign and store a checkpoint when the log grew past ``start`` in this transaction."""
    size = log_size(session)
    if size == start:
        return
    tree_root = root(session, size)
    note = sign_checkpoint(Checkpoint(origin=signer.name, size=size, root=tree_root), signer)
    session.add(m.AuditCheckpoint(size=size, root=tree_root, note=note, at=at))
    session.flush()


def latest_checkpoint(session: Session) -> m.AuditCheckpoint | None:
    return session.scalars(
        select(m.AuditCheckpoint).order_by(m.AuditCheckpoint.id.desc()).limit(1)
    ).first()


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``seq`` is leaf ``seq`` of the tree of ``size`` entries whose root is ``root``."""

    seq: int
    size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    root: bytes
    checkpoint: str
    entry: bytes

    def verifies(self) -> bool:
        return merkle.verify_inclusion(self.seq, self.size, self.leaf_hash, self.proof, self.root)

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.seq,
            "tree_size": self.size,
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.proof],
            "root_hash": self.root.hex(),
            "checkpoint": self.checkpoint,
            "data": self.entry.decode(),
        }


def inclusion_proof(session: Session, seq: int) -> InclusionProof:
    """The proof that entry ``seq`` is in the tree of the latest signed checkpoint."""
    checkpoint = latest_checkpoint(session)
    if checkpoint is None or not 0 <= seq < checkpoint.size:
        size = 0 if checkpoint is None else checkpoint.size
        raise UserError(
            f"no audit entry {seq}: the log has {size} entries",
            hint="entries are numbered from 0; `bakery audit verify` shows the size",
        )
    entry = session.get(m.AuditEntry, seq)
    if entry is None:
        raise UserError(f"audit entry {seq} is missing", hint="run `bakery audit verify`")
    ranges = merkle.inclusion_ranges(seq, checkpoint.size)
    nodes = fetch_nodes(session, merkle.nodes_for(ranges) | {(0, seq)})
    lookup = _lookup(nodes)
    return InclusionProof(
        seq=seq,
        size=checkpoint.size,
        leaf_hash=lookup(0, seq),
        proof=tuple(merkle.hashes_for(ranges, lookup)),
        root=bytes(checkpoint.root),
        checkpoint=checkpoint.note,
        entry=bytes(entry.data),
    )


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """The proof that the tree of ``old`` entries is a prefix of the tree of ``new``."""
    ranges = merkle.consistency_ranges(old, new)
    nodes = fetch_nodes(session, merkle.nodes_for(ranges))
    return merkle.hashes_for(ranges, _lookup(nodes))
