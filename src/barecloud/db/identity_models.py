"""Identity (Keystone v3) tables: who exists, where they may act, and revoked tokens.

Ids are Keystone's: 32 hex digits (uuid4), except the ``default`` domain.
Role assignments name their target by type and id (a project, a domain, or
the system, whose id is ``all``), so they carry no foreign key to it: deleting
a project or domain deletes its assignments in code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from barecloud.db.models import Base, utcnow

DEFAULT_DOMAIN = "default"


def new_id() -> str:
    return uuid.uuid4().hex


class Domain(Base):
    __tablename__ = "domains"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_projects_domain_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"), index=True)
    # Another project of the same domain; None for a top-level project.
    parent_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_users_domain_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # "scrypt$n$r$p$salt$hash" (services/identity/passwords.py); None: no password.
    password_hash: Mapped[str | None] = mapped_column(Text)
    default_project_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    # Free-form attributes a client set (email, ...), shown as top-level keys.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Role(Base):
    """A global role (``domain_id`` None), or a domain's: its name unique in the domain,
    and never in a token (Keystone's domain-specific roles only imply others)."""

    __tablename__ = "roles"
    __table_args__ = (
        UniqueConstraint("domain_id", "name", name="uq_roles_domain_name"),
        # NULLs are distinct to UNIQUE: the global names are kept unique by this index.
        Index("uq_roles_global_name", "name", unique=True,
              sqlite_where=text("domain_id IS NULL"),
              postgresql_where=text("domain_id IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE", name="fk_roles_domain_id"))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RoleImplication(Base):
    """A prior role implies another (beyond the fixed admin ⊃ member ⊃ reader)."""

    __tablename__ = "role_implications"

    prior_role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"),
                                               primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"),
                                                 primary_key=True)


class RoleAssignment(Base):
    """A user, a role, and where: a project, a domain or the system."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "target_type", "target_id", "role_id",
                         name="uq_role_assignments"),
        Index("ix_role_assignments_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    target_type: Mapped[str] = mapped_column(String(16))  # project, domain, system
    target_id: Mapped[str] = mapped_column(String(64))  # "all" for the system
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))


class Group(Base):
    """Users of one domain given roles together."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_groups_domain_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class GroupRoleAssignment(Base):
    """A group, a role, and where; every member has the role there."""

    __tablename__ = "group_role_assignments"
    __table_args__ = (
        UniqueConstraint("group_id", "target_type", "target_id", "role_id",
                         name="uq_group_role_assignments"),
        Index("ix_group_role_assignments_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          index=True)
    target_type: Mapped[str] = mapped_column(String(16))  # project, domain, system
    target_id: Mapped[str] = mapped_column(String(64))  # "all" for the system
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))


class CatalogRegion(Base):
    """A region an operator added (``RegionOne``, barecloud's own, is not stored)."""

    __tablename__ = "catalog_regions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(String(255), index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CatalogService(Base):
    """A service an operator added to the catalog (barecloud's own follow the settings)."""

    __tablename__ = "catalog_services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # name, description and what else a client sent, shown as sent.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CatalogEndpoint(Base):
    """An endpoint an operator added, of a stored service or of one of barecloud's own
    (whose id is then no foreign key)."""

    __tablename__ = "catalog_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Credential(Base):
    """A user's credential (an EC2 key pair, a TOTP seed, ...): ``blob`` sealed
    (db/sealed.py), as Keystone encrypts it at rest."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)  # "sealed:<Fernet token>"
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Policy(Base):
    """Keystone's deprecated /policies: blobs kept for clients, enforced by no one."""

    __tablename__ = "policies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApplicationCredential(Base):
    """A secret a user gives a program: its roles on one project, frozen at creation."""

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_app_creds_user_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TokenRevocation(Base):
    """Tokens no longer valid: one token chain (``audit_id``), or all of a user's
    tokens issued up to ``issued_before`` (password change).  A row is useless
    once ``expires_at`` passed: every token it could match has expired."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    issued_before: Mapped[dt.datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LoginFailure(Base):
    """Failed password logins counted for the lockout (services/identity/lockout.py):
    one row per user name (known or not) and per source address, by a hash of
    which, so that the counts hold across API processes.  A row is useless once
    its window and lock have passed."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)


class DomainConfig(Base):
    """A domain's identity configuration (/domains/{id}/config): stored and served as
    Keystone's, acted on by no one (barecloud has no LDAP driver).  An LDAP
    ``password`` is sealed (db/sealed.py) and never shown."""

    __tablename__ = "domain_configs"

    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"),
                                           primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EndpointGroup(Base):
    """OS-EP-FILTER: endpoints chosen by ``filters`` (interface, service_id, region_id)."""

    __tablename__ = "endpoint_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class EndpointGroupProject(Base):
    __tablename__ = "endpoint_group_projects"

    endpoint_group_id: Mapped[str] = mapped_column(
        ForeignKey("endpoint_groups.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True)


class OAuthConsumer(Base):
    """OS-OAUTH1 consumer: its secret shown once at creation, kept as a hash."""

    __tablename__ = "oauth_consumers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    description: Mapped[str | None] = mapped_column(Text)
    secret_hash: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
