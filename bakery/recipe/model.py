"""The recipe model: strict, frozen pydantic models of a ``bakery.dev/v1`` recipe.

Steps, tests and bases are unions told apart by which kind key an item has (``packages:``,
``copy:``, ``file:``, ...). The models mirror the YAML, except that ``copy`` steps and
``debian`` bases hold the fields of their nested mapping directly (``step.src``, ``base.suite``).
Either way a validation error location, once pydantic's union tags are dropped (a tag is the
kind key), is a path into the document such as ``("steps", 2, "copy", "src")``.

Custom errors are :class:`~pydantic_core.PydanticCustomError` with human messages. Two
context keys have a meaning for the loader: ``key`` (with type ``unknown_key``) names the
offending key, and ``loc`` replaces the error's location (for cross-field checks).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    Strict,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

API_VERSION = "bakery.dev/v1"
SCRATCH = "scratch"

NAME_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
PACKAGE_PATTERN = r"^[a-z0-9][a-z0-9.+-]+$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
SECRET_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"  # noqa: S105 (a pattern, not a secret)
USER_PATTERN = r"^([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*)(:([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*))?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MODE_PATTERN = r"^0?[0-7]{3,4}$"
PORT_PATTERN = r"^[0-9]{1,5}(/(tcp|udp|sctp))?$"
MAX_MODE = 0o7777
MAX_PORT = 65535

_T = TypeVar("_T")

#: A YAML list, held as a tuple. Lists are accepted although the models are strict.
Seq: TypeAlias = Annotated[tuple[_T, ...], Strict(False)]


# --- scalar types -------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as an error message shows it: strings quoted, everything else as is."""
    return repr(value) if isinstance(value, str) else str(value)


def _matching(pattern: str, what: str) -> AfterValidator:
    """A validator that rejects strings not matching ``pattern``, naming ``what`` they are."""
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if regex.match(value) is None:
            raise PydanticCustomError(
                "pattern",
                "invalid {what} {value} (expected {pattern})",
                {"what": what, "value": _show(value), "pattern": pattern},
            )
        return value

    return AfterValidator(check)


def _string_schema(pattern: str) -> WithJsonSchema:
    """The JSON schema of a string that must match ``pattern``."""
    return WithJsonSchema({"type": "string", "pattern": pattern})


def _check_absolute(value: str) -> str:
    """Reject a path that is not absolute."""
    if not value.startswith("/"):
        raise PydanticCustomError(
            "absolute_path",
            "expected an absolute path (starting with '/'), got {value}",
            {"value": _show(value)},
        )
    return value


def _check_relative(value: str) -> str:
    """Reject a path that is absolute or, read lexically, leaves its directory."""
    path = PurePosixPath(value)
    if not value or path.is_absolute():
        raise PydanticCustomError(
            "relative_path",
            "expected a path relative to the recipe directory, got {value}",
            {"value": _show(value)},
        )
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            raise PydanticCustomError(
                "relative_path",
                "path {value} leaves the recipe directory",
                {"value": _show(value)},
            )
    return value


def _check_regex(value: str) -> str:
    """Reject a string that does not compile as a Python regular expression."""
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex",
            "invalid regular expression {value}: {error}",
            {"value": _show(value), "error": str(exc)},
        ) from exc
    return value


def _parse_mode(value: Any) -> Any:
    """An octal string ("0644", "644") or an int, as an int in 0..0o7777."""
    if isinstance(value, str) and re.match(MODE_PATTERN, value):
        value = int(value, 8)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_MODE:
        return value
    raise PydanticCustomError(
        "file_mode", "expected octal mode like '0644', got {value}", {"value": _show(value)}
    )


def _normalise_port(value: Any) -> Any:
    """A port (``8080``, ``"53/udp"``) as ``"PORT/PROTO"``, the protocol defaulting to tcp."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and re.match(PORT_PATTERN, text):
        number, _, proto = text.partition("/")
        if 1 <= int(number) <= MAX_PORT:
            return f"{int(number)}/{proto or 'tcp'}"
    raise PydanticCustomError(
        "port", "expected a port like 8080 or '8080/tcp', got {value}", {"value": _show(value)}
    )


def _no_schema_default(schema: JsonDict) -> None:
    """Drop a placeholder default from a field's JSON schema (a validator fills it in)."""
    schema.pop("default", None)


NonEmptyStr = Annotated[str, Field(min_length=1)]
RecipeName = Annotated[str, _matching(NAME_PATTERN, "recipe name"), _string_schema(NAME_PATTERN)]
PackageName = Annotated[
    str, _matching(PACKAGE_PATTERN, "package name"), _string_schema(PACKAGE_PATTERN)
]
ImageTag = Annotated[str, _matching(TAG_PATTERN, "tag"), _string_schema(TAG_PATTERN)]
SecretId = Annotated[
    str, _matching(SECRET_ID_PATTERN, "secret id"), _string_schema(SECRET_ID_PATTERN)
]
UserSpec = Annotated[str, _matching(USER_PATTERN, "user"), _string_schema(USER_PATTERN)]
EnvName = Annotated[
    str, _matching(ENV_NAME_PATTERN, "variable name"), _string_schema(ENV_NAME_PATTERN)
]
AbsolutePath = Annotated[str, AfterValidator(_check_absolute), _string_schema("^/")]
RelativePath = Annotated[str, AfterValidator(_check_relative), _string_schema("^[^/]")]
Regex = Annotated[
    str, AfterValidator(_check_regex), WithJsonSchema({"type": "string", "format": "regex"})
]
Mode = Annotated[
    int,
    BeforeValidator(_parse_mode),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_MODE},
                {"type": "string", "pattern": MODE_PATTERN},
            ]
        }
    ),
]
Port = Annotated[
    str,
    BeforeValidator(_normalise_port),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_PORT},
                {"type": "string", "pattern": PORT_PATTERN},
            ]
        }
    ),
]


# --- the common base and kind-keyed unions ------------------------------------------------


def _allowed_keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys a model accepts: its fields, by alias where one is set."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


def _unknown_key(key: Any, allowed: tuple[str, ...]) -> PydanticCustomError:
    """The error for a key that is not one of ``allowed``."""
    return PydanticCustomError(
        "unknown_key",
        "unknown key '{key}' (allowed: {allowed})",
        {"key": key, "allowed": ", ".join(allowed)},
    )


def _only(mapping: Mapping[Any, Any], allowed: tuple[str, ...]) -> None:
    """Reject the first key of ``mapping`` that is not in ``allowed``."""
    for key in mapping:
        if key not in allowed:
            raise _unknown_key(key, allowed)


class _Model(BaseModel):
    """Common base: strict and frozen; an unknown key is reported with the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any) -> Any:
        data = cls._unwrap(data)
        if isinstance(data, Mapping):
            _only(data, _allowed_keys(cls))
        return data

    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        """The mapping that holds this model's fields (see :class:`_Wrapped`)."""
        return data


class _Kinded(_Model):
    """A member of a kind-keyed union (a step, a test, a base); ``kind`` is its key."""

    kind: ClassVar[str]


class _Wrapped(_Kinded):
    """A member written ``{kind: {fields}}`` whose model holds the inner fields directly.

    It validates either form, serialises to the written one, and its JSON schema describes
    the written one, so the model reads flat (``step.src``) and the YAML stays nested.
    """

    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and list(data) == [cls.kind]:
            return data[cls.kind]
        return data

    @model_serializer(mode="wrap")
    def _wrap(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {self.kind: handler(self)}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        inner = handler(core_schema)
        return {
            "title": inner.pop("title", cls.__name__),
            "description": inner.pop("description", ""),
            "type": "object",
            "properties": {cls.kind: inner},
            "required": [cls.kind],
            "additionalProperties": False,
        }


def _outer_keys(member: type[_Kinded]) -> tuple[str, ...]:
    """The keys a union member's mapping may have as written, its kind key first."""
    if issubclass(member, _Wrapped):
        return (member.kind,)
    return (member.kind, *(key for key in _allowed_keys(member) if key != member.kind))


@dataclass(frozen=True)
class _OneOf:
    """A union whose members are told apart by which one kind key a mapping has.

    ``check`` runs before the union and reports a missing, doubled or misspelt kind key in
    one clear error; ``tag`` is the union's discriminator.
    """

    what: str
    members: tuple[type[_Kinded], ...]
    scalar: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind keys, in declaration order."""
        return tuple(member.kind for member in self.members)

    @property
    def all_keys(self) -> tuple[str, ...]:
        """Every key some member accepts: the kind keys, then the others."""
        others = (key for member in self.members for key in _outer_keys(member))
        return tuple(dict.fromkeys((*self.kinds, *others)))

    def check(self, value: Any) -> Any:
        """Before validation: exactly one kind key and only its keys, or the scalar form."""
        if isinstance(value, _Kinded) or (self.scalar is not None and value == self.scalar):
            return value
        if not isinstance(value, Mapping):
            forms = f"a mapping with one of: {', '.join(self.kinds)}"
            if self.scalar is not None:
                forms = f"'{self.scalar}' or {forms}"
            raise PydanticCustomError(
                "kind_type",
                "expected {forms}, got {value}",
                {"forms": forms, "value": _show(value)},
            )
        found = [member for member in self.members if member.kind in value]
        if len(found) == 1:
            _only(value, _outer_keys(found[0]))
            return value
        _only(value, self.all_keys)
        raise PydanticCustomError(
            "kind_count",
            "{what} needs exactly one of: {kinds} (found: {found})",
            {
                "what": self.what,
                "kinds": ", ".join(self.kinds),
                "found": ", ".join(map(str, value)) or "nothing",
            },
        )

    def tag(self, value: Any) -> str | None:
        """The union tag of ``value``: its kind key (``check`` has vetted it already)."""
        if isinstance(value, _Kinded):
            return value.kind
        if isinstance(value, Mapping):
            found = [kind for kind in self.kinds if kind in value]
            return found[0] if len(found) == 1 else None
        return self.scalar if value == self.scalar else None


# --- bases --------------------------------------------------------------------------------

#: ``base: scratch``, an empty root filesystem.
Scratch: TypeAlias = Literal["scratch"]


class DebianBase(_Wrapped):
    """``base: {debian: {suite, variant, ...}}``: a Debian root filesystem by mmdebstrap."""

    kind: ClassVar[str] = "debian"
    suite: NonEmptyStr
    variant: Literal[
        "essential", "apt", "required", "minbase", "buildd", "important", "standard"
    ] = "minbase"
    packages: Seq[PackageName] = ()
    components: Seq[NonEmptyStr] = ("main",)
    architecture: NonEmptyStr = "amd64"


class ImageBase(_Kinded):
    """``base: {image: REF}``: an image in the local store, by tag or ``sha256:`` digest.

    ``signedBy``: public keys (cosign.pub files, relative to the recipe); when set, the bake
    refuses a base that is not signed by one of them.
    """

    kind: ClassVar[str] = "image"
    image: NonEmptyStr
    signed_by: Seq[RelativePath] = Field(default=(), alias="signedBy")


class RecipeBase(_Kinded):
    """``base: {recipe: NAME}``: the image another recipe (in the same directory) bakes;
    ``signedBy`` as for :class:`ImageBase`."""

    kind: ClassVar[str] = "recipe"
    recipe: RecipeName
    signed_by: Seq[RelativePath] = Field(default=(), alias="signedBy")


_BASES = _OneOf("a base", (DebianBase, ImageBase, RecipeBase), scalar=SCRATCH)

#: What a recipe starts from: ``scratch`` or one of the base models.
Base: TypeAlias = Annotated[
    Annotated[Scratch, Tag("scratch")]
    | Annotated[DebianBase, Tag("debian")]
    | Annotated[ImageBase, Tag("image")]
    | Annotated[RecipeBase, Tag("recipe")],
    Discriminator(_BASES.tag),
    BeforeValidator(_BASES.check),
]


def is_scratch(base: Base) -> bool:
    """True when ``base`` is ``scratch`` (an empty root filesystem)."""
    return base == SCRATCH


# --- steps --------------------------------------------------------------------------------


class PackagesStep(_Kinded):
    """``packages: [...]``: install Debian packages with apt."""

    kind: ClassVar[str] = "packages"
    packages: Seq[PackageName] = Field(min_length=1)


class CopyStep(_Wrapped):
    """``copy: {src, dest, mode, owner}``: copy from the recipe directory into the image."""

    kind: ClassVar[str] = "copy"
    src: RelativePath
    dest: AbsolutePath
    mode: Mode | None = None
    owner: UserSpec = "0:0"


class Secret(_Model):
    """A host file mounted read-only into one run step, never stored in a layer."""

    id: SecretId
    src: NonEmptyStr
    dest: AbsolutePath = Field(
        default="",
        description="Default: /run/secrets/<id>.",
        json_schema_extra=_no_schema_default,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _default_dest(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        secret = handler(data)
        if secret.dest:
            return secret
        return secret.model_copy(update={"dest": f"/run/secrets/{secret.id}"})


class RunStep(_Kinded):
    """``run: SHELL``: run a shell command in the image, offline unless ``network: true``."""

    kind: ClassVar[str] = "run"
    run: NonEmptyStr
    network: bool = False
    secrets: Seq[Secret] = ()


class EnvStep(_Kinded):
    """``env: {NAME: value}``: set environment variables (in the image config too)."""

    kind: ClassVar[str] = "env"
    env: Mapping[EnvName, str]


class UserStep(_Kinded):
    """``user: NAME|UID[:GID]``: the user the image runs as (build steps run as root)."""

    kind: ClassVar[str] = "user"
    user: UserSpec


class WorkdirStep(_Kinded):
    """``workdir: /path``: the working directory of later run steps and the image."""

    kind: ClassVar[str] = "workdir"
    workdir: AbsolutePath


class EntrypointStep(_Kinded):
    """``entrypoint: [...]``: the image's entrypoint (argv)."""

    kind: ClassVar[str] = "entrypoint"
    entrypoint: Seq[str]


class CmdStep(_Kinded):
    """``cmd: [...]``: the image's default arguments."""

    kind: ClassVar[str] = "cmd"
    cmd: Seq[str]


class LabelsStep(_Kinded):
    """``labels: {key: value}``: image config labels."""

    kind: ClassVar[str] = "labels"
    labels: Mapping[NonEmptyStr, str]


class ExposeStep(_Kinded):
    """``expose: [8080, "53/udp"]``: exposed ports, normalised to ``"PORT/PROTO"``."""

    kind: ClassVar[str] = "expose"
    expose: Seq[Port]


class VolumesStep(_Kinded):
    """``volumes: [/data]``: volume mount points declared in the image config."""

    kind: ClassVar[str] = "volumes"
    volumes: Seq[AbsolutePath]


_STEPS = _OneOf(
    "a step",
    (
        PackagesStep,
        CopyStep,
        RunStep,
        EnvStep,
        UserStep,
        WorkdirStep,
        EntrypointStep,
        CmdStep,
        LabelsStep,
        ExposeStep,
        VolumesStep,
    ),
)
#: The kind keys of steps, in the order the error messages list them.
STEP_KINDS = _STEPS.kinds

#: One build step; exactly one kind key says which.
Step: TypeAlias = Annotated[
    Annotated[PackagesStep, Tag("packages")]
    | Annotated[CopyStep, Tag("copy")]
    | Annotated[RunStep, Tag("run")]
    | Annotated[EnvStep, Tag("env")]
    | Annotated[UserStep, Tag("user")]
    | Annotated[WorkdirStep, Tag("workdir")]
    | Annotated[EntrypointStep, Tag("entrypoint")]
    | Annotated[CmdStep, Tag("cmd")]
    | Annotated[LabelsStep, Tag("labels")]
    | Annotated[ExposeStep, Tag("expose")]
    | Annotated[VolumesStep, Tag("volumes")],
    Discriminator(_STEPS.tag),
    BeforeValidator(_STEPS.check),
]


def step_definition(part: BaseModel) -> dict[str, Any]:
    """The canonical JSON form of a step (or base, or test): what the build cache hashes.

    It is the part as written in YAML with every default filled in; hash it with
    ``json.dumps(..., sort_keys=True)`` (mappings keep the recipe's key order).
    """
    return part.model_dump(mode="json", by_alias=True)


# --- outputs ------------------------------------------------------------------------------


class OciOutput(_Model):
    """An OCI image in the local store, tagged ``NAME:TAG`` for each of ``tags``."""

    tags: Seq[ImageTag] = Field(
        default=(),
        description="Default: [<version>].",
        json_schema_extra=_no_schema_default,
    )
    compression: Literal["gzip", "zstd"] = "gzip"


class Output(_Kinded):
    """``oci: {...}``: the image, tagged in the local store."""

    kind: ClassVar[str] = "oci"
    oci: OciOutput


DISK_FORMATS = ("raw", "qcow2", "vmdk", "vhdx")
DISK_SIZE_PATTERN = r"^[1-9][0-9]*[KMGT]$"
DiskSize = Annotated[
    str, _matching(DISK_SIZE_PATTERN, "disk size"), _string_schema(DISK_SIZE_PATTERN)
]


class DiskOutput(_Model):
    """A bootable disk of the same rootfs: GPT, an EFI system partition and an ext4 root."""

    format: Literal["raw", "qcow2", "vmdk", "vhdx"] = "qcow2"
    size: DiskSize = Field(default="4G", description="Binary units: 512M, 4G, ...")
    boot: Literal["uefi", "bios"] | None = Field(
        default="uefi",
        description="uefi: GRUB on the ESP; bios: GRUB for BIOS too (boots from either);"
        " null: a data disk.",
    )
    kernel: PackageName | None = Field(
        default=None,
        description="The kernel package the rootfs must have installed (default: any kernel).",
    )
    tags: Seq[ImageTag] = Field(
        default=(),
        description="Default: [<version>-<format>].",
        json_schema_extra=_no_schema_default,
    )


class DiskOutputItem(_Kinded):
    """``disk: {...}``: a disk image, stored as an OCI artifact and tagged in the local store."""

    kind: ClassVar[str] = "disk"
    disk: DiskOutput


class PackerOutput(_Model):
    """Packer's qemu builder boots the recipe's disk; its artifacts are recorded."""

    builder: Literal["qemu"] = "qemu"
    expect: NonEmptyStr = Field(
        default="login:", description="The console text after which the VM is stopped."
    )
    timeout: int = Field(default=300, ge=1, le=3600, description="Seconds.")


class PackerOutputItem(_Kinded):
    """``packer: {...}``: run ``packer build`` on the recipe's bootable disk (Packer 1.6.6)."""

    kind: ClassVar[str] = "packer"
    packer: PackerOutput


_OUTPUTS = _OneOf("an output", (Output, DiskOutputItem, PackerOutputItem))

#: One thing a bake produces: the OCI image, a disk image, or a Packer build of the disk.
AnyOutput: TypeAlias = Annotated[
    Annotated[Output, Tag("oci")]
    | Annotated[DiskOutputItem, Tag("disk")]
    | Annotated[PackerOutputItem, Tag("packer")],
    Discriminator(_OUTPUTS.tag),
    BeforeValidator(_OUTPUTS.check),
]


# --- image tests --------------------------------------------------------------------------


class FileCheck(_Model):
    """What a file test expects of a path in the image."""

    path: AbsolutePath
    exists: bool = True
    mode: Mode | None = None
    owner: UserSpec | None = None
    contains: Regex | None = None

    @model_validator(mode="after")
    def _only_if_exists(self) -> Self:
        if not self.exists and (self.mode, self.owner, self.contains) != (None, None, None):
            raise PydanticCustomError(
                "file_check", "mode, owner and contains need exists: true", {}
            )
        return self


def _command_form(value: Any) -> str | None:
    """``shell`` for a string, ``argv`` for a list."""
    if isinstance(value, str):
        return "shell"
    return "argv" if isinstance(value, list | tuple) else None


#: A command: a shell string (run by ``/bin/sh -c``) or an argv list.
CommandLine = Annotated[
    Annotated[NonEmptyStr, Tag("shell")] | Annotated[Seq[str], Field(min_length=1), Tag("argv")],
    Discriminator(
        _command_form,
        custom_error_type="command_line",
        custom_error_message="expected a shell command string or an argv list",
    ),
]


class CommandCheck(_Model):
    """A command run in the image and what its exit code and output must be."""

    run: CommandLine
    exit: int = Field(default=0, ge=0, le=255)
    stdout: Regex | None = None
    stderr: Regex | None = None
    user: UserSpec | None = None


class MetadataCheck(_Model):
    """Expected image config values; ``env`` and ``labels`` need only be a subset."""

    user: UserSpec | None = None
    entrypoint: Seq[str] | None = None
    cmd: Seq[str] | None = None
    env: Mapping[str, str] | None = None
    expose: Seq[Port] | None = None
    workdir: AbsolutePath | None = None
    labels: Mapping[str, str] | None = None


class _Test(_Kinded):
    """An image test; ``name`` defaults to the kind and its subject."""

    name: str = Field(
        default="",
        description="Default: the kind and its subject, e.g. 'file /etc/os-release'.",
        json_schema_extra=_no_schema_default,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _default_name(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        test = handler(data)
        return test if test.name else test.model_copy(update={"name": test.subject()})

    def subject(self) -> str:
        """The default name: the kind and what it tests."""
        return self.kind


class FileTest(_Test):
    """``file: {path, ...}``: a path exists (or not), with a mode, owner or content."""

    kind: ClassVar[str] = "file"
    file: FileCheck

    def subject(self) -> str:
        """``file PATH``."""
        return f"file {self.file.path}"


class CommandTest(_Test):
    """``command: {run, ...}``: a command run in the image exits and prints as expected."""

    kind: ClassVar[str] = "command"
    command: CommandCheck

    def subject(self) -> str:
        """``command RUN``."""
        run = self.command.run
        return f"command {run if isinstance(run, str) else shlex.join(run)}"


class MetadataTest(_Test):
    """``metadata: {...}``: the image config has these values."""

    kind: ClassVar[str] = "metadata"
    metadata: MetadataCheck


class BootCheck(_Model):
    """What the serial console of the booted disk must show, and how long to wait for it."""

    expect: NonEmptyStr
    timeout: int = Field(default=180, ge=1, le=3600, description="Seconds.")


class BootTest(_Test):
    """``boot: {expect, timeout}``: the disk boots from firmware and its console shows a text."""

    kind: ClassVar[str] = "boot"
    boot: BootCheck

    def subject(self) -> str:
        """``boot EXPECT``."""
        return f"boot {self.boot.expect}"


_TESTS = _OneOf("a test", (FileTest, CommandTest, MetadataTest, BootTest))

#: One image test; exactly one kind key says which.
ImageTest: TypeAlias = Annotated[
    Annotated[FileTest, Tag("file")]
    | Annotated[CommandTest, Tag("command")]
    | Annotated[MetadataTest, Tag("metadata")]
    | Annotated[BootTest, Tag("boot")],
    Discriminator(_TESTS.tag),
    BeforeValidator(_TESTS.check),
]


# --- the recipe ---------------------------------------------------------------------------


def _located(
    kind: str, message: str, loc: tuple[str | int, ...], **ctx: Any
) -> PydanticCustomError:
    """A cross-field error that the loader reports at ``loc`` (a path from the recipe root)."""
    return PydanticCustomError(kind, message, {**ctx, "loc": loc})


class Recipe(_Model):
    """A Bakery recipe: a base, steps on top of it, the outputs and tests of the result."""

    api_version: Literal["bakery.dev/v1"] = Field(alias="apiVersion")
    name: RecipeName
    version: NonEmptyStr
    description: str = ""
    base: Base
    steps: Seq[Step] = ()
    outputs: Seq[AnyOutput] = Field(
        default=(),
        validate_default=True,
        description="Default: one gzip OCI output tagged with the version.",
        json_schema_extra=_no_schema_default,
    )
    tests: Seq[ImageTest] = ()
    policy: RelativePath | None = Field(
        default=None,
        description="A policy file beside the recipe that gates the bake (default: built-in).",
    )

    @field_validator("outputs")
    @classmethod
    def _default_outputs(cls, outputs: tuple[AnyOutput, ...], info: ValidationInfo) -> Any:
        version = info.data.get("version")
        if version is None:
            return outputs
        outputs = outputs or (Output(oci=OciOutput()),)
        if all(_tags_of(o) or isinstance(o, PackerOutputItem) for o in outputs):
            return outputs
        if re.match(TAG_PATTERN, version) is None:
            raise _located(
                "version_tag",
                "version {version} is not a valid tag; set outputs[].oci.tags",
                ("version",),
                version=_show(version),
            )
        return tuple(_tagged(output, version) for output in outputs)

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        self._check_base()
        self._check_tags()
        self._check_test_names()
        self._check_boot_tests()
        return self

    def _check_base(self) -> None:
        if isinstance(self.base, RecipeBase) and self.base.recipe == self.name:
            raise _located("base_cycle", "a recipe cannot be its own base", ("base", "recipe"))

    def _check_tags(self) -> None:
        seen: set[str] = set()
        for i, output in enumerate(self.outputs):
            for j, tag in enumerate(_tags_of(output)):
                if tag in seen:
                    raise _located(
                        "duplicate_tag",
                        "duplicate tag '{tag}' across outputs",
                        ("outputs", i, output.kind, "tags", j),
                        tag=tag,
                    )
                seen.add(tag)

    def _check_test_names(self) -> None:
        seen: set[str] = set()
        for i, test in enumerate(self.tests):
            if test.name in seen:
                raise _located(
                    "duplicate_test",
                    "duplicate test name '{name}' (give each test its own name:)",
                    ("tests", i),
                    name=test.name,
                )
            seen.add(test.name)

    def _check_boot_tests(self) -> None:
        bootable = any(
            isinstance(o, DiskOutputItem) and o.disk.boot is not None for o in self.outputs
        )
        for i, test in enumerate(self.tests):
            if isinstance(test, BootTest) and not bootable:
                raise _located(
                    "boot_test",
                    "a boot test needs a disk output with boot: uefi",
                    ("tests", i),
                )
        for i, output in enumerate(self.outputs):
            if isinstance(output, PackerOutputItem) and not bootable:
                raise _located(
                    "packer_output",
                    "a packer output needs a disk output with boot: uefi",
                    ("outputs", i),
                )


def _tags_of(output: AnyOutput) -> tuple[str, ...]:
    """The tags an output asks for (a Packer build is recorded, not tagged)."""
    if isinstance(output, Output):
        return output.oci.tags
    return output.disk.tags if isinstance(output, DiskOutputItem) else ()


def _tagged(output: AnyOutput, version: str) -> AnyOutput:
    """``output`` with its tags defaulted: ``[version]``, for a disk ``[version-format]``."""
    if isinstance(output, DiskOutputItem):
        if output.disk.tags:
            return output
        tags = (f"{version}-{output.disk.format}",)
        return output.model_copy(update={"disk": output.disk.model_copy(update={"tags": tags})})
    if isinstance(output, PackerOutputItem) or output.oci.tags:
        return output
    return output.model_copy(update={"oci": output.oci.model_copy(update={"tags": (version,)})})
