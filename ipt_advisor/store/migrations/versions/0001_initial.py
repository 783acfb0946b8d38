"""The first schema: assessments, their flags, cases, sign-offs and the decision-log chain.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("submission", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("assessed_on", sa.String(10), nullable=False),
        sa.Column("site", sa.String(64)),
        sa.Column("clinician", sa.String(64)),
        sa.Column("intake_json", sa.Text, nullable=False),
        sa.Column("intake_sha256", sa.String(64), nullable=False),
        sa.Column("decision_json", sa.Text, nullable=False),
        sa.Column("ruleset_name", sa.String(200), nullable=False),
        sa.Column("ruleset_version", sa.String(40), nullable=False),
        sa.Column("ruleset_sha256", sa.String(64), nullable=False),
        sa.Column("tool_version", sa.String(40), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("format", sa.String(40), nullable=False),
        sa.Column("focus_primary", sa.String(40)),
        sa.Column("focus_secondary", sa.String(40)),
        sa.Column("top_level", sa.String(40)),
        sa.Column("phq9", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
        sa.UniqueConstraint("submission", name="uq_assessments_submission"),
    )
    op.create_index("ix_assessments_case_id", "assessments", ["case_id"])
    op.create_table(
        "assessment_flags",
        sa.Column("assessment_id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("level", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", "code", name="pk_assessment_flags"),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name="fk_assessment_flags_assessment_id_assessments"
        ),
    )
    op.create_index("ix_assessment_flags_code", "assessment_flags", ["code", "assessment_id"])
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("latest_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("site", sa.String(64)),
        sa.Column("assessments", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
        sa.ForeignKeyConstraint(["latest_id"], ["assessments.id"], name="fk_cases_latest_id_assessments"),
    )
    op.create_index("ix_cases_updated_at", "cases", ["updated_at"])
    op.create_index("ix_cases_site", "cases", ["site"])
    op.create_table(
        "signoffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("assessment_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("clinician", sa.String(64)),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("format", sa.String(40), nullable=False),
        sa.Column("focus", sa.String(40)),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_signoffs"),
        sa.ForeignKeyConstraint(["assessment_id"], ["assessments.id"], name="fk_signoffs_assessment_id_assessments"),
    )
    op.create_index("ix_signoffs_assessment_id", "signoffs", ["assessment_id"])
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    op.create_table(
        "log_entries",
        sa.Column("seq", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("assessment_id", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("entry", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_log_entries"),
        sa.ForeignKeyConstraint(["assessment_id"], ["assessments.id"], name="fk_log_entries_assessment_id_assessments"),
        sa.UniqueConstraint("assessment_id", name="uq_log_entries_assessment_id"),
        sa.UniqueConstraint("hash", name="uq_log_entries_hash"),
        sa.UniqueConstraint("prev", name="uq_log_entries_prev"),
    )


def downgrade() -> None:
    for table in ("log_entries", "log_head", "signoffs", "cases", "assessment_flags", "assessments"):
        op.drop_table(table)
