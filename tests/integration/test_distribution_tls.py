"""TLS is verified by default, even on loopback, and with --insecure (which allows plain HTTP,
nothing more); never silently downgraded to plain HTTP. Only --insecure-skip-tls-verify skips
the check, and it says so on every use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakery.oci.layout import OCILayout
from bakery.oci.model import Descriptor
from tests.conftest import CliResult, bakery
from tests.integration.registry_fixtures import Registry, make_image, tls_registry

__all__ = ["tls_registry"]  # the fixture, imported explicitly

#: the test process's own SSL_CERT_FILE (if any) must not decide what is trusted
UNTRUSTED = {"SSL_CERT_FILE": ""}
WARNING = "warning: --insecure-skip-tls-verify"


def _one_line_certificate_error(result: CliResult, registry: Registry) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"the TLS certificate of registry {registry.host} does not verify" in lines[0]
    assert "certificate verify failed: self-signed certificate" in lines[0]
    assert "--ca-file" in lines[0] and "SSL_CERT_FILE" in lines[0]
    return lines[0]


@pytest.fixture
def pushed(tls_registry: Registry, tmp_path: Path) -> Descriptor:
    """An image pushed to ``tls_registry`` as team/app:1 (trusting its certificate)."""
    store = tmp_path / "store"
    image = make_image(OCILayout.open(store / "oci"), "test/app:1", [5000])
    assert tls_registry.certificate is not None
    trusted = {"SSL_CERT_FILE": str(tls_registry.certificate)}
    done = bakery(
        "push", "test/app:1", tls_registry.ref("team/app:1"), "--store", store, "--json",
        env=trusted,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["digest"] == image.digest
    return image


def test_push_refuses_an_untrusted_certificate(tls_registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_image(OCILayout.open(store / "oci"), "test/app:1", [5000])
    dest = tls_registry.ref("team/app:1")
    for extra in ([], ["--insecure"]):
        refused = bakery("push", "test/app:1", dest, "--store", store, *extra, env=UNTRUSTED)
        _one_line_certificate_error(refused, tls_registry)


def test_pull_insecure_still_verifies_the_certificate(
    tls_registry: Registry, pushed: Descriptor, tmp_path: Path
) -> None:
    src = tls_registry.ref("team/app:1")
    refused = bakery("pull", src, "--store", tmp_path / "other", "--insecure", env=UNTRUSTED)
    _one_line_certificate_error(refused, tls_registry)
    assert WARNING not in refused.stderr


@pytest.mark.parametrize("insecure", [[], ["--insecure"]])
def test_pull_with_ca_file(
    tls_registry: Registry, pushed: Descriptor, tmp_path: Path, insecure: list[str]
) -> None:
    assert tls_registry.certificate is not None
    pulled = bakery(
        "pull", tls_registry.ref("team/app:1"), "--store", tmp_path / "other", "--json",
        "--ca-file", tls_registry.certificate, *insecure, env=UNTRUSTED,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == pushed.digest


def test_pull_with_ssl_cert_file(
    tls_registry: Registry, pushed: Descriptor, tmp_path: Path
) -> None:
    assert tls_registry.certificate is not None
    pulled = bakery(
        "pull", tls_registry.ref("team/app:1"), "--store", tmp_path / "other", "--json",
        env={"SSL_CERT_FILE": str(tls_registry.certificate)},
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["digest"] == pushed.digest


def test_skip_tls_verify_works_and_warns_every_time(
    tls_registry: Registry, pushed: Descriptor, tmp_path: Path
) -> None:
    src = tls_registry.ref("team/app:1")
    for run in range(2):
        pulled = bakery(
            "pull", src, "--store", tmp_path / f"other{run}", "--json",
            "--insecure-skip-tls-verify", env=UNTRUSTED,
        )  # fmt: skip
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["digest"] == pushed.digest
        assert pulled.stderr.count(WARNING) == 1, pulled.stderr
        assert "NOT verified" in pulled.stderr

    copied = bakery(
        "copy", src, tls_registry.ref("team/copy:1"), "--insecure-skip-tls-verify", "--json",
        env=UNTRUSTED,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert copied.stderr.count(WARNING) == 1, copied.stderr


def test_copy_with_ca_file(tls_registry: Registry, pushed: Descriptor) -> None:
    assert tls_registry.certificate is not None
    src, dest = tls_registry.ref("team/app:1"), tls_registry.ref("team/copy:1")
    refused = bakery("copy", src, dest, "--insecure", env=UNTRUSTED)
    _one_line_certificate_error(refused, tls_registry)
    copied = bakery("copy", src, dest, "--ca-file", tls_registry.certificate, "--json")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["digest"] == pushed.digest


def test_ca_file_missing_or_invalid_is_a_one_line_user_error(
    tls_registry: Registry, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    src = tls_registry.ref("team/app:1")
    for ca_file, said in ((tmp_path / "missing.pem", "No such file"), (garbage, garbage.name)):
        result = bakery("pull", src, "--store", tmp_path / "other", "--ca-file", ca_file)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"cannot load CA certificates from {ca_file}" in lines[0] and said in lines[0]
    empty = {"SSL_CERT_FILE": str(garbage)}
    result = bakery("pull", src, "--store", tmp_path / "other", env=empty)
    assert result.returncode == 2 and "cannot load CA certificates" in result.stderr
