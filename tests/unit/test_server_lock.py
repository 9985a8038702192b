"""The bakery-server image's pinned dependencies (recipes/files/bakery-server/requirements.txt)
stay in step with pyproject.toml: every dependency pinned, at a version it allows, with a hash."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

LOCK = REPO / "recipes" / "files" / "bakery-server" / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", re.M)


def test_every_dependency_is_pinned_with_a_hash_at_an_allowed_version() -> None:
    text = LOCK.read_text(encoding="utf-8")
    pins = {canonicalize_name(name): Version(version) for name, version, _ in PIN.findall(text)}
    entries = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert len(pins) == len(entries)  # every entry has the name==version + hash shape
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for spec in project["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}: run scripts/lock-server-deps.py"
        assert pins[name] in requirement.specifier, (
            f"{name}=={pins[name]} does not satisfy {spec}: run scripts/lock-server-deps.py"
        )
