"""The policy gate: loading with file:line errors, evaluation, the default policy, SARIF."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bakery.errors import UserError
from bakery.scan.misconfig import scan_misconfig
from bakery.scan.model import Finding, Package
from bakery.scan.policy import (
    DEFAULT_POLICY,
    Policy,
    PolicyResult,
    evaluate,
    load_policy,
    parse_policy,
    render_table,
    to_sarif,
)
from bakery.scan.secrets import scan_secrets
from tests.sarif import sarif_errors
from tests.unit.test_misconfig import build_minbase, config, mkdir, pem, write
from tests.unit.test_secrets import plant_secrets

TODAY = date(2026, 6, 1)

EXAMPLE = """\
apiVersion: bakery.dev/v1
kind: Policy
maxSeverity: {vulnerability: high, secret: none, misconfiguration: medium}
forbidden: {packages: ["telnetd", "pkg:deb/debian/openssl@3.0.11*"], licenses: ["AGPL-3.0-only"]}
requiredLabels: ["org.opencontainers.image.source"]
allow:
  - {id: CVE-2023-1234, reason: "not reachable: we never call X", expires: 2027-01-31}
  - id: secret.aws-access-key
    path: "/opt/app/test-fixtures/*"
    reason: test fixture, revoked key
    expires: 2026-12-31
  - {id: CVE-2020-0001, reason: "old waiver", expires: 2025-01-01}
"""


def policy(text: str = EXAMPLE) -> Policy:
    return parse_policy(text, Path("policy.yaml"))


def vuln(
    cve: str = "CVE-2024-0001",
    severity: str = "high",
    fixed: str | None = "1.2",
    aliases: tuple[str, ...] = (),
) -> Finding:
    return Finding.model_validate(
        {
            "category": "vulnerability",
            "id": cve,
            "severity": severity,
            "title": f"{cve} in libfoo",
            "package": "pkg:deb/debian/libfoo@1.0?arch=amd64",
            "installed_version": "1.0",
            "fixed_version": fixed,
            "aliases": aliases,
        }
    )


def secret(path: str = "/opt/app/test-fixtures/creds", severity: str = "high") -> Finding:
    return Finding.model_validate(
        {
            "category": "secret",
            "id": "secret.aws-access-key",
            "severity": severity,
            "title": "AWS access key id",
            "path": path,
            "line": 3,
            "detail": "AKIA****",
        }
    )


def package(name: str, version: str = "1.0", licenses: tuple[str, ...] = ()) -> Package:
    return Package(
        type="deb",
        name=name,
        version=version,
        purl=f"pkg:deb/debian/{name}@{version.replace('+', '%2B')}?arch=amd64",
        licenses=licenses,
        location="/var/lib/dpkg/status",
    )


LABELS = {"org.opencontainers.image.source": "https://git.example.org/app"}


def run(
    pol: Policy,
    findings: list[Finding] = (),  # type: ignore[assignment]
    packages: list[Package] = (),  # type: ignore[assignment]
    labels: dict[str, str] | None = None,
) -> PolicyResult:
    return evaluate(pol, findings, packages, LABELS if labels is None else labels, today=TODAY)


# --------------------------------------------------------------------------- loading


def test_the_example_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(EXAMPLE)
    loaded = load_policy(path)
    assert loaded.max_severity.vulnerability == "high"
    assert loaded.max_severity.secret == "none"
    assert loaded.forbidden.packages == ("telnetd", "pkg:deb/debian/openssl@3.0.11*")
    assert loaded.allow[1].path == "/opt/app/test-fixtures/*"
    assert loaded.allow[0].expires == date(2027, 1, 31)
    assert loaded.ignore_unfixed is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nmaxSeverty: {}\n",
            ":3:1: unknown key 'maxSeverty'",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nmaxSeverity:\n  secret: severe\n",
            ":4:11: maxSeverity.secret: expected 'none', 'unknown', 'low', 'medium', 'high'",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n  - id: CVE-1\n    expires: 2027-01-01\n",
            ":4:5: missing required key 'reason' in allow[0]",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n  - id: CVE-1\n    reason: x\n"
            "    expires: 2027-01-01 10:00:00\n",
            ":6:14: allow[0].expires: expected a date like 2027-01-31, got 2027-01-01 10:00:00",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n  - id: CVE-1\n    reason: x\n"
            "    expires: 2027-02-30\n",
            ":6:14: invalid date 2027-02-30: day is out of range for month",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n  - id: CVE-1\n    reason: x\n"
            "    expires: '2027-02-30'\n",
            ":6:14: allow[0].expires: expected a date like 2027-01-31, got 2027-02-30",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n  - {id: CVE-1, reason: '', expires: 2027-01-01}\n",
            ":4:25: allow[0].reason: must not be empty",
        ),
        (
            "apiVersion: bakery.dev/v2\nkind: Policy\n",
            ":1:13: apiVersion: expected 'bakery.dev/v1', got 'bakery.dev/v2'",
        ),
        ("apiVersion: bakery.dev/v1\n", ":1:1: missing required key 'kind'"),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nkind: Policy\n",
            ":3:1: duplicate key 'kind' (first at line 2)",
        ),
        ("apiVersion: [\n", ":2:1: invalid YAML"),
        ("- just a list\n", ":1:1: a policy must be a mapping (apiVersion: ..., kind: ..., ...)"),
        ("", ": the policy is empty"),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nrequiredLabels: label\n",
            ":3:17: requiredLabels: expected a list",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nignoreUnfixed: maybe\n",
            ":3:16: ignoreUnfixed: expected true or false",
        ),
        (
            "apiVersion: bakery.dev/v1\nkind: Policy\nforbidden: [a]\n",
            ":3:1: forbidden: expected a mapping",
        ),
    ],
)
def test_bad_policies_are_reported_at_their_line(text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        policy(text)
    assert caught.value.message.startswith("policy.yaml" + message), caught.value.message


def test_more_problems_are_counted() -> None:
    with pytest.raises(UserError, match=r"\(and 1 more problem\)$"):
        policy("apiVersion: bakery.dev/v1\nkind: Policy\na: 1\nb: 2\n")


def test_a_quoted_date_is_accepted() -> None:
    text = "apiVersion: bakery.dev/v1\nkind: Policy\nallow: [{id: X, reason: y, expires: '2027-01-31'}]\n"
    assert policy(text).allow[0].expires == date(2027, 1, 31)


def test_a_missing_policy_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="policy not found"):
        load_policy(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- evaluation


def test_findings_above_their_category_limit_fail() -> None:
    pol = policy()
    result = run(pol, [vuln(severity="high"), vuln("CVE-2024-0002", "critical")])
    assert not result.passed
    assert [(v.rule, v.subject) for v in result.violations] == [("max-severity", "CVE-2024-0002")]
    assert result.violations[0].message == "vulnerability findings above 'high' fail"


def test_secret_none_fails_on_any_secret_even_unknown_severity() -> None:
    result = run(policy(), [secret("/etc/app", "unknown")])
    assert [v.subject for v in result.violations] == ["secret.aws-access-key"]
    assert result.violations[0].path == "/etc/app:3"


def test_allowances_match_id_alias_and_path_glob() -> None:
    pol = policy()
    waived = [
        secret("/opt/app/test-fixtures/deep/creds"),
        vuln("GHSA-x", "critical", aliases=("CVE-2023-1234",)),
    ]
    result = run(pol, [*waived, secret("/opt/app/creds")])
    assert [a.finding for a in result.allowed] == waived
    assert result.allowed[0].allowance.reason == "test fixture, revoked key"
    assert [v.path for v in result.violations] == ["/opt/app/creds:3"]


def test_allowance_ids_are_case_insensitive() -> None:
    result = run(policy(), [vuln("cve-2023-1234", "critical")])
    assert result.passed and len(result.allowed) == 1


def test_expired_allowances_match_nothing_and_are_reported() -> None:
    pol = policy()
    result = run(pol, [vuln("CVE-2020-0001", "critical")])
    assert not result.passed
    assert [a.id for a in result.expired_allowances] == ["CVE-2020-0001"]
    assert result.violations[0].message.endswith("(its allowance expired on 2025-01-01)")
    later = evaluate(pol, [secret()], [], LABELS, today=date(2027, 1, 1))
    assert not later.passed and {a.id for a in later.expired_allowances} == {
        "CVE-2020-0001",
        "secret.aws-access-key",
    }
    on_the_day = evaluate(pol, [secret()], [], LABELS, today=date(2026, 12, 31))
    assert on_the_day.passed


def test_unfixed_vulnerabilities_are_ignored_unless_the_policy_says_otherwise() -> None:
    unfixed = vuln("CVE-2024-0003", "critical", fixed=None)
    result = run(policy(), [unfixed])
    assert result.passed and result.ignored_unfixed == [unfixed]
    strict = policy(EXAMPLE + "ignoreUnfixed: false\n")
    assert not run(strict, [unfixed]).passed


def test_forbidden_packages_by_name_and_purl_glob() -> None:
    packages = [
        package("telnetd", "0.17-44"),
        package("openssl", "3.0.11-1~deb12u2"),
        package("openssl-provider-legacy", "3.0.11-1~deb12u2"),
        package("libssl3", "3.0.11-1~deb12u2"),
        package("openssl", "3.0.13-1~deb12u1"),
    ]
    result = run(policy(), [], packages)
    assert [v.subject for v in result.violations] == [packages[0].purl, packages[1].purl]
    assert result.violations[0].message == "package telnetd 0.17-44 is forbidden (telnetd)"


def test_purl_globs_also_match_the_decoded_purl() -> None:
    pol = policy(
        "apiVersion: bakery.dev/v1\nkind: Policy\nforbidden: {packages: ['pkg:deb/debian/foo@1.0+b1*']}\n"
    )
    assert not run(pol, [], [package("foo", "1.0+b1")]).passed


@pytest.mark.parametrize(
    ("licenses", "forbidden"),
    [
        (("AGPL-3.0-only",), True),
        (("agpl-3.0-only",), True),
        (("MIT", "AGPL-3.0-only"), True),
        (("MIT OR AGPL-3.0-only",), False),
        (("GPL-2.0-only AND AGPL-3.0-only",), True),
        (("(MIT OR Apache-2.0) AND AGPL-3.0-only",), True),
        (("MIT AND (Apache-2.0 OR AGPL-3.0-only)",), False),
        (("AGPL-3.0-only WITH Some-exception",), True),
        (("GPL-2+ or AGPL-3.0-only",), False),
        (("AGPL-3.0-only AND (",), True),  # does not parse: every licence named counts
        (("AGPL-3.0-or-later",), False),
        (("MIT",), False),
    ],
)
def test_forbidden_licenses(licenses: tuple[str, ...], forbidden: bool) -> None:
    result = run(policy(), [], [package("foo", licenses=licenses)])
    assert (not result.passed) is forbidden
    if forbidden:
        assert result.violations[0].rule == "forbidden-license"
        assert result.violations[0].message.lower() == "package foo is licensed agpl-3.0-only"


def test_license_globs() -> None:
    pol = policy(
        "apiVersion: bakery.dev/v1\nkind: Policy\nforbidden: {licenses: ['AGPL-*', 'SSPL-1.0']}\n"
    )
    assert not run(pol, [], [package("foo", licenses=("AGPL-3.0-or-later",))]).passed
    assert not run(pol, [], [package("foo", licenses=("sspl-1.0",))]).passed
    assert run(pol, [], [package("foo", licenses=("LGPL-2.1-only",))]).passed


def test_required_labels() -> None:
    pol = policy()
    missing = run(pol, labels={})
    assert [(v.rule, v.subject) for v in missing.violations] == [
        ("required-label", "org.opencontainers.image.source")
    ]
    assert not run(pol, labels={"org.opencontainers.image.source": ""}).passed
    assert run(pol).passed


# --------------------------------------------------------------------------- the default policy


def test_default_policy_is_an_empty_policy_file() -> None:
    assert policy("apiVersion: bakery.dev/v1\nkind: Policy\n") == DEFAULT_POLICY
    limits = DEFAULT_POLICY.max_severity
    assert (limits.vulnerability, limits.secret, limits.misconfiguration) == (
        "medium",
        "none",
        "medium",
    )


def _scan(root: Path, user: str | None) -> list[Finding]:
    return [*scan_secrets(root).findings, *scan_misconfig(root, config(user))]


def test_default_policy_passes_a_clean_minbase_with_a_user(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    packages = [
        package("base-files", "12.4+deb12u5", ("GPL-2.0-or-later",)),
        package("bash", "5.2.15-2+b2"),
    ]
    low_unfixed = [
        vuln("CVE-2011-3374", "low", fixed=None),
        vuln("CVE-2023-1", "critical", fixed=None),
    ]
    result = evaluate(
        DEFAULT_POLICY, [*_scan(tmp_path, "app"), *low_unfixed], packages, {}, today=TODAY
    )
    assert result.passed, render_table(result)


def _private_key(root: Path) -> None:
    write(root, "/opt/app/key.pem", pem("RSA PRIVATE KEY"), 0o600)


def _aws_key(root: Path) -> None:
    write(root, "/opt/app/env.sh", "AWS_ACCESS_KEY_ID=AKIA" + "Q7ZB3XKD5N2MWJ6R" + "\n")


def _setuid(root: Path) -> None:
    write(root, "/usr/local/bin/helper", b"\x7fELF\0", 0o4755)


def _world_writable_dir(root: Path) -> None:
    mkdir(root, "/srv/uploads", 0o777)


def _ssh_host_keys(root: Path) -> None:
    write(root, "/etc/ssh/ssh_host_ecdsa_key", pem("EC PRIVATE KEY"), 0o600)
    write(root, "/etc/ssh/ssh_host_ecdsa_key.pub", "ecdsa-sha2-nistp256 AAAA\n")


@pytest.mark.parametrize(
    "plant",
    [_private_key, _aws_key, _setuid, _world_writable_dir, _ssh_host_keys],
    ids=lambda p: p.__name__,
)
def test_default_policy_fails_each_planted_problem_alone(
    tmp_path: Path, plant: Callable[[Path], None]
) -> None:
    build_minbase(tmp_path)
    plant(tmp_path)
    result = evaluate(DEFAULT_POLICY, _scan(tmp_path, "app"), [], {}, today=TODAY)
    assert not result.passed


def test_default_policy_fails_a_fixable_high_vulnerability_and_a_root_image(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    assert not evaluate(DEFAULT_POLICY, [vuln(severity="high")], [], {}, today=TODAY).passed
    assert evaluate(DEFAULT_POLICY, [vuln(severity="medium")], [], {}, today=TODAY).passed
    assert not evaluate(DEFAULT_POLICY, _scan(tmp_path, None), [], {}, today=TODAY).passed


def test_default_policy_fails_the_fully_planted_image(tmp_path: Path) -> None:
    build_minbase(tmp_path)
    for plant in (_private_key, _aws_key, _setuid, _world_writable_dir, _ssh_host_keys):
        plant(tmp_path)
    plant_secrets(tmp_path / "opt/fixtures")
    findings = [*_scan(tmp_path, "app"), vuln("CVE-2024-9999", "critical")]
    result = evaluate(DEFAULT_POLICY, findings, [], {}, today=TODAY)
    failed = {v.subject for v in result.violations}
    assert {
        "secret.private-key",
        "secret.aws-access-key",
        "misconfig.setuid",
        "misconfig.world-writable-dir",
        "misconfig.ssh-host-key",
        "misconfig.private-key",
        "CVE-2024-9999",
    } <= failed


# --------------------------------------------------------------------------- rendering


def test_render_table() -> None:
    result = run(
        policy(),
        [
            vuln("CVE-2024-0002", "critical"),
            secret(),
            vuln("CVE-2020-0001", "critical", fixed=None),
        ],
        [package("telnetd")],
        {},
    )
    text = render_table(result)
    lines = text.splitlines()
    assert lines[0] == (
        "Policy FAILED: 3 violations, 1 allowed finding, 1 expired allowance, "
        "1 ignored unfixed vulnerability"
    )
    assert "Violations:" in lines and "Allowed:" in lines and "Expired allowances:" in lines
    header = next(line for line in lines if line.strip().startswith("SEVERITY  RULE"))
    row = next(line for line in lines if "CVE-2024-0002" in line)
    assert row.index("CVE-2024-0002") == header.index("ID")
    assert "forbidden-package" in text and "required-label" in text
    assert "test fixture, revoked key" in text and "2025-01-01" in text
    assert render_table(run(policy())).startswith("Policy PASSED: 0 violations")


def test_render_table_lists_every_finding_by_severity_then_package_with_counts() -> None:
    findings = [
        vuln("CVE-2024-0003", "medium", aliases=("DEBIAN-CVE-2024-0003", "GHSA-1", "GHSA-2")),
        vuln("CVE-2024-0002", "critical"),
        vuln("CVE-2024-0004", "unknown", fixed=None),
        vuln("CVE-2024-0005", "unknown"),
        secret(),
        Finding.model_validate(
            {**vuln("CVE-2024-0006", "high").model_dump(), "package": "pkg:deb/debian/abc@2.0"}
        ),
    ]
    result = run(policy(), findings)
    lines = render_table(result, findings).splitlines()
    start = lines.index("Findings: 6 (critical 1, high 2, medium 1, low 0, unknown 2)")
    outline = [(len(ln) - len(ln.lstrip()), ln.split()[0]) for ln in lines[start + 1 :]]
    assert outline == [
        (2, "CRITICAL:"),
        (4, "libfoo"),
        (6, "CVE-2024-0002"),
        (2, "HIGH:"),
        (4, "/opt/app/test-fixtures/creds:"),
        (6, "secret.aws-access-key"),
        (4, "abc"),
        (6, "CVE-2024-0006"),
        (2, "MEDIUM:"),
        (4, "libfoo"),
        (6, "CVE-2024-0003"),
        (2, "UNKNOWN:"),
        (4, "libfoo"),
        (6, "CVE-2024-0004"),
        (6, "CVE-2024-0005"),
    ]
    assert "    libfoo 1.0: 2" in lines and "    abc 2.0: 1" in lines
    text = "\n".join(lines[start:])
    assert re.search(r"CVE\-2024\-0002\s+fixed in 1\.2\s+none\s+FAILS", text)
    # medium: within the limit; aliases that are not in the id are shown (two at most)
    assert re.search(
        r"CVE-2024-0003 \(DEBIAN-CVE-2024-0003, GHSA-1, \.\.\.\)\s+fixed in 1\.2\s+none\s+passes",
        text,
    )
    assert re.search(r"CVE\-2024\-0004\s+no fix\s+none\s+ignored: no fix", text)
    assert re.search(r"CVE\-2024\-0005\s+fixed in 1\.2\s+none\s+FAILS", text)  # unknown with a fix
    assert re.search(r"secret\.aws\-access\-key\s+secret \(line 3\)\s+rule\s+allowed", text)
    assert "Findings:" not in render_table(result)  # no findings given: none listed


def test_default_policy_fails_a_fixable_unknown_vulnerability_unless_waived() -> None:
    unknown = vuln("DSA-5532-1", "unknown", aliases=("CVE-2023-5363",))
    result = evaluate(DEFAULT_POLICY, [unknown], [], {}, today=TODAY)
    assert not result.passed
    (violation,) = result.violations
    assert violation.severity == "unknown" and "unknownSeverity: fail" in violation.message
    no_fix = vuln("DSA-5532-1", "unknown", fixed=None)
    assert evaluate(DEFAULT_POLICY, [no_fix], [], {}, today=TODAY).passed
    waived = policy(
        "apiVersion: bakery.dev/v1\nkind: Policy\nallow:\n"
        "  - {id: CVE-2023-5363, reason: rebuilt next sprint, expires: 2027-01-31}\n"
    )
    result = evaluate(waived, [unknown], [], {}, today=TODAY)
    assert result.passed and [a.finding.id for a in result.allowed] == ["DSA-5532-1"]
    lenient = policy("apiVersion: bakery.dev/v1\nkind: Policy\nunknownSeverity: pass\n")
    assert evaluate(lenient, [unknown], [], {}, today=TODAY).passed
    # other categories are rated by their rules: unknown keeps ranking lowest there
    odd = Finding(category="misconfiguration", id="misconfig.x", severity="unknown", title="x")
    assert evaluate(DEFAULT_POLICY, [odd], [], {}, today=TODAY).passed


def test_unknown_severity_takes_fail_or_pass_only() -> None:
    with pytest.raises(UserError, match="unknownSeverity"):
        policy("apiVersion: bakery.dev/v1\nkind: Policy\nunknownSeverity: warn\n")


# --------------------------------------------------------------------------- SARIF


def _check_sarif(log: dict[str, object]) -> None:
    """The parts of the SARIF 2.1.0 schema (and GitHub's upload rules) a log must satisfy."""
    assert set(log) == {"$schema", "version", "runs"} and log["version"] == "2.1.0"
    (run_,) = log["runs"]  # type: ignore[misc]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "bakery" and isinstance(driver["version"], str)
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["defaultConfiguration"]["level"] in (
            "none",
            "note",
            "warning",
            "error",
        )
        if "security-severity" in rule["properties"]:
            assert 0.0 < float(rule["properties"]["security-severity"]) <= 10.0
    for result in run_["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("none", "note", "warning", "error")
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert not physical["artifactLocation"]["uri"].startswith("/")
        assert (
            isinstance(physical["region"]["startLine"], int)
            and physical["region"]["startLine"] >= 1
        )
        assert all(isinstance(v, str) for v in result["partialFingerprints"].values())
    json.dumps(log)


def test_sarif_structure_and_no_secret_leaks(tmp_path: Path) -> None:
    planted = plant_secrets(tmp_path)
    findings = [
        *scan_secrets(tmp_path).findings,
        vuln(),
        vuln(fixed=None),
        vuln("CVE-2", "unknown"),
    ]
    log = to_sarif(findings, tool_version="0.1.0")
    _check_sarif(log)
    results = log["runs"][0]["results"]  # type: ignore[index]
    assert len(results) == len(findings)
    vuln_result = next(r for r in results if r["ruleId"] == "CVE-2024-0001")
    assert vuln_result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "image"
    assert "libfoo@1.0" in vuln_result["message"]["text"]
    rules = {rule["id"]: rule for rule in log["runs"][0]["tool"]["driver"]["rules"]}  # type: ignore[index]
    assert rules["secret.private-key"]["properties"]["security-severity"] == "9.5"
    assert rules["secret.private-key"]["defaultConfiguration"]["level"] == "error"
    assert "security-severity" not in rules["CVE-2"]["properties"]
    text = json.dumps(log)
    for value in planted.secrets:
        assert value not in text


def test_sarif_is_deterministic_and_fingerprints_are_stable() -> None:
    findings = [secret("/b"), secret("/a"), vuln()]
    first = to_sarif(findings, tool_version="1")
    assert first == to_sarif(list(reversed(findings)), tool_version="1")
    fingerprints = [
        r["partialFingerprints"]["bakeryFinding/v1"] for r in first["runs"][0]["results"]
    ]  # type: ignore[index]
    assert len(set(fingerprints)) == 3


def test_sarif_of_nothing_is_valid() -> None:
    log = to_sarif([], tool_version="1")
    _check_sarif(log)
    assert log["runs"][0]["results"] == []  # type: ignore[index]


def test_sarif_passes_the_official_validator(tmp_path: Path) -> None:
    """Microsoft's SARIF Multitool: the 2.1.0 schema plus GitHub's code-scanning upload rules."""
    (tmp_path / "tree").mkdir()
    plant_secrets(tmp_path / "tree")
    findings = [*scan_secrets(tmp_path / "tree").findings, vuln(), vuln("CVE-2", "unknown")]
    findings.append(secret("/etc/x").model_copy(update={"category": "misconfiguration"}))
    for name, log in {
        "findings": to_sarif(findings, tool_version="0.1.0"),
        "empty": to_sarif([], tool_version="0.1.0"),
    }.items():
        path = tmp_path / f"{name}.sarif"
        path.write_text(json.dumps(log))
        assert sarif_errors(path) == [], name
    no_help = to_sarif(findings, tool_version="0.1.0")
    del no_help["runs"][0]["tool"]["driver"]["rules"][0]["help"]
    bad_level = to_sarif(findings, tool_version="0.1.0")
    bad_level["runs"][0]["results"][0]["level"] = "fatal"
    for name, log, expected in (("no-help", no_help, "GH2012"), ("bad-level", bad_level, "fatal")):
        path = tmp_path / f"{name}.sarif"
        path.write_text(json.dumps(log))
        errors = sarif_errors(path)
        assert any(expected in e for e in errors), (name, errors)
