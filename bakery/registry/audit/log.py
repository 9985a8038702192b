"""The audit log in the database: an append-only RFC 6962 tree of every write.

Each entry is canonical JSON (its kind, actor, time, subject and the rows it covers,
:mod:`bakery.registry.audit.rows`) stored as the exact leaf bytes. Appending stores the leaf
hash and the hash of every perfect subtree the leaf completes (``audit_nodes``, keyed
``level << 48 | index``). The head row keeps the tree's right edge (the hashes of its perfect
subtrees, largest first), so an append reads nothing, touches two node rows amortised and
never recomputes the tree, and a checkpoint's root is folded from the edge. A root or an
inclusion proof of any size needs O(log n) stored nodes, fetched in one query. Every write
transaction ends with a signed checkpoint (:mod:`bakery.registry.audit.note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.registry import models as m
from bakery.registry.audit import merkle
from bakery.registry.audit.note import Checkpoint, Signer, sign_checkpoint
from bakery.registry.audit.rows import Covered, canonical
from bakery.registry.views import AuditEntryView, Page, ProofView

LEVEL_SHIFT = 48
_PENDING = "bakery_audit_pending"
_HEAD = cast(Table, m.AuditHead.__table__)
_LOCK_HEAD = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == 1).with_for_update()
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"))
)
_INSERT_ENTRY = insert(cast(Table, m.AuditEntry.__table__))
_INSERT_NODE = insert(cast(Table, m.AuditNode.__table__))
_INSERT_CHECKPOINT = insert(cast(Table, m.AuditCheckpoint.__table__))
#: PostgreSQL: a transaction's whole audit write in one statement (one round trip)
_PG_FINISH = text(
    """
    WITH entries AS (
        INSERT INTO audit_entries (seq, kind, actor, at, data)
        SELECT * FROM unnest(CAST(:seq AS bigint[]), CAST(:kind AS text[]),
                             CAST(:actor AS text[]), CAST(:at AS timestamp[]),
                             CAST(:data AS bytea[]))
    ), nodes AS (
        INSERT INTO audit_nodes (pos, hash)
        SELECT * FROM unnest(CAST(:pos AS bigint[]), CAST(:hash AS bytea[]))
    ), head AS (
        UPDATE audit_head SET size = :size, frontier = :frontier WHERE id = 1
    )
    INSERT INTO audit_checkpoints (size, root, note, at)
    VALUES (:size, :root, :note, :checkpoint_at)
    """
)


def pos(level: int, index: int) -> int:
    """The ``audit_nodes`` key of the perfect subtree ``(level, index)``."""
    return level << LEVEL_SHIFT | index


@dataclass
class _Pending:
    """The log as this write transaction sees it: size, right edge, rows not yet inserted."""

    start: int
    size: int
    frontier: list[bytes]
    entries: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)


def frontier_of(size: int, node: merkle.NodeLookup) -> list[bytes]:
    """The right edge of a tree: its perfect subtrees' hashes, largest (leftmost) first."""
    return [node(level, index) for level, index in merkle.perfect_nodes(0, size)]


def fold(frontier: list[bytes]) -> bytes:
    """The root hash from the right edge (RFC 6962's MTH, the peaks folded from the right)."""
    if not frontier:
        return merkle.EMPTY_ROOT
    result = frontier[-1]
    for left in reversed(frontier[:-1]):
        result = merkle.node_hash(left, result)
    return result


def begin_write(session: Session) -> None:
    """Lock the log's head row for this transaction and load its size and right edge.

    Every write transaction calls this first (:meth:`bakery.registry.db.Registry.write`), so
    writers are serialised and each entry's number is the next leaf index, with no gap.
    """
    size, edge = session.connection().execute(_LOCK_HEAD).one()
    raw = bytes(edge)
    frontier = [raw[i : i + merkle.HASH_SIZE] for i in range(0, len(raw), merkle.HASH_SIZE)]
    session.info[_PENDING] = _Pending(start=size, size=size, frontier=frontier)


def append(
    session: Session,
    *,
    kind: str,
    actor: str,
    at: datetime,
    subject: dict[str, Any],
    rows: Sequence[Covered] = (),
) -> int:
    """Append one entry to the log in the current write transaction; returns its number.

    Only the right edge is touched: the new leaf, and one node a level up for every subtree
    it completes (two rows amortised), all inserted when the transaction ends.
    """
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        raise RuntimeError("audit entries are appended inside Registry.write() only")
    seq = pending.size
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
    pending.entries.append({"seq": seq, "kind": kind, "actor": actor, "at": at, "data": data})
    h, level, index = merkle.leaf_hash(data), 0, seq
    pending.nodes.append({"pos": pos(0, seq), "hash": h})
    while index & 1:
        h = merkle.node_hash(pending.frontier.pop(), h)
        level, index = level + 1, index >> 1
        pending.nodes.append({"pos": pos(level, index), "hash": h})
    pending.frontier.append(h)
    pending.size = seq + 1
    return seq


def finish_write(session: Session, signer: Signer, at: datetime) -> None:
    """Insert this transaction's entries and nodes, move the head and sign a checkpoint."""
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None or pending.size == pending.start:
        return
    edge = b"".join(pending.frontier)
    tree_root = fold(pending.frontier)
    note = sign_checkpoint(
        Checkpoint(origin=signer.name, size=pending.size, root=tree_root), signer
    )
    checkpoint = {"size": pending.size, "root": tree_root, "note": note, "at": at}
    connection = session.connection()  # statements built once: appends are hot
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_FINISH, _pg_columns(pending, edge, checkpoint))
        return
    # SQLite: plain DB-API statements (the per-statement cost of building one is the hot spot)
    stamp = _sqlite_time
    connection.exec_driver_sql(
        "INSERT INTO audit_entries (seq, kind, actor, at, data) VALUES (?, ?, ?, ?, ?)",
        [(e["seq"], e["kind"], e["actor"], stamp(e["at"]), e["data"]) for e in pending.entries],
    )
    connection.exec_driver_sql(
        "INSERT INTO audit_nodes (pos, hash) VALUES (?, ?)",
        [(n["pos"], n["hash"]) for n in pending.nodes],
    )
    connection.exec_driver_sql(
        "UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1", (pending.size, edge)
    )
    connection.exec_driver_sql(
        "INSERT INTO audit_checkpoints (size, root, note, at) VALUES (?, ?, ?, ?)",
        (pending.size, tree_root, note, stamp(at)),
    )


def _sqlite_time(at: datetime) -> str:
    """A UTC time as SQLAlchemy stores DATETIME in SQLite (and reads back)."""
    return _naive(at).strftime("%Y-%m-%d %H:%M:%S.%f")


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _pg_columns(pending: _Pending, edge: bytes, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The parameters of :data:`_PG_FINISH`: every column as one array."""
    entries = pending.entries
    return {
        "seq": [e["seq"] for e in entries],
        "kind": [e["kind"] for e in entries],
        "actor": [e["actor"] for e in entries],
        "at": [_naive(e["at"]) for e in entries],
        "data": [e["data"] for e in entries],
        "pos": [n["pos"] for n in pending.nodes],
        "hash": [n["hash"] for n in pending.nodes],
        "size": pending.size,
        "frontier": edge,
        "root": checkpoint["root"],
        "note": checkpoint["note"],
        "checkpoint_at": _naive(checkpoint["at"]),
    }


def fetch_nodes(
    session: Session, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the given perfect subtrees, in one query."""
    keys = {pos(level, index): (level, index) for level, index in wanted}
    found = {}
    missing = list(keys)
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


def root(session: Session, size: int) -> bytes:
    """The root hash of the first ``size`` entries, from the stored nodes."""
    nodes = fetch_nodes(session, merkle.perfect_nodes(0, size))
    return merkle.range_hash(0, size, _lookup(nodes))


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

    def view(self) -> ProofView:
        return ProofView(
            entry=self.seq,
            tree_size=self.size,
            leaf_hash=self.leaf_hash.hex(),
            proof=[h.hex() for h in self.proof],
            root_hash=self.root.hex(),
            checkpoint=self.checkpoint,
            data=self.entry.decode(),
            verifies=self.verifies(),
        )


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


def list_entries(session: Session, *, limit: int, offset: int) -> Page[AuditEntryView]:
    """Audit entries, newest first; ``data`` is the leaf bytes as text."""
    total = session.execute(select(func.count()).select_from(m.AuditEntry)).scalar_one()
    rows = session.scalars(
        select(m.AuditEntry).order_by(m.AuditEntry.seq.desc()).limit(limit).offset(offset)
    ).all()
    items = [
        AuditEntryView.from_row(r, data=bytes(r.data).decode("utf-8", "replace")) for r in rows
    ]
    return Page(items=items, limit=limit, offset=offset, total=total)
