"""The root filesystem: ext4 written into the disk file by ``mke2fs -d``, then made reproducible.

``mke2fs -d`` copies each file's owner, mode, xattrs and times from the rootfs; it runs with a
fixed configuration (not the host's ``/etc/mke2fs.conf``), a UUID and directory hash seed from
the recipe, eager inode-table and journal initialisation, and a fake clock. Two things it takes
from the host are then pinned with one ``debugfs`` script: every inode's ctime and atime (which
no one can set on the source tree) and mtime, all clamped to ``SOURCE_DATE_EPOCH`` as the layer
writer clamps them; the same script applies the first-boot edits.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from bakery import proc
from bakery.disk.firstboot import Edits
from bakery.disk.geometry import Geometry
from bakery.errors import BuildError, ToolError, UserError

BLOCK = 4096
INODE_SIZE = 256
INODE_RATIO = 16384
#: what ext4 needs beyond the files' blocks: inode tables, journal, bitmaps, reserve
OVERHEAD_FRACTION = 0.10
OVERHEAD_FIXED = 96 << 20

#: the whole mke2fs configuration (the host's /etc/mke2fs.conf is never read)
MKE2FS_CONF = f"""[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = {BLOCK}
	inode_size = {INODE_SIZE}
	inode_ratio = {INODE_RATIO}
	reserved_ratio = 1.0

[fs_types]
	ext4 = {{
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}}
"""

_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
_UNSAFE_NAME = re.compile(r'["\n]')


class DiskTooSmall(UserError):
    """The root partition cannot hold the rootfs."""


def rootfs_bytes(rootfs: Path) -> int:
    """What the files of ``rootfs`` occupy in 4 KiB blocks (one block per directory)."""
    total = 0
    for current, dirs, files in os.walk(rootfs):
        total += BLOCK * (1 + len(dirs))
        for name in files:
            total += -(-os.lstat(os.path.join(current, name)).st_size // BLOCK) * BLOCK
    return total


def check_fits(rootfs: Path, geometry: Geometry, size_text: str) -> None:
    """Fail early (DiskTooSmall) when the root partition is clearly too small for ``rootfs``."""
    needed = int(rootfs_bytes(rootfs) * (1 + OVERHEAD_FRACTION)) + OVERHEAD_FIXED
    if needed > geometry.root.size:
        raise DiskTooSmall(
            f"disk size {size_text} is too small for the rootfs: its root partition has "
            f"{geometry.root.size >> 20} MiB, the rootfs needs about {needed >> 20} MiB",
            hint=f"set the disk size to at least {-(-(needed + (128 << 20)) // (1 << 30))}G",
        )


def make_root_fs(
    disk: Path,
    geometry: Geometry,
    rootfs: Path,
    edits: Edits,
    *,
    epoch: int,
    scratch: Path,
) -> None:
    """Write the ext4 root filesystem of ``rootfs`` into the root partition of ``disk``."""
    part = geometry.root
    conf = scratch / "mke2fs.conf"
    conf.write_text(MKE2FS_CONF, encoding="utf-8")
    env = {
        **_ENV,
        "MKE2FS_CONFIG": str(conf),
        "E2FSPROGS_FAKE_TIME": str(epoch),
        "SOURCE_DATE_EPOCH": str(epoch),
    }
    extended = ",".join(
        (
            f"hash_seed={geometry.root_hash_seed}",
            "lazy_itable_init=0",
            "lazy_journal_init=0",
            "root_owner=0:0",
            f"offset={part.start}",
        )
    )
    argv = ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-U", geometry.root_fs_uuid]
    argv += ["-E", extended, "-d", str(rootfs), str(disk), str(part.size // BLOCK)]
    try:
        proc.run(argv, env=env)
    except ToolError as e:
        if "Could not allocate" in e.message or "No space left" in e.message:
            raise DiskTooSmall(
                f"the root partition ({part.size >> 20} MiB) is too small for the rootfs",
                hint="raise the disk size",
            ) from e
        raise
    script = scratch / "debugfs.cmds"
    script.write_text(debugfs_script(rootfs, edits, epoch, scratch), encoding="utf-8")
    done = proc.run(["debugfs", "-w", "-f", script, f"{disk}?offset={part.start}"], env=env)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("debugfs ")]
    if errors:
        raise BuildError("debugfs could not finish the root filesystem:\n" + "\n".join(errors[:20]))


def _quoted(path: str) -> str:
    if _UNSAFE_NAME.search(path):
        raise BuildError(f"cannot put {path!r} on a disk: its name has a quote or a newline")
    return f'"{path}"'


def _times(path: str, seconds: int) -> list[str]:
    return [f"sif {_quoted(path)} {field} @{seconds}" for field in ("atime", "ctime", "mtime")]


def debugfs_script(rootfs: Path, edits: Edits, epoch: int, scratch: Path) -> str:
    """Remove, write, then pin every inode's times (directories touched by the edits too)."""
    lines = [f"rm {_quoted(path)}" for path in edits.remove]
    for n, new in enumerate(edits.write):
        local = scratch / f"new-file-{n}"
        local.write_bytes(new.content)
        lines += [
            f"write {local} {_quoted(new.path)}",
            f"sif {_quoted(new.path)} mode 0{stat.S_IFREG | new.mode:o}",
            f"sif {_quoted(new.path)} uid 0",
            f"sif {_quoted(new.path)} gid 0",
            *_times(new.path, epoch),
        ]
    gone = set(edits.remove) | {new.path for new in edits.write}
    for path, mtime in _walk(rootfs):
        if path not in gone:
            lines += _times(path, min(mtime, epoch))
    return "\n".join(lines) + "\n"


def _walk(rootfs: Path) -> list[tuple[str, int]]:
    """Every path in ``rootfs`` (as the image names it) with its whole-second mtime."""
    found = [("/", int(rootfs.lstat().st_mtime))]
    for current, dirs, files in os.walk(rootfs):
        dirs.sort()
        base = "/" + os.path.relpath(current, rootfs) if current != str(rootfs) else ""
        for name in sorted(dirs + files):
            st = os.lstat(os.path.join(current, name))
            found.append((f"{base}/{name}", int(st.st_mtime)))
    return found
