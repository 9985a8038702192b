"""The registry schema: artifacts, tags, builds, lineage, packages, findings, signatures,
channels, revocations, tokens and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 09:25:47.610148
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=100), nullable=False),
        sa.Column("media_type", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('image', 'disk', 'sbom', 'attestation', 'signature')",
            name=op.f("ck_artifacts_kind_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["artifacts.id"], name=op.f("fk_artifacts_subject_id_artifacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("digest", name=op.f("uq_artifacts_digest")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifacts_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_size"), ["size"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("pos", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("pos", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purl", sa.String(length=2048), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("version_key", sa.LargeBinary(), nullable=True),
        sa.Column("source_name", sa.String(length=255), nullable=True),
        sa.Column("source_version", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
        sa.UniqueConstraint("purl", name=op.f("uq_packages_purl")),
    )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_packages_type_name_version_key"),
            ["type", "name", "version_key"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_packages_type_source_name_version_key"),
            ["type", "source_name", "version_key"],
            unique=False,
        )

    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("name", name=op.f("uq_repositories_name")),
    )
    op.create_table(
        "tag_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_rules")),
        sa.UniqueConstraint("pattern", name=op.f("uq_tag_rules_pattern")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "role IN ('reader', 'builder', 'admin')", name=op.f("ck_tokens_role_valid")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_id", name=op.f("uq_tokens_token_id")),
    )
    op.create_table(
        "artifact_packages",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_artifact_packages_artifact_id_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_artifact_packages_package_id_packages")
        ),
        sa.PrimaryKeyConstraint("package_id", "artifact_id", name=op.f("pk_artifact_packages")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("artifact_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artifact_packages_artifact_id"), ["artifact_id"], unique=False
        )

    op.create_table(
        "builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=True),
        sa.Column("recipe_name", sa.String(length=255), nullable=False),
        sa.Column("recipe_version", sa.String(length=128), nullable=False),
        sa.Column("recipe_digest", sa.String(length=100), nullable=True),
        sa.Column("lock_digest", sa.String(length=100), nullable=True),
        sa.Column("git_repo", sa.String(length=1024), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("builder_id", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source_date_epoch", sa.BigInteger(), nullable=True),
        sa.Column("log_digest", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "status IN ('succeeded', 'failed', 'running')", name=op.f("ck_builds_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_builds_artifact_id_artifacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_builds_artifact_id"), ["artifact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_builds_git_commit"), ["git_commit"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_builds_recipe_name_id"), ["recipe_name", "id"], unique=False
        )

    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_channels_repository_id_repositories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("repository_id", "name", name=op.f("uq_channels_repository_id_name")),
    )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_name"), ["name"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("vuln_id", sa.String(length=128), nullable=False),
        sa.Column("package_purl", sa.String(length=2048), nullable=True),
        sa.Column("installed_version", sa.String(length=255), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("fixed_version", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_findings_artifact_id_artifacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_artifact_id"), ["artifact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_findings_vuln_id"), ["vuln_id"], unique=False)

    op.create_table(
        "lineage",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=10), nullable=False),
        sa.CheckConstraint(
            "relation IN ('recipe', 'image')", name=op.f("ck_lineage_relation_valid")
        ),
        sa.ForeignKeyConstraint(
            ["child_id"], ["artifacts.id"], name=op.f("fk_lineage_child_id_artifacts")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["artifacts.id"], name=op.f("fk_lineage_parent_id_artifacts")
        ),
        sa.PrimaryKeyConstraint("child_id", "parent_id", name=op.f("pk_lineage")),
    )
    with op.batch_alter_table("lineage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lineage_parent_id_child_id"), ["parent_id", "child_id"], unique=False
        )

    op.create_table(
        "revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("cascade", sa.Boolean(), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_revocations_artifact_id_artifacts")
        ),
        sa.ForeignKeyConstraint(
            ["cause_id"], ["revocations.id"], name=op.f("fk_revocations_cause_id_revocations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocations")),
    )
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revocations_artifact_id"), ["artifact_id"], unique=False
        )

    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("scanner_version", sa.String(length=64), nullable=False),
        sa.Column("vulnerability_db", sa.String(length=1024), nullable=True),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_scans_artifact_id_artifacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scans_artifact_id_id"), ["artifact_id", "id"], unique=False
        )

    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=255), nullable=False),
        sa.Column("predicate_type", sa.String(length=255), nullable=True),
        sa.Column("signature_digest", sa.String(length=100), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('signature', 'attestation')", name=op.f("ck_signatures_kind_valid")
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_signatures_artifact_id_artifacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatures")),
    )
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signatures_artifact_id_kind"), ["artifact_id", "kind"], unique=False
        )

    op.create_table(
        "tag_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("action IN ('set', 'delete')", name=op.f("ck_tag_events_action_valid")),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_tag_events_artifact_id_artifacts")
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_tag_events_repository_id_repositories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_events")),
    )
    with op.batch_alter_table("tag_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tag_events_artifact_id"), ["artifact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tag_events_repository_id_tag_id"),
            ["repository_id", "tag", "id"],
            unique=False,
        )

    op.create_table(
        "channel_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=True),
        sa.Column("previous_artifact_id", sa.Integer(), nullable=True),
        sa.Column("rollback_to_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "action IN ('promote', 'rollback', 'fallback')",
            name=op.f("ck_channel_assignments_action_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_channel_assignments_artifact_id_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_assignments_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["previous_artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_channel_assignments_previous_artifact_id_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["rollback_to_id"],
            ["channel_assignments.id"],
            name=op.f("fk_channel_assignments_rollback_to_id_channel_assignments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_assignments")),
    )
    with op.batch_alter_table("channel_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_assignments_artifact_id"), ["artifact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_assignments_channel_id_at"), ["channel_id", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_assignments_channel_id_id"), ["channel_id", "id"], unique=False
        )

    op.create_table(
        "finding_aliases",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_finding_aliases_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("finding_id", "alias", name=op.f("pk_finding_aliases")),
    )
    with op.batch_alter_table("finding_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finding_aliases_alias"), ["alias"], unique=False)
    head = sa.table(
        "audit_head",
        sa.column("id", sa.Integer()),
        sa.column("size", sa.BigInteger()),
        sa.column("frontier", sa.LargeBinary()),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "frontier": b""}])


def downgrade() -> None:
    with op.batch_alter_table("finding_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_aliases_alias"))

    op.drop_table("finding_aliases")
    with op.batch_alter_table("channel_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_assignments_channel_id_id"))
        batch_op.drop_index(batch_op.f("ix_channel_assignments_channel_id_at"))
        batch_op.drop_index(batch_op.f("ix_channel_assignments_artifact_id"))

    op.drop_table("channel_assignments")
    with op.batch_alter_table("tag_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_events_repository_id_tag_id"))
        batch_op.drop_index(batch_op.f("ix_tag_events_artifact_id"))

    op.drop_table("tag_events")
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signatures_artifact_id_kind"))

    op.drop_table("signatures")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_artifact_id_id"))

    op.drop_table("scans")
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revocations_artifact_id"))

    op.drop_table("revocations")
    with op.batch_alter_table("lineage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lineage_parent_id_child_id"))

    op.drop_table("lineage")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_vuln_id"))
        batch_op.drop_index(batch_op.f("ix_findings_artifact_id"))

    op.drop_table("findings")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channels_name"))

    op.drop_table("channels")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_builds_recipe_name_id"))
        batch_op.drop_index(batch_op.f("ix_builds_git_commit"))
        batch_op.drop_index(batch_op.f("ix_builds_artifact_id"))

    op.drop_table("builds")
    with op.batch_alter_table("artifact_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_packages_artifact_id"))

    op.drop_table("artifact_packages")
    op.drop_table("tokens")
    op.drop_table("tag_rules")
    op.drop_table("repositories")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packages_type_source_name_version_key"))
        batch_op.drop_index(batch_op.f("ix_packages_type_name_version_key"))

    op.drop_table("packages")
    op.drop_table("audit_nodes")
    op.drop_table("audit_head")
    op.drop_table("audit_entries")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_size"))

    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifacts_subject_id"))

    op.drop_table("artifacts")
