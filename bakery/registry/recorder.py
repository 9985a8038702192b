"""Where a bake is recorded: one interface, two implementations.

:class:`Recorder` is what the pipeline records through, never asking where it records.
:class:`LocalRecorder` writes into the metadata registry directly (the store's SQLite, or a
``--database-url``); the other implementation, ``ServiceRecorder``, is the HTTP client of
``bakery serve`` (it lives with the service), which the CLI picks for ``--registry-url``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from bakery.registry.db import DB_FILE, Registry, open_registry
from bakery.registry.facts import ArtifactFact
from bakery.registry.record import record_artifact
from bakery.registry.revocation import ensure_not_revoked
from bakery.registry.signatures import record_signature, recorded_signatures
from bakery.registry.tags import ensure_movable
from bakery.registry.trust import trust_on_first_use
from bakery.sign.evidence import SignedObject
from bakery.sign.keys import PublicKey

#: (kind, predicate type) of a recorded signature or attestation
SignatureKey = tuple[str, str | None]


class Recorder(Protocol):
    """The metadata registry as a bake sees it."""

    #: where records go, for progress lines (``bakery.db``, ``--database-url``, a URL)
    @property
    def where(self) -> str: ...

    def record(self, facts: Sequence[ArtifactFact]) -> Mapping[str, int | None]:
        """Record ``facts`` in order (bases first); each digest's audit entry (None: nothing
        was new)."""
        ...

    def signatures(self, digest: str, key_id: str) -> set[SignatureKey]:
        """What ``key_id`` has signed and attested of ``digest``, as recorded."""
        ...

    def record_signature(
        self, digest: str, signed: SignedObject, *, signer: PublicKey
    ) -> int | None:
        """Submit a signature or attestation as signed; the registry verifies it with the keys
        it trusts for the repository before recording it. Its audit entry (None: it was
        recorded before). ``signer`` is the key the bake signed with: the embedded registry
        trusts it for a repository that has no trusted key yet (trust on first use); a
        service trusts only the keys its admins configured."""
        ...

    def ensure_not_revoked(self, digest: str, *, what: str) -> bool:
        """Raise a UserError naming the revocation when ``digest`` is revoked; False when
        there is no registry to ask (nothing recorded, so nothing revoked)."""
        ...

    def ensure_tags_movable(self, moves: Mapping[str, str]) -> None:
        """Raise ImmutableTag when a tag of ``moves`` (``repo:tag`` → digest) is protected by
        a tag rule and points at another artifact (called before anything is tagged)."""
        ...

    def close(self) -> None: ...


class LocalRecorder:
    """Records into the registry library: the store's ``bakery.db``, or ``database_url``.

    The database is opened on first use, so a bake that records nothing creates none; with no
    database yet, nothing can have been revoked.
    """

    def __init__(self, store_root: Path, database_url: str | None, *, actor: str) -> None:
        self._root = store_root
        self._url = database_url
        self._actor = actor
        self._registry: Registry | None = None

    @property
    def where(self) -> str:
        return "--database-url" if self._url else DB_FILE

    def _nothing_recorded(self) -> bool:
        """No database here yet: nothing can be revoked, no tag protected."""
        return self._registry is None and self._url is None and not (self._root / DB_FILE).exists()

    def _open(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self._root, self._url)
        return self._registry

    def record(self, facts: Sequence[ArtifactFact]) -> Mapping[str, int | None]:
        """All of ``facts`` in one transaction."""
        with self._open().write() as session:
            done = [record_artifact(session, fact, actor=self._actor) for fact in facts]
        return {recorded.digest: recorded.audit_entry for recorded in done}

    def signatures(self, digest: str, key_id: str) -> set[SignatureKey]:
        return recorded_signatures(self._open(), digest, key_id=key_id)

    def record_signature(
        self, digest: str, signed: SignedObject, *, signer: PublicKey
    ) -> int | None:
        registry = self._open()
        trust_on_first_use(registry, digest, signer, actor=self._actor)
        return record_signature(registry, digest, signed, actor=self._actor)

    def ensure_not_revoked(self, digest: str, *, what: str) -> bool:
        if self._nothing_recorded():
            return False
        ensure_not_revoked(self._open(), digest, what=what)
        return True

    def ensure_tags_movable(self, moves: Mapping[str, str]) -> None:
        if self._nothing_recorded():
            return
        ensure_movable(self._open(), moves)

    def close(self) -> None:
        if self._registry is not None:
            self._registry.dispose()
            self._registry = None
