"""the collection of each answer

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the default collection (every answer logged before collections existed).
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("collection", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("collection")
