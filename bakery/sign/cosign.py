"""The adapter over the real ``cosign`` binary (sigstore), for registry images and KMS keys.

Bakery signs images in its own store natively (:mod:`bakery.sign.local`); an image in a
registry, or a key held in a KMS (``awskms://``, ``gcpkms://``, ``azurekms://``,
``hashivault://``, ``k8s://``), goes through cosign: the ``--key`` value is passed through
untouched. Everything is keyed and offline, in cosign's legacy ``.sig``/``.att`` format that
:mod:`bakery.sign.verify` reads natively:

- sign/attest: ``--tlog-upload=false --use-signing-config=false --new-bundle-format=false``
- verify: ``--insecure-ignore-tlog``

Only digest references are signed (``REPO@sha256:…``), never a tag. The key password goes to
cosign in ``COSIGN_PASSWORD`` (its environment), never on the command line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from bakery import proc
from bakery.errors import SignatureError, ToolError, UserError
from bakery.sign.keys import PASSWORD_ENV

INSTALL_HINT: Final = (
    "cosign is not in Debian bookworm; install Debian sid's cosign into /usr/local/bin with "
    "`bash scripts/install-sid-tools.sh cosign` (or `make setup`)"
)
OFFLINE_SIGN_FLAGS: Final = (
    "--tlog-upload=false",
    "--use-signing-config=false",
    "--new-bundle-format=false",
)
OFFLINE_VERIFY_FLAGS: Final = ("--insecure-ignore-tlog",)
#: flags a ``devel`` build must list in ``sign --help`` (``--new-bundle-format`` is hidden as
#: deprecated in v3, yet accepted)
_PROBED_FLAGS: Final = ("--tlog-upload", "--use-signing-config")
#: the oldest cosign whose flags above exist
MIN_VERSION: Final = (3, 0, 0)
_DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Cosign:
    """A checked cosign executable and the environment it runs in."""

    executable: str
    version: str
    environ: Mapping[str, str] = field(repr=False)

    @classmethod
    def locate(cls, environ: Mapping[str, str]) -> Cosign:
        """Find cosign on PATH and check it is recent enough; ToolError with install steps."""
        try:
            executable = proc.which("cosign")
        except ToolError:
            raise ToolError("cosign is not installed", hint=INSTALL_HINT) from None
        done = proc.run([executable, "version", "--json"], env=_plain(environ), timeout=60)
        version = _git_version(done.stdout)
        cosign = cls(executable=executable, version=version, environ=environ)
        cosign._check_version()
        return cosign

    def _check_version(self) -> None:
        """v3+ by number; a ``devel`` build (Debian's) by the offline flags it must know."""
        match = _VERSION.match(self.version)
        if match is not None:
            found = tuple(int(part) for part in match.groups())
            if found < MIN_VERSION:
                wanted = ".".join(map(str, MIN_VERSION))
                raise ToolError(
                    f"cosign {self.version} is too old: {wanted} or later is needed",
                    hint=INSTALL_HINT,
                )
            return
        usage = self._run(["sign", "--help"]).stdout
        missing = [flag for flag in _PROBED_FLAGS if flag not in usage]
        if missing:
            raise ToolError(
                f"cosign {self.version} lacks {', '.join(missing)}: v3 or later is needed",
                hint=INSTALL_HINT,
            )

    def sign(
        self,
        image: str,
        key: str,
        *,
        password: bytes = b"",
        access: RegistryAccess = "verified",
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """``cosign sign`` the digest reference ``image`` with a key file or KMS URI."""
        extra = [f"-a={k}={v}" for k, v in sorted((annotations or {}).items())]
        self._run(
            [
                "sign",
                "--key",
                key,
                "-y",
                *OFFLINE_SIGN_FLAGS,
                *_access_flags(access),
                *extra,
                _digest_ref(image),
            ],
            password=password,
        )

    def attest(
        self,
        image: str,
        key: str,
        predicate: Path,
        predicate_type: str,
        *,
        password: bytes = b"",
        access: RegistryAccess = "verified",
    ) -> None:
        """``cosign attest`` a predicate file (``--type``: a cosign alias or a URI)."""
        self._run(
            [
                "attest",
                "--key",
                key,
                "-y",
                "--predicate",
                str(predicate),
                "--type",
                predicate_type,
                *OFFLINE_SIGN_FLAGS,
                *_access_flags(access),
                _digest_ref(image),
            ],
            password=password,
        )

    def verify(
        self, image: str, public_key: str, *, access: RegistryAccess = "verified"
    ) -> list[Any]:
        """``cosign verify``: the verified payloads, or SignatureError with cosign's reason."""
        args = ["verify", "--key", public_key, *OFFLINE_VERIFY_FLAGS, "--output", "json"]
        return self._verified(image, [*args, *_access_flags(access)])

    def verify_attestation(
        self,
        image: str,
        public_key: str,
        predicate_type: str,
        *,
        access: RegistryAccess = "verified",
    ) -> list[Any]:
        """``cosign verify-attestation --type``: the verified envelopes, or SignatureError."""
        args = [
            "verify-attestation",
            "--key",
            public_key,
            "--type",
            predicate_type,
            *OFFLINE_VERIFY_FLAGS,
        ]
        return self._verified(image, [*args, *_access_flags(access)])

    def _verified(self, image: str, args: list[str]) -> list[Any]:
        done = self._run([*args, image], check=False)
        if done.returncode != 0:
            raise SignatureError(f"cosign could not verify {image}: {proc.tail(done.stderr, 3)}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def _run(
        self, args: Sequence[str], *, password: bytes = b"", check: bool = True
    ) -> proc.Completed:
        env = {**_plain(self.environ), PASSWORD_ENV: password.decode("utf-8")}
        return proc.run([self.executable, *args], env=env, check=check, timeout=600)


def _digest_ref(image: str) -> str:
    if _DIGEST_REF.match(image) is None:
        raise UserError(
            f"'{image}' is not a digest reference: Bakery signs a manifest digest, never a tag",
            hint="use REPOSITORY@sha256:<digest> (e.g. from `crane digest` or `bakery push`)",
        )
    return image


#: how cosign may reach a registry: TLS verified; plain HTTP allowed (``--insecure``); TLS
#: not verified (``--insecure-skip-tls-verify``: cosign's ``--allow-insecure-registry``)
RegistryAccess = Literal["verified", "http", "skip-verify"]


def _access_flags(access: RegistryAccess) -> list[str]:
    return {
        "verified": [],
        "http": ["--allow-http-registry"],
        "skip-verify": ["--allow-insecure-registry"],
    }[access]


def _plain(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without a stray password (the caller's password is set explicitly)."""
    return {k: v for k, v in environ.items() if k != PASSWORD_ENV}


def _git_version(output: str) -> str:
    try:
        version = json.loads(output).get("gitVersion")
    except (ValueError, AttributeError):
        version = None
    return version if isinstance(version, str) and version else "unknown"
