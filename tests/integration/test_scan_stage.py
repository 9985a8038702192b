"""Scanner acceptance: every plant in a planted image is reported, a clean image reports none of
them, and the default policy fails the planted bake (exit 3, nothing tagged)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import REPO, bakery
from tests.integration.conftest import SDE
from tests.sarif import sarif_errors

OSV = REPO.parent / "shared" / "data" / "osv-debian12"
#: excerpts of NVD's CVE JSON 2.0 and the Debian security tracker's JSON (tests/data/README.md)
NVD = REPO / "tests" / "data" / "nvd-cve-2.0-excerpt.json"
TRACKER = REPO / "tests" / "data" / "debian-tracker-excerpt.json"
# a made-up key pair: no real credential anywhere in this repository
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "MIIEowIBAAKCAQEAx3k9Qm7rT2VbYw8sZp1LcN4fHj6Ga0eKd5UiXo2RtPqWnMvB\n" * 8
    + "-----END RSA PRIVATE KEY-----\n"
)
AWS = "aws_access_key_id = AKIAQ3EGTXNWJ7K5ZP2M\naws_secret_access_key = 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\n"
OPENSSL_STATUS = (
    "\nPackage: libssl3\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
    "Installed-Size: 6000\nMaintainer: Debian OpenSSL Team\nArchitecture: amd64\n"
    "Multi-Arch: same\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n"
    "Description: Secure Sockets Layer toolkit - shared libraries\n"
)

EXPECTED = {
    "secret.private-key",
    "secret.aws-access-key",
    "misconfig.setuid",
    "misconfig.world-writable-dir",
    "misconfig.ssh-host-key",
}


def _planted_recipe(tmp_path: Path) -> Path:
    (tmp_path / "id_rsa").write_text(PEM)
    (tmp_path / "credentials").write_text(AWS)
    (tmp_path / "status-extra").write_text(OPENSSL_STATUS)
    recipe = tmp_path / "planted.yaml"
    recipe.write_text(
        "apiVersion: bakery.dev/v1\nname: test/planted\nversion: '1'\n"
        "base: {image: 'golden/debian-base:12'}\n"
        "steps:\n"
        "  - copy: {src: id_rsa, dest: /home/app/.ssh/id_rsa, mode: '0600'}\n"
        "  - copy: {src: credentials, dest: /home/app/.aws/credentials}\n"
        "  - copy: {src: id_rsa, dest: /etc/ssh/ssh_host_rsa_key, mode: '0600'}\n"
        "  - copy: {src: status-extra, dest: /tmp/status-extra}\n"
        "  - run: |\n"
        "      cp /bin/true /usr/local/bin/helper && chmod 4755 /usr/local/bin/helper\n"
        "      mkdir -p /srv/drop && chmod 0777 /srv/drop\n"
        "      cat /tmp/status-extra >> /var/lib/dpkg/status && rm /tmp/status-extra\n"
    )
    return recipe


def _scan_json(store: Path, ref: str) -> dict[str, Any]:
    done = bakery("scan", ref, "--store", store, "--format", "json")
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


def test_planted_image_fails_the_default_policy_and_every_plant_is_reported(
    tmp_path: Path, private_store: Path
) -> None:
    assert OSV.is_dir(), f"missing shared test data at {OSV}"
    imported = bakery("db", "import", OSV, "--store", private_store)
    assert imported.returncode == 0, imported.stderr
    recipe = _planted_recipe(tmp_path)

    gated = bakery("bake", recipe, "--store", private_store, env=SDE)
    assert gated.returncode == 3, (gated.returncode, gated.stderr)
    assert "fails its policy" in gated.stderr and "Traceback" not in gated.stderr
    tags = json.loads(bakery("images", "--store", private_store, "--json").stdout)
    assert "test/planted:1" not in {t["tag"] for t in tags}
    # the secrets themselves never reach the output
    assert "AKIAQ3EGTXNWJ7K5ZP2M" not in gated.stderr + gated.stdout
    assert "hX9vLq2+Rk8TzW4pYb7NcMd0FsJe3GaUo6Ki1VtB" not in gated.stderr + gated.stdout

    assert bakery("bake", recipe, "--store", private_store, "--no-scan", env=SDE).returncode == 0
    planted = _scan_json(private_store, "test/planted:1")
    ids = {f["id"] for f in planted["findings"]}
    assert ids >= EXPECTED, EXPECTED - ids
    vulns = [f for f in planted["findings"] if f["category"] == "vulnerability"]
    assert vulns and all(
        "openssl" in (f["package"] or "") or "libssl" in (f["package"] or "") for f in vulns
    )
    expected_vulns = _vulnerable_openssl_ids("3.0.11-1~deb12u1")
    assert expected_vulns <= {f["id"] for f in vulns}
    assert planted["policy"]["passed"] is False
    assert "AKIAQ3EGTXNWJ7K5ZP2M" not in json.dumps(planted)
    sarif = bakery("scan", "test/planted:1", "--store", private_store, "--format", "sarif")
    assert sarif.returncode == 3, sarif.stderr
    assert "AKIAQ3EGTXNWJ7K5ZP2M" not in sarif.stdout
    (tmp_path / "planted.sarif").write_text(sarif.stdout)
    assert sarif_errors(tmp_path / "planted.sarif") == []

    clean = _scan_json(private_store, "golden/debian-base:12")
    assert not ({f["id"] for f in clean["findings"]} & (EXPECTED | expected_vulns))
    assert clean["policy"]["passed"] is True


def _vulnerable_openssl_ids(installed: str) -> set[str]:
    """Advisories for source openssl whose Debian:12 fixed version is above ``installed``,
    computed with dpkg itself, not with the code under test."""
    ids = set()
    for path in sorted(OSV.glob("*.json")):
        record = json.loads(path.read_text())
        for affected in record.get("affected", []):
            package = affected.get("package", {})
            if package.get("name") != "openssl" or package.get("ecosystem") != "Debian:12":
                continue
            for rng in affected.get("ranges", []):
                fixed = [e["fixed"] for e in rng.get("events", []) if "fixed" in e]
                if any(_dpkg_lt(installed, f) for f in fixed):
                    ids.add(record["id"])
    return ids


def _dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def test_enriched_advisories_fail_a_planted_libssl3_and_pass_the_golden_images(
    tmp_path: Path, private_store: Path
) -> None:
    """Issue 14: the Debian records carry no severity; with NVD's and the tracker's data joined
    through their CVE ids, an image whose only problem is an old libssl3 fails the default
    policy and the table lists its advisories; the golden images still pass."""
    for source in (OSV, TRACKER, NVD):
        imported = bakery("db", "import", source, "--store", private_store)
        assert imported.returncode == 0, imported.stderr
    (tmp_path / "status-extra").write_text(OPENSSL_STATUS)
    recipe = tmp_path / "libssl.yaml"
    recipe.write_text(
        "apiVersion: bakery.dev/v1\nname: test/old-libssl\nversion: '1'\n"
        "base: {image: 'golden/debian-base:12'}\n"
        "steps:\n"
        "  - copy: {src: status-extra, dest: /tmp/status-extra}\n"
        "  - run: cat /tmp/status-extra >> /var/lib/dpkg/status && rm /tmp/status-extra\n"
    )
    gated = bakery("bake", recipe, "--store", private_store, env=SDE)
    assert gated.returncode == 3, (gated.returncode, gated.stderr)
    assert "fails its policy" in gated.stderr and "Traceback" not in gated.stderr
    assert bakery("bake", recipe, "--store", private_store, "--no-scan", env=SDE).returncode == 0

    table = bakery("scan", "test/old-libssl:1", "--store", private_store)
    assert table.returncode == 3, table.stderr
    expected = _vulnerable_openssl_ids("3.0.11-1~deb12u1")
    assert expected == {"DSA-5532-1", "DSA-5764-1", "DEBIAN-CVE-2024-5535"}
    assert table.stdout.startswith(f"Policy FAILED: {len(expected)} violations")
    listed = table.stdout[table.stdout.index("Findings:") :]
    assert "  CRITICAL: 1\n    libssl3 3.0.11-1~deb12u1: 1\n      DEBIAN-CVE-2024-5535" in listed
    assert "  HIGH: 2\n    libssl3 3.0.11-1~deb12u1: 2\n      DSA-5532-1" in listed
    assert listed.count("nvd:cvss_v3.1") == 3 and listed.count("FAILS") == 3
    result = _scan_json(private_store, "test/old-libssl:1")
    vulns = {f["id"]: f for f in result["findings"] if f["category"] == "vulnerability"}
    assert set(vulns) == expected
    assert {f["severity_source"] for f in vulns.values()} == {"nvd:cvss_v3.1"}

    for ref in ("golden/debian-base:12", "golden/nginx:1.22"):
        golden = bakery("scan", ref, "--store", private_store)
        assert golden.returncode == 0, golden.stdout + golden.stderr
        assert golden.stdout.startswith("Policy PASSED: 0 violations"), golden.stdout
        findings = _scan_json(private_store, ref)["findings"]
        counts = Counter((f["category"], f["severity"]) for f in findings)
        print(f"{ref}: {len(findings)} findings {dict(sorted(counts.items()))}")  # for the log
