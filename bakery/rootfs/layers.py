"""Materialise an image's filesystem from its layers (safely: no entry escapes ``dest``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from bakery.oci.apply import apply_layer
from bakery.oci.archive import open_layer_uncompressed
from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor


def apply_layers(
    layout: OCILayout,
    layers: Iterable[Descriptor],
    dest: Path,
    *,
    on_warning: Callable[[str], None] | None = None,
) -> None:
    """Apply ``layers`` (base first) from the store onto the directory ``dest``."""
    for layer in layers:
        with open_layer_uncompressed(layout, layer) as stream:
            apply_layer(stream, dest, on_warning=on_warning)
