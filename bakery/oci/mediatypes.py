"""Media types Bakery reads and writes (OCI image-spec, plus Docker's for docker-archive)."""

from typing import Final

OCI_LAYOUT_VERSION: Final = "1.0.0"

MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
INDEX: Final = "application/vnd.oci.image.index.v1+json"
CONFIG: Final = "application/vnd.oci.image.config.v1+json"
EMPTY: Final = "application/vnd.oci.empty.v1+json"

LAYER_TAR: Final = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"

EMPTY_DIGEST: Final = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

LAYER_TYPES: Final = frozenset(
    {LAYER_TAR, LAYER_GZIP, LAYER_ZSTD, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR}
)

MANIFEST_TYPES: Final = frozenset({MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES: Final = frozenset({CONFIG, DOCKER_CONFIG})

# Annotation keys (OCI image-spec annotations.md)
ANN_CREATED: Final = "org.opencontainers.image.created"
ANN_VERSION: Final = "org.opencontainers.image.version"
ANN_SOURCE: Final = "org.opencontainers.image.source"
ANN_REVISION: Final = "org.opencontainers.image.revision"
ANN_TITLE: Final = "org.opencontainers.image.title"
ANN_DESCRIPTION: Final = "org.opencontainers.image.description"
ANN_REF_NAME: Final = "org.opencontainers.image.ref.name"
ANN_BASE_NAME: Final = "org.opencontainers.image.base.name"
ANN_BASE_DIGEST: Final = "org.opencontainers.image.base.digest"
