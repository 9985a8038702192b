"""Files a recipe's ``copy`` steps take from its directory, checked and hashed.

A copy source must stay inside the recipe's directory: absolute paths, ``..`` and symlinks that
resolve outside it are refused with the recipe's file:line. Contents are hashed (streamed) once
per bake: the digests key the step cache and go into the lockfile.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bakery.errors import RecipeError
from bakery.oci.digest import sha256_file
from bakery.recipe.loader import LoadedRecipe
from bakery.recipe.lock import LockedFile
from bakery.recipe.model import CopyStep


@dataclass(frozen=True)
class CopySource:
    """One file or symlink to copy."""

    path: Path  # on the host
    relative: str  # where it goes, relative to the destination directory
    recipe_relative: str  # its path relative to the recipe directory (for the lock)
    mode: int
    is_symlink: bool
    from_directory: bool
    sha256: str

    def locked(self) -> LockedFile:
        return LockedFile(path=self.recipe_relative, sha256=self.sha256, mode=self.mode)


def copy_sources(loaded: LoadedRecipe, index: int, step: CopyStep) -> list[CopySource]:
    """Resolve and hash the sources of step ``index``; errors point at the recipe line."""
    loc = ("steps", index, "copy", "src")
    base = loaded.directory.resolve()
    candidate = base / step.src
    if not candidate.exists() and not candidate.is_symlink():
        raise loaded.error_at(loc, f"copy source '{step.src}' does not exist in {base}")
    real = candidate.resolve()
    if not real.is_relative_to(base):
        raise loaded.error_at(
            loc,
            f"copy source '{step.src}' resolves outside the recipe directory ({real})",
            hint="copy only files that live beside the recipe",
        )
    if real.is_dir():
        return _directory_sources(loaded, loc, base, real)
    return [_source(real, real.name, base, from_directory=False)]


def _directory_sources(
    loaded: LoadedRecipe, loc: tuple[str | int, ...], base: Path, top: Path
) -> list[CopySource]:
    sources: list[CopySource] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]):
            path = Path(dirpath, name)
            if path.is_symlink() and not path.resolve().is_relative_to(base):
                raise loaded.error_at(
                    loc,
                    f"'{path.relative_to(base)}' is a symlink to outside the recipe directory",
                )
            sources.append(
                _source(path, path.relative_to(top).as_posix(), base, from_directory=True)
            )
    return sorted(sources, key=lambda s: s.relative)


def _source(path: Path, relative: str, base: Path, *, from_directory: bool) -> CopySource:
    st = path.lstat()
    is_link = stat.S_ISLNK(st.st_mode)
    if not is_link and not stat.S_ISREG(st.st_mode):
        raise RecipeError(f"copy source {path} is not a regular file, directory or symlink")
    digest = (
        hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest() if is_link else sha256_file(path)
    )
    return CopySource(
        path=path,
        relative=relative,
        recipe_relative=path.relative_to(base).as_posix()
        if path.is_relative_to(base)
        else relative,
        mode=stat.S_IMODE(st.st_mode),
        is_symlink=is_link,
        from_directory=from_directory,
        sha256=digest,
    )
