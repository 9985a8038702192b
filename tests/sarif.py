"""Validate SARIF with Microsoft's SARIF Multitool: the 2.1.0 schema and GitHub's upload rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema

from tests.conftest import require_tools

#: the validator's rule sets: the SARIF spec's and GitHub code scanning's ingestion rules
RULE_KINDS = "Sarif;Gh"


def sarif_errors(log: Path) -> list[str]:
    """Every error for ``log``: the official 2.1.0 JSON schema (shipped with the SARIF SDK's
    multitool, checked with jsonschema: the multitool itself skips enum checks), then every
    error result of the multitool's SARIF and GitHub rules."""
    require_tools("sarif-multitool")
    schema_path = Path(shutil.which("sarif-multitool") or "").resolve().parent / "sarif-2.1.0.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8-sig"))
    document = json.loads(log.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"schema: {e.json_path}: {e.message}" for e in validator.iter_errors(document)]
    report = log.with_suffix(".validation.sarif")
    done = subprocess.run(
        [
            "sarif-multitool",
            "validate",
            str(log),
            "--output",
            str(report),
            "--rule-kind",
            RULE_KINDS,
            "--log",
            "ForceOverwrite",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert report.is_file(), f"sarif-multitool wrote no report:\n{done.stdout}\n{done.stderr}"
    for run in json.loads(report.read_text(encoding="utf-8-sig"))["runs"]:
        for result in run.get("results", []):
            if result.get("level", "warning") == "error":
                errors.append(
                    f"{result['ruleId']}: {result['message'].get('text', result['message'])}"
                )
        for invocation in run.get("invocations", []):
            for note in invocation.get("toolExecutionNotifications", []):
                if note.get("level") == "error":
                    errors.append(f"tool: {note['message']['text']}")
    return errors
