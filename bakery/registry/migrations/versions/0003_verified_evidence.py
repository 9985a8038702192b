"""Verified evidence: trusted keys (and their withdrawal), channel rules, and the verified
predicate of a scan attestation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusted_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_keys")),
    )
    with op.batch_alter_table("trusted_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_keys_key_id"), ["key_id"], unique=False)

    op.create_table(
        "key_distrusts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trusted_key_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trusted_key_id"],
            ["trusted_keys.id"],
            name=op.f("fk_key_distrusts_trusted_key_id_trusted_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_distrusts")),
        sa.UniqueConstraint("trusted_key_id", name=op.f("uq_key_distrusts_trusted_key_id")),
    )

    op.create_table(
        "channel_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("required_keys", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_rules")),
    )
    with op.batch_alter_table("channel_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_rules_repository_channel_id"),
            ["repository", "channel", "id"],
            unique=False,
        )

    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("predicate", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_column("predicate")
    with op.batch_alter_table("channel_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_rules_repository_channel_id"))
    op.drop_table("channel_rules")
    op.drop_table("key_distrusts")
    with op.batch_alter_table("trusted_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_keys_key_id"))
    op.drop_table("trusted_keys")
