"""`bakery push` and `bakery copy` never move a tag the metadata registry's tag rules make
immutable: they read what the remote tag points at first, and refuse before sending anything."""

from __future__ import annotations

import json
from pathlib import Path

from bakery.oci.layout import OCILayout
from tests.conftest import bakery
from tests.integration.registry_fixtures import Registry, make_image, registry

__all__ = ["registry"]  # the fixture, imported explicitly


def _remote_digest(host: str, path: str, store: Path) -> str:
    pulled = bakery("pull", f"{host}/{path}", "--store", store, "--json")
    assert pulled.returncode == 0, pulled.stderr
    return str(json.loads(pulled.stdout)["digest"])


def test_push_and_copy_never_move_an_immutable_tag(registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / ".bakery"
    layout = OCILayout.open(store / "oci")
    first = make_image(layout, "team/app:1", [2000], seed=1)
    second = make_image(layout, "team/app:2", [2000], seed=2)
    rule = bakery("tag-rules", "add", "team/*:1", "--store", store)
    assert rule.returncode == 0, rule.stderr
    dest = registry.ref("team/app:1")

    assert bakery("push", "team/app:1", dest, "--store", store).returncode == 0
    again = bakery("push", "team/app:1", dest, "--store", store)  # the same image: fine
    assert again.returncode == 0, again.stderr
    moved = bakery("push", "team/app:2", dest, "--store", store)
    assert moved.returncode != 0
    assert f"{dest} is immutable and points at {first.digest[:19]}" in moved.stderr
    assert len(moved.stderr.strip().splitlines()) == 1 and "Traceback" not in moved.stderr
    assert _remote_digest(registry.host, "team/app:1", tmp_path / "a") == first.digest

    assert (
        bakery("push", "team/app:2", registry.ref("team/app:2"), "--store", store).returncode == 0
    )
    copied = bakery("copy", registry.ref("team/app:2"), dest, "--store", store)
    assert copied.returncode != 0 and "is immutable" in copied.stderr, copied.stderr
    assert _remote_digest(registry.host, "team/app:1", tmp_path / "b") == first.digest

    # a tag no rule protects moves as before; without a registry database there is no rule
    loose = registry.ref("team/app:latest")
    for image in ("team/app:1", "team/app:2"):
        assert bakery("push", image, loose, "--store", store).returncode == 0
    assert _remote_digest(registry.host, "team/app:latest", tmp_path / "c") == second.digest
    other = tmp_path / "other"
    make_image(OCILayout.open(other / "oci"), "team/app:3", [2000], seed=3)
    unruled = bakery("push", "team/app:3", dest, "--store", other)
    assert unruled.returncode == 0, unruled.stderr
