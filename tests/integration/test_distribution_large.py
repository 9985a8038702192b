"""A 500 MB, 5-layer image pushed twice: the second push transfers no blob."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bakery.distribute.client import RegistryClient
from bakery.distribute.reference import Reference
from bakery.distribute.transfer import push
from bakery.oci.layout import OCILayout
from tests.conftest import bakery
from tests.integration.registry_fixtures import Registry, make_image, registry

__all__ = ["registry"]  # the fixture, imported explicitly

MB = 100 * (1 << 20)


class CountingTransport(httpx.HTTPTransport):
    """Records the method and path of every request that reaches the network."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return super().handle_request(request)


def test_500mb_image_pushed_twice_transfers_no_blob_the_second_time(
    registry: Registry, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    layout = OCILayout.open(store / "oci")
    image = make_image(layout, "big/app:1", [MB] * 5)
    total = sum(d.size for d in layout.walk_referenced(image))
    assert total > 500 * 1000 * 1000

    dest = registry.ref("big/app:1")
    first = bakery("push", "big/app:1", dest, "--store", store, "--json")
    assert first.returncode == 0, first.stderr
    pushed = json.loads(first.stdout)
    assert pushed["blobs_pushed"] == 6 and pushed["blobs_skipped"] == 0
    assert pushed["bytes_transferred"] == total - image.size

    second = bakery("push", "big/app:1", dest, "--store", store, "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["blobs_pushed"] == 0 and again["bytes_transferred"] == 0
    assert again["blobs_skipped"] == 6

    # and at the wire: a third push sends only HEADs and the manifest, no upload at all
    transport = CountingTransport()
    with RegistryClient(registry.host, transport=transport) as client:
        push(layout, "big/app:1", Reference.parse(dest), client)
    methods = [method for method, _ in transport.seen]
    assert "POST" not in methods and "PATCH" not in methods
    assert methods.count("HEAD") == 6
    assert all(
        path.startswith("/v2/big/app/manifests/") for m, path in transport.seen if m == "PUT"
    )
