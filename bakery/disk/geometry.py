"""Where the partitions of a disk go, and the identities (GUIDs, UUIDs, volume id) they carry.

Every identity is a UUIDv5 of the recipe's name and version and the role it plays, so the same
recipe gives the same disk on any machine, and two recipes never share a filesystem UUID.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from bakery.errors import UserError

SECTOR = 512
MIB = 1 << 20
#: partitions start on MiB boundaries
ALIGN = MIB
ESP_SIZE = 64 * MIB
BIOS_BOOT_SIZE = MIB
#: the backup GPT at the end of the disk: 32 sectors of entries and one header sector
GPT_TAIL = 33 * SECTOR
#: the smallest disk worth making: the ESP and a little root
MIN_SIZE = 128 * MIB

ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
BIOS_BOOT_TYPE = "21686148-6449-6E6F-744E-656564454649"
#: the x86-64 root partition type of the Discoverable Partitions Specification
ROOT_X86_64_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"

#: the namespace of every identity Bakery derives for a disk
NAMESPACE = uuid.UUID("6f1d2c3a-6b61-4b65-9279-6469736b7631")

SIZE_PATTERN = r"^[1-9][0-9]*[KMGT]$"
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

Boot = Literal["uefi", "bios"]


def parse_size(text: str) -> int:
    """Bytes of a size such as ``4G`` or ``512M`` (binary units)."""
    if re.match(SIZE_PATTERN, text) is None:
        raise UserError(f"invalid disk size {text!r}", hint="write it like 4G or 2048M")
    return int(text[:-1]) * _UNITS[text[-1]]


def seeded_uuid(identity: str, role: str) -> str:
    """The UUID of ``role`` (``disk``, ``root-fs``...) for a recipe ``identity``."""
    return str(uuid.uuid5(NAMESPACE, f"{identity}/{role}"))


@dataclass(frozen=True)
class Partition:
    """One GPT partition: byte offsets, its type and unique GUIDs and its name."""

    number: int
    name: str
    type_guid: str
    guid: str
    start: int
    size: int

    def sfdisk_line(self) -> str:
        """This partition as a line of an sfdisk script."""
        return (
            f"start={self.start // SECTOR}, size={self.size // SECTOR}, "
            f'type={self.type_guid}, uuid={self.guid}, name="{self.name}"'
        )


@dataclass(frozen=True)
class Geometry:
    """The layout and identities of one disk."""

    size: int
    disk_guid: str
    esp: Partition
    root: Partition
    bios_boot: Partition | None
    #: the ext4 filesystem UUID and its directory hash seed
    root_fs_uuid: str
    root_hash_seed: str
    #: the FAT volume id (8 hex digits)
    esp_volume_id: str

    @property
    def partitions(self) -> tuple[Partition, ...]:
        """Every partition, in order on the disk."""
        first = (self.bios_boot,) if self.bios_boot is not None else ()
        return (*first, self.esp, self.root)

    def sfdisk_script(self) -> str:
        """The whole partition table as an sfdisk script (fixed GUIDs, nothing left to chance)."""
        lines = [
            "label: gpt",
            f"label-id: {self.disk_guid}",
            "unit: sectors",
            f"first-lba: {ALIGN // SECTOR}",
            *(p.sfdisk_line() for p in self.partitions),
        ]
        return "\n".join(lines) + "\n"


def plan(identity: str, size: int, boot: Boot | None) -> Geometry:
    """Lay out a disk of ``size`` bytes for a recipe ``identity`` (``name@version``)."""
    if size < MIN_SIZE or size % SECTOR:
        raise UserError(
            f"disk size {size} bytes is too small or not a whole number of sectors",
            hint=f"use at least {MIN_SIZE // MIB}M",
        )
    start = ALIGN
    bios: Partition | None = None
    number = 1
    if boot == "bios":
        guid = seeded_uuid(identity, "bios-boot-partition")
        bios = Partition(number, "BIOS", BIOS_BOOT_TYPE, guid, start, BIOS_BOOT_SIZE)
        start, number = start + BIOS_BOOT_SIZE, number + 1
    esp_guid = seeded_uuid(identity, "esp-partition")
    esp = Partition(number, "ESP", ESP_TYPE, esp_guid, start, ESP_SIZE)
    root_start = start + ESP_SIZE
    root_end = (size - GPT_TAIL) // ALIGN * ALIGN
    root_guid = seeded_uuid(identity, "root-partition")
    root = Partition(
        number + 1, "root", ROOT_X86_64_TYPE, root_guid, root_start, root_end - root_start
    )
    return Geometry(
        size=size,
        disk_guid=seeded_uuid(identity, "disk"),
        esp=esp,
        root=root,
        bios_boot=bios,
        root_fs_uuid=seeded_uuid(identity, "root-fs"),
        root_hash_seed=seeded_uuid(identity, "root-fs-hash-seed"),
        esp_volume_id=seeded_uuid(identity, "esp-fs").replace("-", "")[:8],
    )
