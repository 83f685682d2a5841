"""home place on profiles: a point rounded to 0.01 degree and the gazetteer place it came from

Revision ID: 0003_home_place
Revises: 0003_closed_sets
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_home_place"
down_revision: str | None = "0003_closed_sets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("home_lat", sa.Float(), nullable=True))
        batch.add_column(sa.Column("home_lon", sa.Float(), nullable=True))
        batch.add_column(sa.Column("home_place", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("home_geonameid", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            "home_lat", "home_lat IS NULL OR (home_lat >= -90 AND home_lat <= 90)"
        )
        batch.create_check_constraint(
            "home_lon", "home_lon IS NULL OR (home_lon >= -180 AND home_lon <= 180)"
        )
        batch.create_check_constraint("home_point", "(home_lat IS NULL) = (home_lon IS NULL)")
        batch.create_index("ix_profiles_home", ["home_lat", "home_lon"])


def downgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.drop_index("ix_profiles_home")
        batch.drop_constraint("home_point", type_="check")
        batch.drop_constraint("home_lon", type_="check")
        batch.drop_constraint("home_lat", type_="check")
        batch.drop_column("home_geonameid")
        batch.drop_column("home_place")
        batch.drop_column("home_lon")
        batch.drop_column("home_lat")
