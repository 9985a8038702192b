"""One error base for everything Bakery reports to a user.

Every error carries a one-line message saying what is wrong and, when we know it, a hint
saying how to fix it. The CLI (and later the HTTP API) maps the class to an exit code; anything
that is not a ``BakeryError`` is a bug and is reported as such (by the CLI with
``EXIT_INTERNAL`` and a crash log).
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_POLICY = 3
#: an internal error, a bug in bakery: 70 is EX_SOFTWARE of sysexits.h ("internal software
#: error"). Not 1, which says the image failed, nor 3 (pre-commit's choice), which is our policy
#: violation; the CLI writes the traceback to a crash log whose path it prints.
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class BakeryError(Exception):
    """Base of every error a user may see. ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as the single line the CLI prints."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class UserError(BakeryError):
    """The input is wrong: a recipe, an argument, a reference. Fixable by the user."""

    exit_code = EXIT_USAGE


class DocumentError(UserError):
    """A YAML document (a recipe, a policy) is malformed; the message starts with
    ``file:line:col:`` when the position is known."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        col: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
                if col is not None:
                    where += f":{col}"
            where += ": "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line
        self.col = col


class RecipeError(DocumentError):
    """A recipe is malformed."""


class PolicyError(DocumentError):
    """A policy file is malformed."""


class LockError(UserError):
    """The lockfile is missing, malformed or stale."""


class ReferenceNotFound(UserError):
    """An image reference (tag or digest) does not resolve in the store."""


class StoreError(BakeryError):
    """The local store is damaged or cannot be written."""


class UnsafeLayerError(BakeryError):
    """A layer tries to escape the root it is applied to, or is otherwise hostile."""


class BuildError(BakeryError):
    """A bake stage failed (a step exited non-zero, a package is unknown, ...)."""


class ImageTestError(BuildError):
    """One or more of a recipe's image tests failed; nothing was tagged."""


class PolicyViolation(BakeryError):
    """The image fails its policy gate; nothing was tagged."""

    exit_code = EXIT_POLICY


class ToolError(BakeryError):
    """An external tool is missing or failed. The message names the command."""


class RegistryDBError(BakeryError):
    """The metadata registry's database cannot be opened, migrated or written."""


class PromotionRefused(UserError):
    """A channel assignment is refused: the artifact is unsigned, unscanned, failing or revoked."""


class ImmutableTag(UserError):
    """A tag matching an immutability rule would be moved or deleted."""


class AuditError(BakeryError):
    """The audit log does not verify: an entry, a checkpoint or a covered row was altered."""


class RegistryError(BakeryError):
    """An OCI registry failed, refused a request, or served content that does not verify."""


class AuthError(UserError):
    """A registry refused the credentials, or needs credentials that were not given."""


class SigningKeyError(UserError):
    """A signing or public key is unreadable, malformed, or its password is wrong."""


class SignatureError(BakeryError):
    """A signature, attestation or provenance does not verify."""
