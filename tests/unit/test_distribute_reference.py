"""Registry references (Docker's grammar), loopback detection and the fallback tag."""

from __future__ import annotations

import pytest

from bakery.distribute.reference import Reference, fallback_tag, is_loopback
from bakery.errors import UserError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", "1.0", None),
        ("localhost/app", "localhost", "app", None, None),
        ("registry.example.com/a/b/c", "registry.example.com", "a/b/c", None, None),
        (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", "org/app", None, DIGEST),
        (f"r.io:443/org/app:v1@{DIGEST}", "r.io:443", "org/app", "v1", DIGEST),
        ("[::1]:5000/x/y:latest", "[::1]:5000", "x/y", "latest", None),
        (
            "reg.io/my_app/sub-name.x__y:V1_2.3-rc",
            "reg.io",
            "my_app/sub-name.x__y",
            "V1_2.3-rc",
            None,
        ),
    ],
)
def test_parse_valid(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert str(ref) == text
    assert ref.reference == (digest or tag)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("app:1.0", "registry host"),
        ("team/app", "registry host"),  # no host: "team" is no domain
        ("127.0.0.1:5000/Team/app", "repository name"),
        ("127.0.0.1:5000/team//app", "repository name"),
        ("127.0.0.1:5000/team/app:", "tag"),
        ("127.0.0.1:5000/team/app:-bad", "tag"),
        ("127.0.0.1:5000/team/app:" + "x" * 129, "tag"),
        ("127.0.0.1:5000/team/app@sha256:abc", "digest"),
        ("127.0.0.1:5000/team/app@md5:" + "a" * 32, "digest"),
        ("127.0.0.1:5000/" + "a" * 250, "longer than"),
        ("-bad.host/app", "registry host"),
        ("127.0.0.1:5000/app_", "repository name"),
    ],
)
def test_parse_invalid(text: str, why: str) -> None:
    with pytest.raises(UserError) as caught:
        Reference.parse(text)
    assert why in caught.value.message
    assert caught.value.hint and "127.0.0.1:5000/team/app" in caught.value.hint


def test_with_tag_and_digest() -> None:
    ref = Reference.parse("h.io/a:1")
    assert str(ref.with_digest(DIGEST)) == f"h.io/a@{DIGEST}"
    assert str(ref.with_tag("2")) == "h.io/a:2"
    assert ref.name == "h.io/a"


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.example.com", False),
        ("localhost.example.com", False),
        ("128.0.0.1", False),
    ],
)
def test_is_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback


def test_fallback_tag() -> None:
    assert fallback_tag(DIGEST) == "sha256-" + "ab" * 32
