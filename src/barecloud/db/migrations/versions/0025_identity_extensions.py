"""identity extensions: domain-specific roles, domain configurations, endpoint
groups and OAuth1 consumers (issue 21)

``roles.name`` was unique alone (an unnamed constraint); a role of a domain
may share a global role's name, so names become unique per domain.  SQL
treats NULLs as distinct, so the global roles' names stay unique by the
partial index ``uq_roles_global_name``.  SQLite cannot drop a constraint:
the table is recreated (batch mode) without it.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_GLOBAL = sa.text("domain_id IS NULL")
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unnamed_name_unique() -> str | None:
    for uc in sa.inspect(op.get_bind()).get_unique_constraints("roles"):
        if uc["column_names"] == ["name"]:
            return uc["name"] or None
    return None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Recreating the table drops the unnamed UNIQUE(name) it was made with.
        # The naming convention names the reflected UNIQUE(name) so it can be dropped.
        with op.batch_alter_table("roles", recreate="always",
                                  naming_convention=_CONVENTION) as batch:
            batch.drop_constraint("uq_roles_name", type_="unique")
            batch.add_column(sa.Column("domain_id", sa.String(length=64), nullable=True))
            batch.create_foreign_key("fk_roles_domain_id", "domains", ["domain_id"], ["id"],
                                     ondelete="CASCADE")
            batch.create_unique_constraint("uq_roles_domain_name", ["domain_id", "name"])
    else:
        existing = _unnamed_name_unique()
        if existing is not None:
            op.drop_constraint(existing, "roles", type_="unique")
        op.add_column("roles", sa.Column("domain_id", sa.String(length=64), nullable=True))
        op.create_foreign_key("fk_roles_domain_id", "roles", "domains", ["domain_id"], ["id"],
                              ondelete="CASCADE")
        op.create_unique_constraint("uq_roles_domain_name", "roles", ["domain_id", "name"])
    op.create_index("uq_roles_global_name", "roles", ["name"], unique=True,
                    sqlite_where=_GLOBAL, postgresql_where=_GLOBAL)

    op.create_table(
        "domain_configs",
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("domain_id"),
    )
    op.create_table(
        "endpoint_groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "endpoint_group_projects",
        sa.Column("endpoint_group_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_group_id"], ["endpoint_groups.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("endpoint_group_id", "project_id"),
    )
    op.create_table(
        "oauth_consumers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("oauth_consumers")
    op.drop_table("endpoint_group_projects")
    op.drop_table("endpoint_groups")
    op.drop_table("domain_configs")
    op.drop_index("uq_roles_global_name", table_name="roles")
    with op.batch_alter_table("roles") as batch:
        batch.drop_constraint("uq_roles_domain_name", type_="unique")
        if op.get_bind().dialect.name != "sqlite":
            batch.drop_constraint("fk_roles_domain_id", type_="foreignkey")
        batch.drop_column("domain_id")
        batch.create_unique_constraint("uq_roles_name", ["name"])
