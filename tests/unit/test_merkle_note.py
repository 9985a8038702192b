"""Signed notes and checkpoints (C2SP): round trip, Go-compatible keys, tamper detection."""

from __future__ import annotations

import base64

import pytest

from bakery.registry.audit.note import (
    DASH,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    key_hash,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

# golang.org/x/mod/sumdb/note's documented example key pair (note_test.go / package docs)
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_go_keys_decode_and_verify_the_go_example() -> None:
    signer = Signer.decode(GO_SKEY)
    verifier = Verifier.decode(GO_VKEY)
    assert signer.verifier == verifier
    assert signer.encode() == GO_SKEY
    assert verifier.encode() == GO_VKEY
    text = open_note(GO_NOTE, verifier)
    assert text.startswith("If you think cryptography")
    # Ed25519 is deterministic: signing the same text gives Go's signature line
    assert signer.sign(text) == GO_NOTE


def test_key_hash_definition() -> None:
    verifier = Verifier.decode(GO_VKEY)
    assert key_hash("PeterNeumann", verifier.public).hex() == "c74f20a3"


def test_checkpoint_round_trip() -> None:
    signer = Signer.generate("bakery.local/audit")
    checkpoint = Checkpoint(origin="bakery.local/audit", size=12345, root=bytes(range(32)))
    note = sign_checkpoint(checkpoint, signer)
    lines = note.split("\n")
    assert lines[:3] == ["bakery.local/audit", "12345", base64.b64encode(bytes(range(32))).decode()]
    assert lines[3] == ""
    assert lines[4].startswith(f"{DASH} bakery.local/audit ")
    sig = base64.b64decode(lines[4].rsplit(" ", 1)[1])
    assert sig[:4] == signer.verifier.hash and len(sig) == 68
    assert open_checkpoint(note, signer.verifier, origin="bakery.local/audit") == checkpoint


def test_tampered_notes_are_refused() -> None:
    signer = Signer.generate("log")
    note = sign_checkpoint(Checkpoint("log", 7, b"\x01" * 32), signer)
    with pytest.raises(NoteError):
        open_checkpoint(note.replace("\n7\n", "\n8\n"), signer.verifier)
    with pytest.raises(NoteError):  # another key's signature is no signature
        open_checkpoint(note, Signer.generate("log").verifier)
    with pytest.raises(NoteError):
        open_checkpoint(note, signer.verifier, origin="other")
    sig_line = note.split("\n")[4]
    blob = base64.b64decode(sig_line.rsplit(" ", 1)[1])
    forged = blob[:10] + bytes([blob[10] ^ 1]) + blob[11:]
    with pytest.raises(NoteError):
        open_note(
            note.replace(sig_line.rsplit(" ", 1)[1], base64.b64encode(forged).decode()),
            signer.verifier,
        )
    for broken in ("", "log\n7\n", note.replace(DASH, "-"), note.rstrip("\n")):
        with pytest.raises(NoteError):
            open_checkpoint(broken, signer.verifier)


def test_malformed_checkpoints() -> None:
    for text in (
        "log\n\nAAAA\n",
        "log\n07\n" + base64.b64encode(b"x" * 32).decode() + "\n",
        "log\n1\nAAAA\n",
    ):
        with pytest.raises(NoteError):
            Checkpoint.parse(text)
