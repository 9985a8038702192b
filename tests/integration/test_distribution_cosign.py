"""Real cosign verifies, in the registry, a signature bakery made locally and then pushed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bakery.oci.layout import OCILayout
from bakery.sign.keys import SigningKey
from bakery.sign.local import sign_image
from tests.conftest import bakery, require_tools
from tests.integration.registry_fixtures import Registry, make_image, registry

__all__ = ["registry"]  # the fixture, imported explicitly


def test_cosign_verifies_a_pushed_local_signature(registry: Registry, tmp_path: Path) -> None:
    require_tools("cosign")
    store = tmp_path / "store"
    layout = OCILayout.open(store / "oci")
    image = make_image(layout, "team/app:1", [4000])
    key = SigningKey.generate()
    sign_image(layout, "team/app", image.digest, key)
    public = tmp_path / "cosign.pub"
    public.write_bytes(key.public_key.pem())

    done = bakery("push", "team/app:1", registry.ref("team/app:1"), "--store", store, "--json")
    assert done.returncode == 0, done.stderr
    assert '.sig"' in done.stdout

    def verify(pub: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "cosign", "verify", "--key", str(pub), "--insecure-ignore-tlog",
                "--allow-insecure-registry", registry.ref(f"team/app@{image.digest}"),
            ],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    verified = verify(public)  # (tampered / other-key cases: tests/integration/test_signing_*)
    assert verified.returncode == 0, verified.stderr
    assert image.digest in verified.stdout
