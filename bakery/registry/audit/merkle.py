"""RFC 6962 Merkle trees (§2.1; verification as RFC 9162 §2.1.3.2 and §2.1.4.2).

Hashes are SHA-256: a leaf is ``H(0x00 || data)``, an interior node ``H(0x01 || left ||
right)``, the empty tree ``H("")``. A tree of ``n`` leaves splits at ``k``, the largest power of
two smaller than ``n``.

Proofs are built over *ranges* ``[start, end)`` of leaves: :func:`inclusion_ranges` and
:func:`consistency_ranges` follow RFC 6962's ``PATH`` and ``SUBPROOF`` recursions and return the
ranges whose hashes form the proof. Every such range is a run of complete ("perfect") subtrees,
:func:`perfect_nodes`, each named by ``(level, index)``: the subtree of ``2**level`` leaves
starting at leaf ``index * 2**level``. A store that keeps those node hashes (the audit log keeps
them in a table) answers any proof with one lookup per node, ``O(log² n)`` at worst.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: the hash of the perfect subtree ``(level, index)``
NodeLookup = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof or its parameters are malformed (distinct from a proof that does not verify)."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` of a list of leaf hashes, by the definition (reference and tests)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def perfect_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` that make up ``[start, end)``, left to right.

    Works for any range whose ``start`` is aligned to the largest subtree it needs, which is
    true of every range RFC 6962's proofs and roots use (``[0, n)`` and the ranges below).
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """``MTH(D[start:end])`` from perfect subtree hashes, folding from the right."""
    if start == end:
        return EMPTY_ROOT
    hashes = [node(level, index) for level, index in perfect_nodes(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes are ``PATH(index, D[size])``, bottom first (RFC 6962 §2.1.1)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges whose hashes are ``PROOF(old, D[new])`` (RFC 6962 §2.1.2)."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    return ranges[::-1]


def hashes_for(ranges: Iterable[tuple[int, int]], node: NodeLookup) -> list[bytes]:
    """The hash of every range (a proof, once the ranges come from a ``*_ranges`` function)."""
    return [range_hash(start, end, node) for start, end in ranges]


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Every perfect subtree the ranges need: what to fetch before :func:`hashes_for`."""
    return {pair for start, end in ranges for pair in perfect_nodes(start, end)}


def _check_sizes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); ProofError when malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_sizes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root``."""
    try:
        _check_sizes(root)
        return root_from_inclusion(index, size, leaf, proof) == root
    except ProofError:
        return False


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """True when ``proof`` shows the tree ``old_root`` is a prefix of ``new_root``.

    RFC 9162 §2.1.4.2; an empty old tree is consistent with anything (empty proof), equal
    sizes need equal roots and an empty proof.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof or any(len(h) != HASH_SIZE for h in (*proof, old_root, new_root)):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class MemoryTree:
    """A whole tree in memory: the reference the database-backed log is tested against."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.leaf_hashes: list[bytes] = []
        self._nodes: dict[tuple[int, int], bytes] = {}
        for data in leaves:
            self.append(data)

    def append(self, data: bytes) -> int:
        """Add a leaf; returns its index. Completed subtrees are hashed as they complete."""
        index = len(self.leaf_hashes)
        h = leaf_hash(data)
        self.leaf_hashes.append(h)
        for level, i, value in completed_nodes(index, h, self.node):
            self._nodes[(level, i)] = value
        return index

    def node(self, level: int, index: int) -> bytes:
        """The hash of a perfect subtree."""
        return self.leaf_hashes[index] if level == 0 else self._nodes[(level, index)]

    @property
    def size(self) -> int:
        return len(self.leaf_hashes)

    def root(self, size: int | None = None) -> bytes:
        return range_hash(0, self.size if size is None else size, self.node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return hashes_for(inclusion_ranges(index, self.size if size is None else size), self.node)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return hashes_for(consistency_ranges(old, self.size if new is None else new), self.node)


def completed_nodes(index: int, leaf: bytes, node: NodeLookup) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees that appending leaf ``index`` (hash ``leaf``) completes.

    Always ``(0, index, leaf)``, then one node a level up for every trailing 1 bit of
    ``index``: each needs only its left sibling, already stored. Amortised two nodes a leaf.
    """
    out = [(0, index, leaf)]
    level, i, h = 0, index, leaf
    while i & 1:
        left = node(level, i - 1)
        h = node_hash(left, h)
        level, i = level + 1, i >> 1
        out.append((level, i, h))
    return out
