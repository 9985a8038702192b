"""The metadata registry: where every artifact came from, where it is used, and who said so.

``db``          open the database (SQLite ``<store>/bakery.db`` or PostgreSQL), migrations
``models``      the tables (append-only facts: tag events, channel assignments, revocations)
``facts``       what a bake records, one model per fact (the API's request body)
``fields``      the constrained field types: digests, bounded printable text
``record``      a bake as facts (:func:`record.bake_facts`) and their recording
``recorder``    the Recorder interface a bake records through, and its local implementation
``queries``     packages in a version range, vulnerabilities, lineage, builds, evidence
``views``       what every query returns, one model per concept (the API's response models)
``artifacts``   artifacts listed, and an artifact's parts: scan, packages, findings, SBOMs
``channels``    promote, rollback, history, what a channel pointed at when
``revocation``  revoke (with cascade), :func:`revocation.is_revoked`
``current``     what holds now: an artifact's tags, the channels at it, whether revoked
``tags``        tag history and immutability rules
``signatures``  signatures and attestations of artifacts
``tokens``      API tokens (scrypt-hashed) with roles
``versionkey``  byte keys that sort like dpkg, PEP 440 and SemVer versions
``audit/``      the RFC 6962 audit log, its signed checkpoints and its verification
"""
