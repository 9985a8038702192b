"""Signing and verification: cosign key pairs, DSSE, in-toto statements, SLSA provenance,
cosign's legacy ``.sig``/``.att`` storage (written natively into the local store, read from
any :class:`~bakery.oci.source.ContentSource`), verification, and an adapter over the real
``cosign`` binary for registry references and KMS keys.
"""
