"""Vulnerability matching at the issue's scale: 10,000 packages against 100,000 advisories.

    .venv/bin/python benchmarks/bench_match.py [--advisories N] [--packages N] [--seed S]

The advisories are synthesised from the shapes of the real Debian 12 OSV records in
/work/shared/data/osv-debian12 (DSA-* with a summary and ``upstream`` CVE ids, DEBIAN-CVE-* with
``details``; one ``affected`` entry for ecosystem ``Debian:12`` with a source package name and an
ECOSYSTEM range ``introduced: 0`` → ``fixed: <bookworm version>``), with synthetic names and
versions. 10% are for Debian:11 (release filtering), 5% have no fix yet, and 5% each are
GitHub-style PyPI and npm advisories (CVSS vectors, introduced/fixed pairs, some ``versions``
lists and prereleases). Advisories per source package are skewed like the real tracker (a few
packages, like the kernel, carry thousands).

The packages are 90% deb binaries (about three per source package, sharing its version, taken
from the source's upload history so that some are patched and some are not), 5% PyPI and 5% npm.

Everything is written to a zip shaped like osv.dev's ``Debian.zip``, imported once (timed), and
``match`` is timed five times; the median is reported. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bakery.scan.match import match
from bakery.scan.model import Package
from bakery.scan.vulndb import import_osv

REAL = Path("/work/shared/data/osv-debian12")
CVSS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
]


class Universe:
    """Synthetic source packages with upload histories, and PyPI/npm projects with releases."""

    def __init__(self, rng: random.Random, sources: int, projects: int) -> None:
        self.rng = rng
        self.debian = {f"src{i}": self._debian_history(i) for i in range(sources)}
        self.pypi = {f"py-proj-{i}": self._release_history("pypi") for i in range(projects)}
        self.npm = {f"npm-pkg-{i}": self._release_history("npm") for i in range(projects)}
        # a few source packages carry most advisories, as the kernel does in the real tracker
        self.weights = [1 / (rank + 1) ** 0.9 for rank in range(sources)]

    def _debian_history(self, i: int) -> list[str]:
        """A bookworm upload history: <epoch:>X.Y.Z-N, then +deb12uK / ~deb12uK updates."""
        rng = self.rng
        epoch = "1:" if i % 7 == 0 else ""
        upstream = f"{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}"
        sep = "~" if i % 5 == 0 else "+"  # backports to stable use ~deb12uK, like openssl
        base = f"{epoch}{upstream}-{rng.randint(1, 9)}"
        return [base] + [f"{base}{sep}deb12u{k}" for k in range(1, rng.randint(3, 15))]

    def _release_history(self, kind: str) -> list[str]:
        """Ascending releases; npm gets some prereleases."""
        major = self.rng.randint(0, 5)
        out = []
        for minor in range(self.rng.randint(2, 6)):
            for patch in range(self.rng.randint(1, 5)):
                if kind == "npm" and patch == 0 and minor % 2:
                    out.append(f"{major}.{minor}.0-beta.{self.rng.randint(1, 3)}")
                out.append(f"{major}.{minor}.{patch}")
        return out

    def source(self) -> str:
        """A source package, skewed."""
        return self.rng.choices(list(self.debian), weights=self.weights)[0]


def debian_record(u: Universe, n: int, real: dict[str, Any]) -> dict[str, Any]:
    """A record shaped like ``real`` (a DSA or DEBIAN-CVE record) for a synthetic source."""
    rng = u.rng
    name = u.source()
    history = u.debian[name]
    release = "11" if n % 10 == 0 else "12"
    fixed = rng.choice(history[1:])
    if release == "11":
        fixed = fixed.replace("deb12", "deb11")
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if n % 20 != 1:  # 5% not fixed yet
        events.append({"fixed": fixed})
    record = json.loads(json.dumps(real))
    is_dsa = real["id"].startswith("DSA-")
    record["id"] = f"DSA-{n}-1" if is_dsa else f"DEBIAN-CVE-2099-{n}"
    record["upstream"] = [f"CVE-2099-{n}"]
    record["affected"] = [
        {
            "package": {
                "ecosystem": f"Debian:{release}",
                "name": name,
                "purl": f"pkg:deb/debian/{name}?arch=source",
            },
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }
    ]
    if is_dsa:
        record["summary"] = f"{name} - security update"
    return record


def ghsa_record(u: Universe, n: int, ecosystem: str) -> dict[str, Any]:
    """A GitHub-advisory-shaped PyPI or npm record."""
    rng = u.rng
    projects = u.pypi if ecosystem == "PyPI" else u.npm
    name = rng.choice(list(projects))
    releases = projects[name]
    lo = rng.randrange(len(releases) - 1)
    hi = rng.randrange(lo + 1, len(releases))
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [
            {
                "type": "ECOSYSTEM",
                "events": [
                    {"introduced": "0" if lo == 0 else releases[lo]},
                    {"fixed": releases[hi]},
                ],
            }
        ],
    }
    if n % 3 == 0:
        affected["versions"] = releases[lo:hi]
    return {
        "schema_version": "1.6.0",
        "id": f"GHSA-{n:04x}-bench-{ecosystem.lower()}",
        "modified": "2025-01-01T00:00:00Z",
        "published": "2024-06-01T00:00:00Z",
        "aliases": [f"CVE-2098-{n}"],
        "summary": f"Synthetic issue {n} in {name}",
        "severity": [{"type": "CVSS_V3", "score": rng.choice(CVSS)}],
        "affected": [affected],
        "database_specific": {"severity": "HIGH", "github_reviewed": True},
    }


def advisories(u: Universe, count: int) -> list[dict[str, Any]]:
    """``count`` records: 90% Debian (real shapes), 5% PyPI, 5% npm."""
    reals = [json.loads(p.read_text()) for p in sorted(REAL.glob("*.json"))]
    out = []
    for n in range(count):
        if n % 20 == 2:
            out.append(ghsa_record(u, n, "PyPI"))
        elif n % 20 == 3:
            out.append(ghsa_record(u, n, "npm"))
        else:
            out.append(debian_record(u, n, reals[n % len(reals)]))
    return out


def packages(u: Universe, count: int) -> list[Package]:
    """``count`` installed packages: 90% deb binaries (≈3 per source), 5% PyPI, 5% npm."""
    rng = u.rng
    out: list[Package] = []
    sources = rng.sample(list(u.debian), k=min(len(u.debian), count * 9 // 10 // 3 + 1))
    # the binaries of one source package share its version, as dpkg builds them
    source_version = {source: rng.choice(u.debian[source]) for source in sources}
    for i in range(count):
        if i % 20 == 0:
            name = rng.choice(list(u.pypi))
            version = rng.choice(u.pypi[name])
            purl = f"pkg:pypi/{name}@{version}"
            out.append(Package(type="pypi", name=name, version=version, purl=purl, location="x"))
        elif i % 20 == 1:
            name = rng.choice(list(u.npm))
            version = rng.choice(u.npm[name])
            purl = f"pkg:npm/{name}@{version}"
            out.append(Package(type="npm", name=name, version=version, purl=purl, location="x"))
        else:
            source = sources[i % len(sources)]
            version = source_version[source]
            binary = f"lib{source}-{i}"
            purl = f"pkg:deb/debian/{binary}@{version}?arch=amd64&distro=debian-12"
            out.append(
                Package(
                    type="deb",
                    name=binary,
                    version=version,
                    purl=purl,
                    source_name=source,
                    location="/var/lib/dpkg/status",
                )
            )
    return out


def write_zip(records: list[dict[str, Any]], path: Path) -> None:
    """An osv.dev-style ecosystem zip: one <id>.json per record."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record, indent=2))


def main() -> None:
    """Synthesise, import, match; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--advisories", type=int, default=100_000)
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    universe = Universe(rng, sources=max(10, args.advisories // 10), projects=2000)
    installed = packages(universe, args.packages)
    with tempfile.TemporaryDirectory() as tmp:
        source, db = Path(tmp) / "Bench.zip", Path(tmp) / "vulndb.sqlite"
        write_zip(advisories(universe, args.advisories), source)
        del universe
        gc.collect()  # the generator's data is not part of what is measured
        start = time.perf_counter()
        report = import_osv(db, source)
        import_s = time.perf_counter() - start
        runs, findings = [], 0
        for _ in range(5):
            start = time.perf_counter()
            result = match(db, installed)
            runs.append(time.perf_counter() - start)
            findings = len(result)
            del result  # freeing the previous run's findings is not part of the next run
        db_bytes = db.stat().st_size
    figures = {
        "advisories": report.imported,
        "packages": len(installed),
        "match_median_s": round(statistics.median(runs), 3),
        "match_runs_s": [round(r, 3) for r in runs],
        "import_s": round(import_s, 2),
        "findings": findings,
        "db_bytes": db_bytes,
        "skipped_at_import": report.skipped,
        "load_average_1m": round(os.getloadavg()[0], 2),  # the machine may be shared
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
