"""The tables of the web app's database (SQLAlchemy Core; the schema is created and
upgraded by the Alembic migrations in ``migrations/``, never by ``metadata.create_all``).

One row per assessment holds everything needed to show and audit it again: the intake as
submitted (canonical JSON) and its sha256, the decision JSON, the rule set's name, version
and sha256, the tool version and the time. The columns after it (status, format, focus, top
flag level, PHQ-9) are copies of values inside the decision, kept as columns so the case list
can filter and sort on them. Free text (notes, a sign-off reason) lives only in
``intake_json`` and ``signoffs.reason``: never in a column that is indexed or logged.

The decision log's hash chain has a table of its own, with the same entries as
``--log`` writes; ``log_head`` holds the last hash and the entry count, and is the one row
every writer locks, so entries are appended one at a time in a single chain.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 64  # a pseudonymous code (case id, site, clinician): intake-v1 allows 64 characters
CODE = 40  # a coded value: status, format, focus area, flag level
STAMP = 32  # an ISO time stamp in UTC, e.g. 2026-11-02T09:14:03.512Z

assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(ID), nullable=False, index=True),
    # the form's one-time id: a submission sent twice (a double click, a retry) is stored once
    Column("submission", String(ID), nullable=False, unique=True),
    Column("created_at", String(STAMP), nullable=False),
    Column("assessed_on", String(10), nullable=False),
    Column("site", String(ID)),
    Column("clinician", String(ID)),
    Column("intake_json", Text, nullable=False),
    Column("intake_sha256", String(64), nullable=False),
    Column("decision_json", Text, nullable=False),
    Column("ruleset_name", String(200), nullable=False),
    Column("ruleset_version", String(CODE), nullable=False),
    Column("ruleset_sha256", String(64), nullable=False),
    Column("tool_version", String(CODE), nullable=False),
    Column("status", String(CODE), nullable=False),
    Column("format", String(CODE), nullable=False),
    Column("focus_primary", String(CODE)),
    Column("focus_secondary", String(CODE)),
    Column("top_level", String(CODE)),  # the most urgent flag level raised, or null
    Column("phq9", Integer),
)

flags = Table(
    "assessment_flags",
    metadata,
    Column("assessment_id", ForeignKey("assessments.id"), primary_key=True),
    Column("code", String(CODE), primary_key=True),
    Column("level", String(CODE), nullable=False),
    Column("position", Integer, nullable=False),  # the decision's own order: most urgent first
    Index("ix_assessment_flags_code", "code", "assessment_id"),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(ID), primary_key=True),
    Column("latest_id", ForeignKey("assessments.id"), nullable=False),
    Column("updated_at", String(STAMP), nullable=False, index=True),
    Column("site", String(ID), index=True),
    Column("assessments", Integer, nullable=False),
)

signoffs = Table(
    "signoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("assessment_id", ForeignKey("assessments.id"), nullable=False, index=True),
    Column("created_at", String(STAMP), nullable=False),
    Column("clinician", String(ID)),
    Column("accepted", Boolean, nullable=False),
    Column("format", String(CODE), nullable=False),
    Column("focus", String(CODE)),
    Column("reason", Text),
)

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("assessment_id", ForeignKey("assessments.id"), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("prev", String(64), nullable=False),
    Column("entry", Text, nullable=False),  # the entry exactly as a --log file line holds it
    # one entry per assessment, and no two entries after the same one: the chain cannot fork
    UniqueConstraint("assessment_id"),
    UniqueConstraint("hash"),
    UniqueConstraint("prev"),
)

# CDS Hooks: each card the service returned, and what the EHR reported back about it. A card
# whose data could not be assessed has no assessment. userComment is free text: only here.
cds_cards = Table(
    "cds_cards",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("assessment_id", ForeignKey("assessments.id"), index=True),
    Column("created_at", String(STAMP), nullable=False),
    Column("indicator", String(CODE), nullable=False),
)

cds_feedback = Table(
    "cds_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", ForeignKey("cds_cards.uuid"), nullable=False, index=True),
    Column("received_at", String(STAMP), nullable=False),
    Column("outcome", String(CODE), nullable=False),  # accepted | overridden
    Column("outcome_timestamp", String(STAMP), nullable=False),
    Column("reason_code", String(ID)),  # one of the card's overrideReasons
    Column("user_comment", Text),
)
