"""The image being baked, as values: its container config, history and layers.

Config steps (``env``, ``user``, ``workdir``, …) change only this state; filesystem steps add a
layer. :func:`image_config` and :func:`image_manifest` turn the state into OCI documents.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bakery.oci import mediatypes as mt
from bakery.oci.model import (
    ContainerConfig,
    Descriptor,
    History,
    ImageConfig,
    ImageManifest,
    RootFS,
)
from bakery.recipe.model import (
    CmdStep,
    EntrypointStep,
    EnvStep,
    ExposeStep,
    LabelsStep,
    Step,
    UserStep,
    VolumesStep,
    WorkdirStep,
)

_DEBIAN_TO_OCI_ARCH = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", None),
    "ppc64el": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}
_MACHINE_TO_DEBIAN = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386"}


def host_architecture() -> str:
    """The host's Debian architecture name."""
    return _MACHINE_TO_DEBIAN.get(platform.machine(), platform.machine())


def oci_platform(debian_arch: str) -> tuple[str, str | None]:
    """OCI ``architecture`` and ``variant`` for a Debian architecture."""
    return _DEBIAN_TO_OCI_ARCH.get(debian_arch, (debian_arch, None))


def rfc3339(epoch: int) -> str:
    """SOURCE_DATE_EPOCH as the RFC 3339 UTC timestamp written in configs and annotations."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Layer:
    """A layer of the image: uncompressed and stored identities."""

    diff_id: str
    descriptor: Descriptor
    created_by: str
    cached: bool = False
    inherited: bool = False


@dataclass(frozen=True)
class ImageState:
    """Everything the image config will hold, updated step by step."""

    architecture: str = field(default_factory=host_architecture)
    env: tuple[tuple[str, str], ...] = (
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
    )
    user: str = ""
    workdir: str = ""
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] = ()
    exposed: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    history: tuple[History, ...] = ()

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)

    @classmethod
    def from_config(cls, config: ImageConfig) -> ImageState:
        """Inherit from a base image's config."""
        c = config.config or ContainerConfig()
        env = tuple(tuple(e.split("=", 1)) for e in c.env or [] if "=" in e)
        return cls(
            architecture=config.architecture,
            env=tuple((k, v) for k, v in env),
            user=c.user or "",
            workdir=c.working_dir or "",
            entrypoint=tuple(c.entrypoint) if c.entrypoint is not None else None,
            cmd=tuple(c.cmd) if c.cmd is not None else None,
            labels=tuple(sorted((c.labels or {}).items())),
            exposed=tuple(sorted(c.exposed_ports or {})),
            volumes=tuple(sorted(c.volumes or {})),
            history=tuple(config.history or ()),
        )


def apply_config_step(state: ImageState, step: Step) -> ImageState:
    """The state after a config-only step (anything that is not packages/copy/run)."""
    match step:
        case EnvStep():
            env = dict(state.env)
            env.update(step.env)
            return replace(state, env=tuple(env.items()))
        case UserStep():
            return replace(state, user=step.user)
        case WorkdirStep():
            return replace(state, workdir=step.workdir)
        case EntrypointStep():
            # like a Dockerfile, a new entrypoint resets an inherited cmd
            return replace(state, entrypoint=tuple(step.entrypoint), cmd=None)
        case CmdStep():
            return replace(state, cmd=tuple(step.cmd))
        case LabelsStep():
            labels = dict(state.labels)
            labels.update(step.labels)
            return replace(state, labels=tuple(sorted(labels.items())))
        case ExposeStep():
            return replace(state, exposed=tuple(sorted({*state.exposed, *step.expose})))
        case VolumesStep():
            return replace(state, volumes=tuple(sorted({*state.volumes, *step.volumes})))
    raise TypeError(f"not a config step: {step!r}")


def with_history(state: ImageState, created_by: str, epoch: int, *, empty: bool) -> ImageState:
    entry = History(
        created=rfc3339(epoch), created_by=created_by, empty_layer=True if empty else None
    )
    return replace(state, history=(*state.history, entry))


def image_config(state: ImageState, layers: list[Layer], epoch: int) -> ImageConfig:
    """The OCI image config for the state and layers."""
    arch, variant = oci_platform(state.architecture)
    container = ContainerConfig(
        user=state.user or None,
        exposed_ports={p: {} for p in state.exposed} or None,
        env=[f"{k}={v}" for k, v in state.env] or None,
        entrypoint=list(state.entrypoint) if state.entrypoint is not None else None,
        cmd=list(state.cmd) if state.cmd is not None else None,
        volumes={v: {} for v in state.volumes} or None,
        working_dir=state.workdir or None,
        labels=dict(state.labels) or None,
    )
    return ImageConfig(
        created=rfc3339(epoch),
        architecture=arch,
        variant=variant,
        os="linux",
        config=container,
        rootfs=RootFS(diff_ids=[layer.diff_id for layer in layers]),
        history=list(state.history),
    )


def image_manifest(
    config: Descriptor, layers: list[Descriptor], annotations: dict[str, str]
) -> ImageManifest:
    """The OCI image manifest."""
    return ImageManifest(
        media_type=mt.MANIFEST, config=config, layers=layers, annotations=annotations or None
    )
