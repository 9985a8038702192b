"""The npm cataloger: installed Node.js packages, from ``node_modules/**/package.json``.

Only the ``package.json`` of a package directory counts: ``node_modules/<name>/package.json``
or ``node_modules/@scope/<name>/package.json``, at any depth (nested ``node_modules`` and pnpm's
``.pnpm`` store included). An application's own ``package.json`` and the ones inside a
package's sources or test fixtures are not installed packages and are ignored. The walk never
follows symlinks: a symlinked package directory (a linked workspace package) is not read
through the link, so no package is reported twice.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from bakery.scan.catalog import MIB, CatalogResult, Rootfs, collect
from bakery.scan.model import Package

PACKAGE_JSON_LIMIT = 1 * MIB


class NpmCataloger:
    """Installed npm packages (whatever installed them: npm, yarn, pnpm)."""

    name = "npm"

    def catalog(self, rootfs: Path) -> CatalogResult:
        """The npm packages installed anywhere in ``rootfs``."""
        return collect(rootfs, self.name, package_json_files, _package)


def package_json_files(fs: Rootfs) -> Iterator[str]:
    """The image paths of the ``package.json`` of every package directory in a node_modules."""
    for directory, _, files in fs.walk():
        if "package.json" in files and is_package_dir(directory):
            yield posixpath.join(directory, "package.json")


def is_package_dir(directory: str) -> bool:
    """Whether ``directory`` is ``…/node_modules/<name>`` or ``…/node_modules/@scope/<name>``."""
    parent, name = posixpath.split(directory)
    if name.startswith(".") or not name:
        return False
    grandparent, parent_name = posixpath.split(parent)
    if parent_name == "node_modules":
        return not name.startswith("@")
    return parent_name.startswith("@") and posixpath.basename(grandparent) == "node_modules"


def _package(fs: Rootfs, path: str) -> Package | None:
    """The :class:`Package` of one ``package.json``, or ``None`` (with a note) if invalid."""
    manifest = _load(fs, path)
    if manifest is None:
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        fs.note(path, "no string name and version; skipped")
        return None
    parts = split_name(name)
    if parts is None:
        fs.note(path, f"invalid package name {name!r}; skipped")
        return None
    return Package(
        type="npm",
        name=name,
        version=version,
        purl=PackageURL("npm", parts[0], parts[1], version).to_string(),
        licenses=licenses(manifest),
        location=path,
    )


def split_name(name: str) -> tuple[str | None, str] | None:
    """``(scope, name)`` of an npm package name (``@scope/name`` or ``name``); ``None`` if
    it is neither."""
    if name.startswith("@"):
        scope, slash, bare = name.partition("/")
        return (scope, bare) if slash and len(scope) > 1 and bare and "/" not in bare else None
    return (None, name) if "/" not in name else None


def _load(fs: Rootfs, path: str) -> dict[str, Any] | None:
    """The JSON object in ``path``, or ``None`` (with a note) if it is not one."""
    data = fs.read(path, limit=PACKAGE_JSON_LIMIT, missing_ok=False)
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError
        fs.note(path, f"not valid JSON ({type(e).__name__}); skipped")
        return None
    if not isinstance(manifest, dict):
        fs.note(path, "not a JSON object; skipped")
        return None
    return manifest


def licenses(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The declared licences: ``license`` (an SPDX expression, or the legacy ``{"type": …}``),
    else the legacy ``licenses`` list."""
    declared = manifest.get("license")
    entries = [declared] if declared else manifest.get("licenses")
    if not isinstance(entries, list):
        return ()
    names = (e.get("type") if isinstance(e, dict) else e for e in entries)
    return tuple(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))
