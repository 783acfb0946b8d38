"""CDS Hooks cards and the feedback the EHR sends about them (override audit).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_cards",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("assessment_id", sa.Integer),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("indicator", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_cds_cards"),
        sa.ForeignKeyConstraint(["assessment_id"], ["assessments.id"], name="fk_cds_cards_assessment_id_assessments"),
    )
    op.create_index("ix_cds_cards_assessment_id", "cds_cards", ["assessment_id"])
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(36), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("outcome_timestamp", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(64)),
        sa.Column("user_comment", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_cds_feedback"),
        sa.ForeignKeyConstraint(["card_uuid"], ["cds_cards.uuid"], name="fk_cds_feedback_card_uuid_cds_cards"),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_cards")
