"""TLS is verified by default, even on loopback; never silently downgraded to plain HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from bakery.oci.layout import OCILayout
from tests.conftest import bakery
from tests.integration.registry_fixtures import Registry, make_image, tls_registry

__all__ = ["tls_registry"]  # the fixture, imported explicitly


def test_tls_registry_verified_trusted_or_insecure(tls_registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    image = make_image(OCILayout.open(store / "oci"), "test/app:1", [5000])
    dest = tls_registry.ref("team/app:1")

    refused = bakery("push", "test/app:1", dest, "--store", store)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"the TLS certificate of registry {tls_registry.host} does not verify" in lines[0]
    assert "SSL_CERT_FILE" in lines[0]

    assert tls_registry.certificate is not None
    trusted = {"SSL_CERT_FILE": str(tls_registry.certificate)}
    done = bakery("push", "test/app:1", dest, "--store", store, "--json", env=trusted)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["digest"] == image.digest

    pulled = bakery("pull", dest, "--store", tmp_path / "other", "--insecure", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == image.digest
