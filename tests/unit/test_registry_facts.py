"""The facts a bake records: one type, with the limits the registry and its service enforce."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bakery.errors import UserError
from bakery.registry.facts import (
    ArtifactFact,
    BuildFact,
    FindingFact,
    PackageFact,
    ParentFact,
    SbomFact,
    ScanFact,
)
from bakery.registry.record import _recordable

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def artifact(**changes: Any) -> dict[str, Any]:
    """The JSON of a fact with every kind of part, with ``changes`` applied."""
    fact = ArtifactFact(
        digest=D1,
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=10,
        name="golden/app",
        created_at=T0,
        tags=("golden/app:1",),
        parents=(ParentFact(digest=D2, relation="recipe"),),
        build=BuildFact(recipe_name="golden/app", recipe_version="1", started_at=T0),
        scan=ScanFact(
            passed=True,
            scanner_version="1",
            packages=1,
            violations=0,
            findings=(FindingFact(vuln_id="CVE-2099-1", severity="low", aliases=("GHSA-1",)),),
        ),
        packages=(PackageFact(purl="pkg:deb/debian/a@1", type="deb", name="a", version="1"),),
        sboms=(SbomFact(digest=D2, media_type="application/vnd.cyclonedx+json", size=5),),
    )
    return {**fact.model_dump(mode="json", exclude_none=True), **changes}


def test_a_facts_json_is_what_the_service_takes_and_reads_back_equal() -> None:
    body = artifact()
    assert body["parents"] == [{"digest": D2, "relation": "recipe"}]
    assert body["sboms"] == [
        {"digest": D2, "media_type": "application/vnd.cyclonedx+json", "size": 5}
    ]
    assert "vulnerability_db" not in body["scan"]  # None is left out, as the client sends it
    again = ArtifactFact.model_validate_json(json.dumps(body))
    assert again.model_dump(mode="json", exclude_none=True) == body


@pytest.mark.parametrize(
    "changes",
    [
        {"digest": "sha256:" + "A" * 64},
        {"size": -1},
        {"kind": "tarball"},
        {"name": "x" * 256},
        {"tags": ["bad\x00tag"]},
        {"tags": [f"t:{i}" for i in range(101)]},
        {"parents": [{"digest": D2, "relation": "base"}]},
        {"build": {"recipe_name": "r", "recipe_version": "1", "started_at": "2026-01-01T00:00"}},
        {"build": {"recipe_name": "r", "recipe_version": "1", "started_at": T0.isoformat(),
                   "status": "done"}},
        {"packages": [{"purl": "p", "type": "deb", "name": "", "version": "1"}]},
        {"sboms": [{"digest": D2, "media_type": "x", "size": 1, "extra": True}]},
    ],
)  # fmt: skip
def test_facts_refuse_what_the_registry_cannot_record(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ArtifactFact.model_validate_json(json.dumps(artifact(**changes)))


def test_a_bake_whose_facts_exceed_the_limits_is_a_user_error_naming_the_value() -> None:
    refused = pytest.raises(UserError, match=r"cannot record sha256:1+ .*PackageFact\.name")
    with refused, _recordable(D1):
        PackageFact(purl="pkg:deb/debian/a@1", type="deb", name="a" * 300, version="1")


def test_a_kernel_advisory_with_hundreds_of_aliases_is_a_valid_finding() -> None:
    """Debian's kernel advisories name hundreds of upstream CVEs; recording keeps them all."""
    aliases = tuple(f"CVE-2024-{n:05d}" for n in range(600))
    finding = FindingFact(vuln_id="DSA-5000-1", severity="high", aliases=aliases)
    assert len(FindingFact.model_validate_json(finding.model_dump_json()).aliases) == 600
    with pytest.raises(ValidationError):
        FindingFact(vuln_id="DSA-5000-1", severity="high", aliases=("CVE-1",) * 10_001)
