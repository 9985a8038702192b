"""Which image a reference names: one in the local store (and its repository) or a registry's."""

from __future__ import annotations

from dataclasses import dataclass

from bakery.errors import UserError
from bakery.oci.layout import OCILayout


@dataclass(frozen=True)
class LocalImage:
    """An image of the local store: its repository (``golden/nginx``) and manifest digest."""

    repository: str
    digest: str


def is_registry_ref(ref: str) -> bool:
    """True when ``ref`` starts with a registry host (Docker's rule: a first component with a
    ``.`` or ``:``, or ``localhost``); local store names (``golden/nginx:1.22``) do not."""
    first, slash, _ = ref.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def repository_of(ref: str) -> str:
    """``golden/debian-base:12`` or ``…@sha256:…`` → ``golden/debian-base``."""
    name = ref.partition("@")[0]
    head, _, last = name.rpartition("/")
    last = last.partition(":")[0]
    return f"{head}/{last}" if head else last


def local_image(layout: OCILayout, ref: str) -> LocalImage:
    """Resolve ``ref`` (a tag, ``name@sha256:…`` or a bare digest) in the store.

    A bare digest takes the repository of a tag that points at it; signatures are kept per
    repository, as in a registry.
    """
    desc = layout.resolve(ref)
    if not ref.startswith("sha256:"):
        return LocalImage(repository=repository_of(ref), digest=desc.digest)
    names = sorted(
        repository_of(name)
        for name, tagged in layout.tags()
        if tagged.digest == desc.digest and not name.rpartition(":")[2].startswith("sha256-")
    )
    if not names:
        raise UserError(
            f"no tag points at {desc.digest}, so its repository is unknown",
            hint="name the image by its tag (NAME:TAG) or as NAME@sha256:…",
        )
    return LocalImage(repository=names[0], digest=desc.digest)
