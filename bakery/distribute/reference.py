"""Registry references: ``host[:port]/repo[/...][:tag][@sha256:...]``.

The grammar is Docker's (distribution/reference ``reference.go``): a domain is a host name, an
IPv4 address or a bracketed IPv6 address with an optional port; path components are lowercase
alphanumerics joined by ``.``, ``_``, ``__`` or dashes; a tag is ``[\\w][\\w.-]{0,127}``; the
whole name is at most 255 characters. Bakery has no default registry: the host is required.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from bakery.errors import UserError
from bakery.oci.digest import digest_hex, is_digest

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST_RE = re.compile(rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
MAX_NAME_LENGTH = 255

_EXAMPLE = "e.g. 127.0.0.1:5000/team/app:1.0 or registry.example.com/app@sha256:<hex>"


def _bad(text: str, why: str) -> UserError:
    return UserError(f"'{text}' is not a valid registry reference: {why}", hint=_EXAMPLE)


def _looks_like_host(first: str) -> bool:
    """Docker's rule: a first component is a registry host when it has a dot or a port, is
    ``localhost`` or an IPv6 literal (``team/app`` is a Docker Hub path, not a host)."""
    return "." in first or ":" in first or first == "localhost" or first.startswith("[")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed registry reference; ``tag`` and ``digest`` may both be set (the digest wins)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and validate ``text``; a UserError with a hint when it is malformed."""
        rest, at, digest = text.partition("@")
        if at and not is_digest(digest):
            raise _bad(text, f"'{digest}' is not a sha256:<64 lowercase hex> digest")
        host, slash, path = rest.partition("/")
        if not slash or not _looks_like_host(host) or _HOST_RE.fullmatch(host) is None:
            raise _bad(text, "it must start with the registry host (HOST[:PORT]/REPOSITORY)")
        name, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
        if colon and _TAG_RE.fullmatch(tag) is None:
            raise _bad(text, f"'{tag}' is not a valid tag")
        if _PATH_RE.fullmatch(name) is None:
            raise _bad(text, f"'{name}' is not a valid repository name (lowercase, digits, ._-/)")
        if len(host) + 1 + len(name) > MAX_NAME_LENGTH:
            raise _bad(text, f"the name is longer than {MAX_NAME_LENGTH} characters")
        return cls(registry=host, repository=name, tag=tag or None, digest=digest or None)

    @property
    def name(self) -> str:
        """``registry/repository``, the name without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str | None:
        """What addresses the manifest in the API: the digest if any, else the tag."""
        return self.digest or self.tag

    def with_tag(self, tag: str | None) -> Reference:
        """This reference with ``tag`` and no digest."""
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        """This reference pinned to ``digest`` (the tag is dropped)."""
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_loopback(registry: str) -> bool:
    """True when ``registry`` (``host[:port]``) is localhost, 127.0.0.0/8 or ::1."""
    host = registry[1 : registry.find("]")] if registry.startswith("[") else registry.split(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fallback_tag(digest: str) -> str:
    """The referrers fallback tag of ``digest`` (OCI distribution spec): ``sha256-<hex>``."""
    return f"sha256-{digest_hex(digest)}"
