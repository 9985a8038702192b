"""What promotion demands: verified evidence by trusted keys, judged by the channel's rule.

An artifact may go into a channel when it is not revoked and the registry holds, verified by
keys trusted *now* for the repository (:mod:`bakery.registry.trust`):

- a cosign signature, by every key the channel's rule requires (by any trusted key when the
  rule names none);
- a signed scan attestation whose findings pass the rule's policy, and whose own verdict (the
  bake's policy) passed.

Nothing a builder merely claims counts: the scan row a bake records, or a signature row's key
id, are not evidence unless the service verified the signed object itself.

A rule is set per repository and channel by an admin; the newest rule is in force, and each
change is an audit entry. A rule's policy is a scan policy (``kind: Policy``) whose
severity limits, ``ignoreUnfixed`` and allowances judge the signed findings; packages,
licenses and labels are the recipe policy's business (the bake's verdict covers them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bakery.errors import UserError
from bakery.oci.layout import validate_ref_name
from bakery.registry import models as m
from bakery.registry.audit.log import append
from bakery.registry.audit.rows import cover
from bakery.registry.current import revoked_ids
from bakery.registry.db import Registry, now
from bakery.registry.refs import check_channel, check_text
from bakery.registry.trust import trusted_for
from bakery.registry.views import ChannelRuleView
from bakery.scan.model import Finding
from bakery.scan.policy import Policy, evaluate
from bakery.sign.intoto import BAKERY_SCAN_V1

MAX_REQUIRED_KEYS = 16


def check_rule_policy(policy: Policy) -> Policy:
    """``policy`` when a channel can apply it to signed findings; UserError otherwise."""
    if policy.forbidden.packages or policy.forbidden.licenses or policy.required_labels:
        raise UserError(
            "a channel's policy judges the signed scan findings: severity limits, "
            "ignoreUnfixed and allow only",
            hint="forbidden packages, licenses and required labels belong in the recipe's policy",
        )
    return policy


def set_rule(
    registry: Registry,
    repository: str,
    channel: str,
    *,
    required_keys: list[str],
    policy: Policy | None,
    actor: str,
) -> ChannelRuleView:
    """Make promotion to ``channel`` of ``repository`` demand ``required_keys`` and
    ``policy`` (replacing the rule before it)."""
    validate_ref_name(repository)
    check_channel(channel)
    check_text(actor, "actor", limit=255)
    keys = sorted(set(required_keys))
    if len(keys) > MAX_REQUIRED_KEYS or any(len(k) != 64 or not _hex(k) for k in keys):
        raise UserError(
            "required keys are key ids: 64 hex digits each, at most 16",
            hint="see the KEY ID column of `bakery trust list`",
        )
    if policy is not None:
        check_rule_policy(policy)
    with registry.write() as session:
        row = m.ChannelRule(
            repository=repository,
            channel=channel,
            required_keys=json.dumps(keys),
            policy=None if policy is None else policy.model_dump_json(by_alias=True),
            actor=actor,
            at=now(),
        )
        session.add(row)
        session.flush()
        subject = {"repository": repository, "channel": channel, "required_keys": keys}
        append(session, kind="rule", actor=actor, at=row.at, subject=subject, rows=[cover(row)])
        return _view(row)


def rule_for(session: Session, repository: str, channel: str) -> ChannelRuleView | None:
    """The rule in force for ``channel`` of ``repository``, if one was ever set."""
    row = session.scalars(
        select(m.ChannelRule)
        .where(m.ChannelRule.repository == repository, m.ChannelRule.channel == channel)
        .order_by(m.ChannelRule.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _view(row)


def refusals(session: Session, artifact: m.Artifact, repository: str, channel: str) -> list[str]:
    """Why ``artifact`` may not go into ``channel`` of ``repository`` (empty: it may)."""
    reasons = []
    if artifact.id in revoked_ids(session, [artifact.id]):
        reasons.append("it is revoked")
    trusted = {t.key.key_id for t in trusted_for(session, repository)}
    rule = rule_for(session, repository, channel)
    evidence = session.scalars(
        select(m.Signature)
        .where(m.Signature.artifact_id == artifact.id, m.Signature.verified_at.is_not(None))
        .order_by(m.Signature.id)
    ).all()
    counted = [row for row in evidence if row.key_id in trusted]
    signers = {row.key_id for row in counted if row.kind == "signature"}
    if not trusted:
        reasons.append(f"no key is trusted for {repository}")
    elif rule is not None and rule.required_keys:
        missing = [k for k in rule.required_keys if k not in signers]
        if missing:
            names = ", ".join(k[:12] for k in missing)
            reasons.append(f"it is not signed by the required key(s) {names}")
    elif not signers:
        reasons.append("it is not signed by a trusted key")
    scans = [r for r in counted if r.predicate_type == BAKERY_SCAN_V1 and r.predicate]
    if trusted and not scans:
        reasons.append("it has no scan attestation signed by a trusted key")
    elif scans:
        reasons += _scan_refusals(scans[-1], rule)
    return reasons


def _scan_refusals(row: m.Signature, rule: ChannelRuleView | None) -> list[str]:
    assert row.predicate is not None
    try:
        result = json.loads(row.predicate)["result"]
        findings = [Finding.model_validate(f) for f in result["findings"]]
        passed = bool(result["policy"]["passed"])
    except (ValueError, KeyError, TypeError, ValidationError):
        return ["its signed scan attestation is malformed"]
    reasons = [] if passed else ["its signed scan fails the recipe's policy"]
    if rule is not None and rule.policy is not None:
        policy = Policy.model_validate(rule.policy)
        verdict = evaluate(policy, findings, [], {}, today=datetime.now(UTC).date())
        if not verdict.passed:
            first = ", ".join(v.subject for v in verdict.violations[:3])
            reasons.append(
                f"its signed scan fails the channel's policy ({len(verdict.violations)} "
                f"violation(s): {first})"
            )
    return reasons


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _view(row: m.ChannelRule) -> ChannelRuleView:
    policy: dict[str, Any] | None = None if row.policy is None else json.loads(row.policy)
    return ChannelRuleView.from_row(row, required_keys=json.loads(row.required_keys), policy=policy)
