"""The Python cataloger: installed distributions, from their core metadata.

Finds ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` and single-file ``*.egg-info``
anywhere in the rootfs, as Trivy and Syft do: in ``site-packages`` and ``dist-packages`` of
every interpreter and virtual environment, and in vendored copies too; a symlinked metadata
directory is not followed. The metadata is RFC 822 headers, parsed with :mod:`email` as
:mod:`importlib.metadata` does; the purl name is normalised per PEP 503. Files come from the
``RECORD`` of a ``.dist-info``.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

from packageurl import PackageURL
from packaging.utils import InvalidName, canonicalize_name

from bakery.scan.catalog import MIB, CatalogResult, Rootfs, collect
from bakery.scan.model import Package

METADATA_LIMIT = 1 * MIB
RECORD_LIMIT = 16 * MIB
#: values of the ``License`` field that declare nothing
_NO_LICENSE = frozenset({"", "UNKNOWN", "NONE"})


class PythonCataloger:
    """Installed Python distributions (wheels, eggs, Debian ``python3-*`` packages)."""

    name = "python"

    def catalog(self, rootfs: Path) -> CatalogResult:
        """The Python distributions installed anywhere in ``rootfs``."""
        return collect(rootfs, self.name, metadata_files, _package)


def metadata_files(fs: Rootfs) -> Iterator[str]:
    """The image paths of every distribution's metadata file, in walk order."""
    for directory, dirs, files in fs.walk():
        for name in dirs:
            if name.endswith(".dist-info"):
                yield posixpath.join(directory, name, "METADATA")
            elif name.endswith(".egg-info"):
                yield posixpath.join(directory, name, "PKG-INFO")
        for name in files:
            if name.endswith(".egg-info"):
                yield posixpath.join(directory, name)


def _package(fs: Rootfs, path: str) -> Package | None:
    """The :class:`Package` described by the metadata file ``path``, or ``None`` with a note."""
    text = fs.text(path, limit=METADATA_LIMIT, missing_ok=False)
    if text is None:
        return None
    metadata = HeaderParser().parsestr(text)
    name, version = _header(metadata, "Name"), _header(metadata, "Version")
    if not name or not version or "\n" in name + version:
        fs.note(path, "no Name and Version headers; skipped")
        return None
    try:
        normalised = canonicalize_name(name, validate=True)
    except InvalidName:
        fs.note(path, f"invalid distribution name {name!r}; skipped")
        return None
    return Package(
        type="pypi",
        name=name,
        version=version,
        purl=PackageURL("pypi", None, normalised, version).to_string(),
        licenses=licenses(metadata),
        files=_record_files(fs, path),
        location=path,
    )


def _header(metadata: Message, name: str) -> str:
    """A header's value, stripped (``""`` when absent)."""
    return str(metadata.get(name) or "").strip()


def licenses(metadata: Message) -> tuple[str, ...]:
    """The declared licence: ``License-Expression`` (PEP 639), else a one-line ``License``,
    else the ``License ::`` classifiers (``License :: OSI Approved :: MIT License`` → the last
    part). A multi-line ``License`` is a licence text, not a name, and is not used."""
    expression = _header(metadata, "License-Expression")
    if expression:
        return (expression,)
    declared = _header(metadata, "License")
    if declared.upper() not in _NO_LICENSE and "\n" not in declared:
        return (declared,)
    classifiers = (str(c) for c in metadata.get_all("Classifier") or ())
    names = (c.split("::")[-1].strip() for c in classifiers if c.startswith("License ::"))
    return tuple(dict.fromkeys(n for n in names if n and n != "OSI Approved"))


def _record_files(fs: Rootfs, metadata_path: str) -> tuple[str, ...]:
    """The installed files listed in a ``.dist-info/RECORD``, as absolute paths (sorted).

    RECORD paths are relative to the directory holding the ``.dist-info`` directory.
    """
    info_dir = posixpath.dirname(metadata_path)
    if not info_dir.endswith(".dist-info"):
        return ()
    text = fs.text(posixpath.join(info_dir, "RECORD"), limit=RECORD_LIMIT)
    if text is None:
        return ()
    base = posixpath.dirname(info_dir)
    try:
        rows = [row[0] for row in csv.reader(text.splitlines()) if row and row[0]]
    except csv.Error as e:
        fs.note(f"{info_dir}/RECORD", f"unreadable CSV ({e}); no files recorded")
        return ()
    return tuple(sorted({posixpath.normpath(posixpath.join(base, row)) for row in rows}))
