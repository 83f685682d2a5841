"""pin what volunteers see: title, summary, organisation name and sites move onto study versions

Revision ID: 0002_pinned_content
Revises: 0001

P5: an approval covers the exact criteria and everything a volunteer is shown. Until now a
study's title and summary lived on ``studies`` and could change under an approval. Every
existing version takes its study's current title and summary and its organisation's current
name (the only values there are), no sites, and its content hash is recomputed over all of it
(the same canonical JSON as ``services.studies.VersionContent.content_hash``, copied here so the
migration does not change when the code does). Then the columns leave ``studies``.

SQLite: columns are added and dropped in place (ADD/DROP COLUMN, SQLite 3.35+), never through a
batch table rebuild, which would drop ``studies`` and cascade-delete its versions.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_pinned_content"
down_revision: str | None = "0002_audit_insert_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _content_hash(row: Any, sites: list[Any]) -> str:
    criteria = row.criteria if isinstance(row.criteria, dict) else json.loads(row.criteria)
    canonical = json.dumps(
        {
            "criteria": criteria,
            "invitation_text": row.invitation_text,
            "organisation_name": row.organisation_name,
            "site_region": row.site_region,
            "sites": sites,
            "summary": row.summary,
            "target_enrolment": row.target_enrolment,
            "title": row.title,
        },
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _versions() -> sa.TableClause:
    return sa.table(
        "study_versions",
        sa.column("id", sa.BigInteger()),
        sa.column("study_id", sa.BigInteger()),
        sa.column("criteria", sa.JSON()),
        sa.column("title", sa.String()),
        sa.column("summary", sa.Text()),
        sa.column("organisation_name", sa.String()),
        sa.column("sites", sa.JSON()),
        sa.column("invitation_text", sa.Text()),
        sa.column("site_region", sa.String()),
        sa.column("target_enrolment", sa.Integer()),
        sa.column("content_hash", sa.String()),
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("study_versions", sa.Column("title", sa.String(length=200), nullable=False, server_default=""))
    op.add_column("study_versions", sa.Column("summary", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "study_versions",
        sa.Column("organisation_name", sa.String(length=200), nullable=False, server_default=""),
    )
    op.add_column("study_versions", sa.Column("sites", sa.JSON(), nullable=False, server_default="[]"))

    op.execute(
        "UPDATE study_versions SET "
        "title = (SELECT studies.title FROM studies WHERE studies.id = study_versions.study_id), "
        "summary = (SELECT studies.summary FROM studies WHERE studies.id = study_versions.study_id), "
        "organisation_name = (SELECT organisations.name FROM studies JOIN organisations "
        "ON organisations.id = studies.organisation_id WHERE studies.id = study_versions.study_id)"
    )
    versions = _versions()
    rows = bind.execute(
        sa.select(
            versions.c.id,
            versions.c.criteria,
            versions.c.title,
            versions.c.summary,
            versions.c.organisation_name,
            versions.c.invitation_text,
            versions.c.site_region,
            versions.c.target_enrolment,
        )
    ).all()
    for row in rows:
        bind.execute(
            versions.update().where(versions.c.id == row.id).values(content_hash=_content_hash(row, []))
        )

    if postgres:
        # The defaults only filled the existing rows; new rows always name every value.
        for column in ("title", "summary", "organisation_name", "sites"):
            op.alter_column("study_versions", column, server_default=None)
        op.drop_column("studies", "title")
        op.drop_column("studies", "summary")
    else:
        op.execute("ALTER TABLE studies DROP COLUMN title")
        op.execute("ALTER TABLE studies DROP COLUMN summary")


def downgrade() -> None:
    bind = op.get_bind()
    op.add_column("studies", sa.Column("title", sa.String(length=200), nullable=False, server_default=""))
    op.add_column("studies", sa.Column("summary", sa.Text(), nullable=False, server_default=""))
    # A study takes its newest version's title and summary back; the versions keep their own
    # hashes (an approval recorded after the upgrade covered them as they are).
    op.execute(
        "UPDATE studies SET "
        "title = COALESCE((SELECT v.title FROM study_versions v WHERE v.id = studies.latest_version_id), ''), "
        "summary = COALESCE((SELECT v.summary FROM study_versions v WHERE v.id = studies.latest_version_id), '')"
    )
    if bind.dialect.name == "postgresql":
        for column in ("title", "summary"):
            op.alter_column("studies", column, server_default=None)
        for column in ("sites", "organisation_name", "summary", "title"):
            op.drop_column("study_versions", column)
    else:
        for column in ("sites", "organisation_name", "summary", "title"):
            op.execute(f"ALTER TABLE study_versions DROP COLUMN {column}")
