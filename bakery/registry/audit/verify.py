"""``bakery audit verify``: recompute the whole tree and check everything it vouches for.

- entries are numbered 0..n-1 with no gap and n is the head's size (a deleted entry shows);
- every stored node equals the node recomputed from the entries' bytes (an edited entry or
  node shows);
- every checkpoint's signature verifies and its root is the recomputed root at its size (on
  later runs, the checkpoints since the last accepted one: the older ones were checked then);
- the last checkpoint this command accepted before (kept in the store, outside the database)
  is consistent with the current tree, by an RFC 6962 consistency proof;
- every row an entry covers still hashes to what the entry recorded (an edited or deleted row
  shows); a row of a table updated in place (tokens: a revocation) to what the latest entry
  covering it recorded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.registry import models as m
from bakery.registry.audit import merkle
from bakery.registry.audit.log import LEVEL_SHIFT, consistency_proof, frontier_of
from bakery.registry.audit.note import Checkpoint, NoteError, Verifier, open_checkpoint
from bakery.registry.audit.rows import UPDATED_IN_PLACE, Covered, canonical, current_digests
from bakery.registry.versionkey import try_version_key
from bakery.registry.views import VerifyView

#: the store file that keeps the last checkpoint `audit verify` accepted (its trust anchor)
VERIFIED_CHECKPOINT = "audit.verified-checkpoint"

_BATCH = 5000


class RunCounter:
    """How many verifications this process has run (thread-safe): the service's measure,
    and what proves that reading a result runs none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        with self._lock:
            return self._value


#: every :func:`verify_log` call in this process counts here
RUNS = RunCounter()


@dataclass
class VerifyReport:
    """What ``audit verify`` found; ``ok`` when it found nothing wrong."""

    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    rows_checked: int = 0
    consistent_with: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def view(self) -> VerifyView:
        return VerifyView(
            ok=self.ok,
            size=self.size,
            root_hash=self.root.hex(),
            checkpoints=self.checkpoints,
            rows_checked=self.rows_checked,
            consistent_with_size=self.consistent_with,
            problems=self.problems,
        )


def verify_log(
    session: Session, verifier: Verifier | Sequence[Verifier], *, trusted: Path | None = None
) -> VerifyReport:
    """Check the log end to end; with ``trusted`` (a file), also against and then update it.

    ``verifier`` is the key checkpoints must be signed with, or the keys of every writer
    (builders sharing one PostgreSQL database each sign with their own store's key).
    """
    RUNS.add()
    keys = [verifier] if isinstance(verifier, Verifier) else list(verifier)
    size = session.execute(select(m.AuditHead.size).where(m.AuditHead.id == 1)).scalar_one_or_none()
    report = VerifyReport(size=size or 0)
    tree = _recompute(session, report)
    _check_nodes(session, tree, report)
    _check_head(session, tree, report)
    report.root = tree.root() if tree.size else merkle.EMPTY_ROOT
    anchor = _read_trusted(keys, trusted, report) if trusted is not None else None
    _check_checkpoints(session, keys, tree, report, since=anchor.size if anchor else 0)
    if anchor is not None:
        _check_consistency(session, tree, anchor, report)
    _check_rows(session, report)
    _check_packages(session, report)
    if report.ok and trusted is not None:
        latest = session.scalars(
            select(m.AuditCheckpoint).order_by(m.AuditCheckpoint.id.desc()).limit(1)
        ).first()
        if latest is not None:
            _save_trusted(trusted, latest.note)
    return report


def _recompute(session: Session, report: VerifyReport) -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    expected = 0
    query = select(
        m.AuditEntry.seq, m.AuditEntry.kind, m.AuditEntry.actor, m.AuditEntry.at, m.AuditEntry.data
    ).order_by(m.AuditEntry.seq)
    for seq, kind, actor, at, data in session.execute(query).yield_per(_BATCH):
        if seq != expected:
            report.problems.append(f"audit entries {expected}..{seq - 1} are missing")
            expected = seq
        tree.append(bytes(data))
        _check_columns(seq, {"kind": kind, "actor": actor, "at": at}, bytes(data), report)
        expected += 1
    if expected != report.size:
        report.problems.append(
            f"the log should hold {report.size} entries but {expected} are numbered"
        )
    return tree


def _check_columns(seq: int, columns: dict[str, object], data: bytes, report: VerifyReport) -> None:
    """The entry's columns (what the API, the UI and the CLI show) are its hashed bytes'."""
    try:
        hashed = json.loads(data)
    except ValueError:
        return  # reported with the covered rows
    shown = json.loads(canonical({"seq": seq, **columns}))
    differ = sorted(
        k for k, v in shown.items() if not isinstance(hashed, dict) or hashed.get(k) != v
    )
    if differ:
        report.problems.append(
            f"audit entry {seq}: its {', '.join(differ)} column(s) differ from the hashed entry"
        )


def _check_packages(session: Session, report: VerifyReport) -> None:
    """Each package's sort key is the one its version gives (queries search by it)."""
    bad = 0
    query = select(m.Package.purl, m.Package.type, m.Package.version, m.Package.version_key)
    for purl, package_type, version, key in session.execute(query).yield_per(_BATCH):
        expected = try_version_key(package_type, version)
        if (None if key is None else bytes(key)) != expected:
            bad += 1
            if bad <= 10:
                report.problems.append(f"package {purl}: its version_key is not its version's")


def _check_nodes(session: Session, tree: merkle.MemoryTree, report: VerifyReport) -> None:
    bad = 0
    seen = 0
    for key, value in session.execute(select(m.AuditNode.pos, m.AuditNode.hash)).yield_per(_BATCH):
        level, index = key >> LEVEL_SHIFT, key & ((1 << LEVEL_SHIFT) - 1)
        seen += 1
        try:
            expected = tree.node(level, index)
        except (KeyError, IndexError):
            report.problems.append(f"tree node ({level}, {index}) has no entries under it")
            continue
        if bytes(value) != expected:
            bad += 1
            if bad <= 10:
                first = index << level
                report.problems.append(
                    f"tree node ({level}, {index}) does not match entries "
                    f"{first}..{first + (1 << level) - 1}: an entry or node was edited"
                )
    wanted = sum(tree.size >> level for level in range(tree.size.bit_length()))
    if seen != wanted:
        report.problems.append(f"{wanted - seen} tree nodes are missing")


def _check_head(session: Session, tree: merkle.MemoryTree, report: VerifyReport) -> None:
    edge = session.execute(
        select(m.AuditHead.frontier).where(m.AuditHead.id == 1)
    ).scalar_one_or_none()
    if edge is None:
        report.problems.append("the log's head is missing")
    elif bytes(edge) != b"".join(frontier_of(tree.size, tree.node)):
        report.problems.append("the log's head (its right edge) does not match the entries")


def open_by_any(note: str, keys: Sequence[Verifier]) -> Checkpoint:
    """The checkpoint in ``note`` signed by one of ``keys`` (its origin is that key's name)."""
    error = NoteError("no trusted key")
    for key in keys:
        try:
            return open_checkpoint(note, key, origin=key.name)
        except NoteError as exc:
            error = exc
    raise error


def _check_checkpoints(
    session: Session,
    keys: Sequence[Verifier],
    tree: merkle.MemoryTree,
    report: VerifyReport,
    *,
    since: int,
) -> None:
    """Check the signature and root of every checkpoint of ``since`` entries or more: those
    below the trust anchor were checked by the run that accepted it (their roots are in the
    tree the anchor's consistency proof vouches for)."""
    latest = None
    query = (
        select(m.AuditCheckpoint)
        .where(m.AuditCheckpoint.size >= since)
        .order_by(m.AuditCheckpoint.id)
        .execution_options(yield_per=_BATCH)
    )
    for row in session.scalars(query):
        report.checkpoints += 1
        try:
            checkpoint = open_by_any(row.note, keys)
        except NoteError as exc:
            report.problems.append(f"checkpoint {row.id}: {exc.message}")
            continue
        if checkpoint.size != row.size or checkpoint.root != bytes(row.root):
            report.problems.append(f"checkpoint {row.id}: its columns differ from its signed note")
        if checkpoint.size > tree.size or tree.root(checkpoint.size) != checkpoint.root:
            report.problems.append(
                f"checkpoint {row.id} (size {checkpoint.size}) does not match the entries"
            )
        latest = checkpoint
    if latest is None:
        if tree.size:
            report.problems.append("no signed checkpoint covers the log")
    elif latest.size != tree.size:
        report.problems.append(
            f"the last checkpoint covers {latest.size} entries but the log has {tree.size}"
        )


def _read_trusted(
    keys: Sequence[Verifier], trusted: Path, report: VerifyReport
) -> Checkpoint | None:
    """The checkpoint accepted by the last run (None on a first run, or when unreadable)."""
    if not trusted.exists():
        return None
    try:
        return open_by_any(trusted.read_text(encoding="utf-8"), keys)
    except (NoteError, OSError, UnicodeDecodeError) as exc:
        report.problems.append(f"the last verified checkpoint {trusted} is unreadable: {exc}")
        return None


def _check_consistency(
    session: Session, tree: merkle.MemoryTree, old: Checkpoint, report: VerifyReport
) -> None:
    if old.size > tree.size:
        report.problems.append(
            f"the log shrank: {old.size} entries were verified before, {tree.size} remain"
        )
        return
    # the stored nodes answer the proof, unless they were found edited above
    if report.problems:
        proof = tree.consistency_proof(old.size)
    else:
        proof = consistency_proof(session, old.size, tree.size)
    new_root = tree.root() if tree.size else merkle.EMPTY_ROOT
    if not merkle.verify_consistency(old.size, tree.size, proof, old.root, new_root):
        report.problems.append(
            f"the log is not consistent with the checkpoint verified before (size {old.size}):"
            " entries were rewritten"
        )
    else:
        report.consistent_with = old.size


def _save_trusted(path: Path, note: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(note, encoding="utf-8")
    tmp.replace(path)


def _check_rows(session: Session, report: VerifyReport) -> None:
    entries = session.execute(
        select(m.AuditEntry.seq, m.AuditEntry.data).order_by(m.AuditEntry.seq)
    ).yield_per(_BATCH)
    latest: dict[tuple[str, tuple[tuple[str, int], ...]], tuple[int, Covered]] = {}
    for batch in entries.partitions():
        covering: list[tuple[int, Covered]] = []
        for seq, data in batch:
            try:
                rows = json.loads(bytes(data))["rows"]
            except (ValueError, KeyError, TypeError):
                report.problems.append(f"audit entry {seq} is not valid JSON")
                continue
            for raw in rows:
                covered = Covered.from_json(raw)
                if covered.table in UPDATED_IN_PLACE:  # entries come in order: the last wins
                    latest[(covered.table, tuple(sorted(covered.key.items())))] = (seq, covered)
                else:
                    covering.append((seq, covered))
        _compare_rows(session, covering, report)
    _compare_rows(session, sorted(latest.values(), key=lambda item: item[0]), report)


def _compare_rows(
    session: Session, covering: list[tuple[int, Covered]], report: VerifyReport
) -> None:
    now = current_digests(session, [covered for _, covered in covering])
    report.rows_checked += len(covering)
    for (seq, covered), digest in zip(covering, now, strict=True):
        if digest is None:
            report.problems.append(
                f"entry {seq}: the {covered.table} row {covered.key} it covers is gone"
            )
        elif digest != covered.digest:
            report.problems.append(f"entry {seq}: the {covered.table} row {covered.key} was edited")


__all__ = ["RUNS", "Checkpoint", "VerifyReport", "verify_log"]
