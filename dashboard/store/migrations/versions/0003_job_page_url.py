"""export jobs remember the base URL of the page that requested them, and what they skipped

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("export_job") as batch:
        batch.add_column(sa.Column("page_url", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("skipped", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("export_job") as batch:
        batch.drop_column("skipped")
        batch.drop_column("page_url")
