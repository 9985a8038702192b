"""RFC 6962 Merkle trees against the published test vectors and a brute-force reference.

The vectors (8 leaves, roots of sizes 1..8, inclusion and consistency proofs) are the ones in
transparency-dev/merkle proof/verify_test.go (originally certificate-transparency-go).
"""

from __future__ import annotations

import hashlib

import pytest

from bakery.registry.audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    root_of,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAVES = [
    b"",
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (1-based leaf, tree size, proof)
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_hash_definitions() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == ROOTS[0]  # the one-leaf tree of the empty leaf
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_published_vectors(size: int) -> None:
    tree = MemoryTree(LEAVES[:size])
    assert tree.root() == ROOTS[size - 1]
    assert root_of([leaf_hash(x) for x in LEAVES[:size]]) == ROOTS[size - 1]
    assert MemoryTree(LEAVES).root(size) == ROOTS[size - 1]  # roots of earlier sizes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_of_the_published_vectors(
    leaf: int, size: int, proof: list[bytes]
) -> None:
    tree = MemoryTree(LEAVES)
    assert tree.inclusion_proof(leaf - 1, size) == proof
    assert verify_inclusion(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_published_vectors(
    old: int, new: int, proof: list[bytes]
) -> None:
    tree = MemoryTree(LEAVES)
    assert tree.consistency_proof(old, new) == proof
    assert verify_consistency(old, new, proof, ROOTS[old - 1], ROOTS[new - 1])


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(leaf: int, size: int, proof: list[bytes]) -> None:
    index, root, lh = leaf - 1, ROOTS[size - 1], leaf_hash(LEAVES[leaf - 1])
    bad = [
        (index - 1, size, lh, proof, root),
        (index + 1, size, lh, proof, root),
        (index ^ 2, size, lh, proof, root),
        (index, size * 2, lh, proof, root),
        (index, size // 2, lh, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, lh, proof, EMPTY_ROOT),
        (index, size, lh, proof, SOME_HASH),
        (index, size, lh, [*proof, b""], root),
        (index, size, lh, [*proof, root], root),
        (index, size, lh, [b"", *proof], root),
        (index, size, lh, [root, *proof], root),
        (index, size, lh, proof[:-1], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((index, size, lh, flipped, root))
    if len(proof) > 1:
        bad.append((index, size, lh, [proof[0], SOME_HASH, *proof[1:]], root))
    for case in bad:
        assert not verify_inclusion(*case), case


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    bad = [
        (old - 1, new, proof, r1, r2),
        (old + 1, new, proof, r1, r2),
        (old ^ 2, new, proof, r1, r2),
        (old, new * 2, proof, r1, r2),
        (old, new // 2, proof, r1, r2),
        (old, new, proof, b"WrongRoot", r2),
        (old, new, proof, r1, b"WrongRoot"),
        (old, new, proof, r2, r1),
        (old, new, [], r1, r2),
        (old, new, [*proof, b""], r1, r2),
        (old, new, [*proof, r1], r1, r2),
        (old, new, [*proof, r2], r1, r2),
        (old, new, [b"", *proof], r1, r2),
        (old, new, [r1, *proof], r1, r2),
        (old, new, [r2, *proof], r1, r2),
        (old, new, [proof[0], *proof], r1, r2),
        (old, new, proof[:-1], r1, r2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((old, new, flipped, r1, r2))
    for case in bad:
        if case[0] == case[1] == 0 or (case[0] == 0 and not case[2]):
            continue  # an empty tree is consistent with every tree
        assert not verify_consistency(*case), case


def test_trivial_consistency_cases() -> None:
    r1, r2 = b"don't care 1", b"don't care 2"
    assert not verify_consistency(0, 0, [], r1, r2)
    assert not verify_consistency(1, 1, [], r1, r2)
    assert verify_consistency(0, 0, [], r1, r1)
    assert verify_consistency(0, 1, [], r1, r2)
    assert verify_consistency(1, 1, [], r2, r2)
    assert not verify_consistency(1, 0, [], r1, r2)
    assert not verify_consistency(2, 1, [], r1, r2)
    assert not verify_consistency(1, 2, [], r1, r2)
    assert not verify_consistency(0, 0, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)
    assert not verify_consistency(1, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)


def test_single_entry_inclusion() -> None:
    lh = leaf_hash(b"data")
    assert verify_inclusion(0, 1, lh, [], lh)
    assert not verify_inclusion(0, 1, b"", [], lh)
    assert not verify_inclusion(0, 1, lh, [], b"")
    for index, size in ((0, 0), (1, 0), (2, 1)):
        assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
        with pytest.raises(ProofError):
            inclusion_ranges(index, size)


def test_every_size_up_to_70_against_brute_force() -> None:
    """Proofs of every leaf and every old size, non-powers of two included."""
    data = [f"entry {i}".encode() for i in range(70)]
    tree = MemoryTree(data)
    hashes = [leaf_hash(x) for x in data]
    for size in range(1, 71):
        root = root_of(hashes[:size])
        assert tree.root(size) == root
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert root_from_inclusion(index, size, hashes[index], proof) == root
            assert not verify_inclusion(index, size, hashes[(index + 1) % 70], proof, root)
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old, size)
            assert verify_consistency(old, size, proof, root_of(hashes[:old]), root)
            if old < size:
                assert not verify_consistency(old, size, proof, root_of(hashes[: old - 1]), root)
    with pytest.raises(ProofError):
        consistency_ranges(5, 4)
