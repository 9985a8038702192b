"""What dpkg says is installed in a rootfs, and the .deb files apt left behind.

Control files are parsed with python-debian, never by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from debian import deb822
from debian.debfile import DebFile

from bakery.errors import BuildError
from bakery.oci.digest import sha256_file
from bakery.oci.securepath import secure_join
from bakery.recipe.lock import LockedPackage

STATUS = Path("var/lib/dpkg/status")
ARCHIVES = Path("var/cache/apt/archives")

Installed = dict[tuple[str, str], str]  # (name, architecture) -> version


def installed(rootfs: Path) -> Installed:
    """Packages in state ``install ok installed`` in the rootfs's dpkg status."""
    status = secure_join(rootfs, str(STATUS))
    if not status.is_file():
        return {}
    result: Installed = {}
    with status.open("rb") as f:
        for para in deb822.Packages.iter_paragraphs(f, use_apt_pkg=False):
            if para.get("Status", "").split()[-1:] == ["installed"]:
                result[(para["Package"], para["Architecture"])] = para["Version"]
    return result


def changed(before: Installed, after: Installed) -> Installed:
    """Packages new in ``after`` or at another version than in ``before``."""
    return {key: version for key, version in after.items() if before.get(key) != version}


def downloaded_debs(rootfs: Path) -> dict[tuple[str, str, str], str]:
    """``(name, version, arch) -> sha256`` of every .deb in apt's archive cache."""
    debs: dict[tuple[str, str, str], str] = {}
    archives = secure_join(rootfs, str(ARCHIVES))
    if not archives.is_dir():
        return debs
    for path in sorted(archives.glob("*.deb")):
        control = DebFile(str(path)).debcontrol()
        key = (control["Package"], control["Version"], control["Architecture"])
        debs[key] = sha256_file(path)
    return debs


def locked_packages(
    packages: Installed, debs: dict[tuple[str, str, str], str]
) -> list[LockedPackage]:
    """Pair installed packages with the sha256 of the .deb they came from, sorted."""
    missing = [f"{n}={v}" for (n, a), v in packages.items() if (n, v, a) not in debs]
    if missing:
        raise BuildError(
            "apt installed packages whose .deb was not kept, so they cannot be pinned: "
            + ", ".join(sorted(missing)[:10])
        )
    return sorted(
        (
            LockedPackage(name=n, version=v, architecture=a, sha256=debs[(n, v, a)])
            for (n, a), v in packages.items()
        ),
        key=lambda p: (p.name, p.architecture),
    )


def remove_apt_leftovers(rootfs: Path) -> None:
    """Delete downloaded .debs, apt's binary caches and package lists."""
    for directory, pattern in (
        ("var/cache/apt/archives", "*.deb"),
        ("var/cache/apt", "*.bin"),
        ("var/lib/apt/lists", "*"),
    ):
        resolved = secure_join(rootfs, directory)  # never follow an image's symlink out
        if not resolved.is_dir():
            continue
        for path in resolved.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()


def pin_preferences(packages: Iterable[LockedPackage]) -> str:
    """An apt preferences file that pins every package to its locked version."""
    versions = sorted({(p.name, p.version) for p in packages})
    return "".join(
        f"Package: {name}\nPin: version {version}\nPin-Priority: 1001\n\n"
        for name, version in versions
    )


def compare(expected: Iterable[LockedPackage], actual: Iterable[LockedPackage]) -> list[str]:
    """Human-readable differences between a locked package set and what was installed."""
    want = {p.key: p for p in expected}
    got = {p.key: p for p in actual}
    problems: list[str] = []
    for key in sorted(want.keys() | got.keys()):
        w, g = want.get(key), got.get(key)
        if g is None and w is not None:
            problems.append(f"{w.name} {w.version} was locked but not installed")
        elif w is None and g is not None:
            problems.append(f"{g.name} {g.version} was installed but is not in the lock")
        elif w is not None and g is not None and (w.version, w.sha256) != (g.version, g.sha256):
            detail = "version" if w.version != g.version else ".deb sha256"
            problems.append(
                f"{w.name}: locked {w.version}, installed {g.version} ({detail} differs)"
            )
    return problems
