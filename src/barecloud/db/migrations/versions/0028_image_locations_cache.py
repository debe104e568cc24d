"""images: external ``locations`` (Glance's http store, show_multiple_locations);
``image_cache``: Glance's image cache (queued and cached images, with hits)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("locations", sa.JSON(), nullable=True))
    op.create_table(
        "image_cache",
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("last_accessed", sa.DateTime(), nullable=True),
        sa.Column("last_modified", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("image_id"),
    )


def downgrade() -> None:
    op.drop_table("image_cache")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("locations")
