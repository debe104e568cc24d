"""Domain-specific configuration (/v3/domains/{id}/config): stored and served as
Keystone's, acted on by no one.

barecloud has one identity backend (its SQL tables) and no LDAP driver, so a
domain's ``identity`` and ``ldap`` options are kept for the tools that manage
them and change nothing here (docs/design/identity-api.md).  As Keystone, only
its whitelisted options are accepted, the sensitive LDAP ``password`` is
never shown (it is kept sealed, db/sealed.py), and an option that is not set
is 404 while one that does not exist is 403.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db import sealed
from barecloud.db.identity_models import DomainConfig
from barecloud.errors import ClientError, Forbidden, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains

Config = dict[str, dict[str, Any]]

# keystone/conf: the options a domain may set, and Keystone's defaults for them.
DEFAULTS: Config = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None, "user_tree_dn": None,
        "user_filter": None, "user_objectclass": "inetOrgPerson", "user_id_attribute": "cn",
        "user_name_attribute": "sn", "user_description_attribute": "description",
        "user_mail_attribute": "mail", "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled", "user_enabled_invert": False,
        "user_enabled_mask": 0, "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None, "group_filter": None,
        "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
        "group_name_attribute": "ou", "group_members_are_ids": False,
        "group_member_attribute": "member", "group_desc_attribute": "description",
        "group_attribute_ignore": [], "group_additional_attribute_mapping": [],
        "tls_cacertfile": None, "tls_cacertdir": None, "use_tls": False,
        "tls_req_cert": "demand", "use_pool": True, "pool_size": 10, "pool_retry_max": 3,
        "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600, "use_auth_pool": True, "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    },
}
SENSITIVE = {"identity": frozenset[str](), "ldap": frozenset({"password"})}


def _invalid(reason: str) -> Forbidden:
    # keystone.exception.InvalidDomainConfig is a 403.
    return Forbidden(f"Invalid domain specific configuration: {reason}")


def _check_group(group: str) -> None:
    if group not in DEFAULTS:
        raise _invalid(f"Group {group} is not supported for domain specific configurations")


def _check_option(group: str, option: str) -> None:
    _check_group(group)
    if option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise _invalid(f"Option {option} in group {group} is not supported for domain "
                       f"specific configurations")


def _missing(domain_id: str, what: str | None = None) -> NotFound:
    if what is None:
        return NotFound(f"Could not find domain configuration for domain {domain_id}.")
    return NotFound(f"Could not find {what} in domain configuration for domain "
                    f"{domain_id}.")


def _checked(config: Any) -> Config:
    if not isinstance(config, dict) or not config:
        raise ClientError("Invalid input for field 'config': a non-empty object of "
                             "groups is required.")
    for group, options in config.items():
        _check_group(group)
        if not isinstance(options, dict) or not options:
            raise _invalid(f"Group {group} must hold options")
        for option in options:
            _check_option(group, option)
    return config


def _sealed(rt: Runtime, config: Config) -> Config:
    keys = sealed.keyring(rt.settings.data_dir)
    return {g: {o: keys.seal(str(v)) if o in SENSITIVE[g] else v for o, v in opts.items()}
            for g, opts in config.items()}


def shown(config: Config) -> Config:
    """What a reader sees: every option but the sensitive ones."""
    out = {g: {o: v for o, v in opts.items() if o not in SENSITIVE.get(g, ())}
           for g, opts in config.items()}
    return {g: opts for g, opts in out.items() if opts}


async def _row(s: AsyncSession, domain_id: str) -> DomainConfig:
    await domains.find(s, domain_id)
    row = await s.get(DomainConfig, domain_id)
    if row is None:
        raise _missing(domain_id)
    return row


async def replace(rt: Runtime, ctx: RequestContext, domain_id: str,
                  body: Any) -> tuple[Config, bool]:
    """PUT: the whole configuration; True when there was none (Keystone's 201)."""
    policy.authorize(ctx, "identity:create_domain_config")
    config = _sealed(rt, _checked(body.get("config")))
    async with rt.db.session() as s:
        await domains.find(s, domain_id)
        row = await s.get(DomainConfig, domain_id)
        created = row is None
        if row is None:
            s.add(DomainConfig(domain_id=domain_id, config=config))
        else:
            row.config = config
    return shown(config), created


async def get(rt: Runtime, ctx: RequestContext, domain_id: str,
              group: str | None = None, option: str | None = None) -> dict[str, Any]:
    policy.authorize(ctx, "identity:get_domain_config")
    if option is not None and group is not None:
        _check_option(group, option)
    elif group is not None:
        _check_group(group)
    async with rt.db.session() as s:
        config = shown((await _row(s, domain_id)).config)
    if group is None:
        return config
    if group not in config:
        raise _missing(domain_id, group)
    if option is None:
        return {group: config[group]}
    if option not in config[group]:
        raise _missing(domain_id, option)
    return {option: config[group][option]}


async def update(rt: Runtime, ctx: RequestContext, domain_id: str, body: Any,
                 group: str | None = None, option: str | None = None) -> Config:
    """PATCH: the options sent replace theirs; the others stay."""
    policy.authorize(ctx, "identity:update_domain_config")
    sent = body.get("config")
    if option is not None and group is not None:
        _check_option(group, option)
        if not isinstance(sent, dict) or set(sent) != {option}:
            raise ClientError(f"Invalid input for field 'config': it must hold option "
                                 f"{option} alone.")
        sent = {group: sent}
    elif group is not None and (not isinstance(sent, dict) or set(sent) != {group}):
        raise ClientError(f"Invalid input for field 'config': it must hold group "
                             f"{group} alone.")
    update_ = _sealed(rt, _checked(sent))
    async with rt.db.session() as s:
        row = await _row(s, domain_id)
        merged = {g: dict(opts) for g, opts in row.config.items()}
        for g, opts in update_.items():
            merged.setdefault(g, {}).update(opts)
        row.config = merged
    return shown(merged)


async def remove(rt: Runtime, ctx: RequestContext, domain_id: str,
                 group: str | None = None, option: str | None = None) -> None:
    policy.authorize(ctx, "identity:delete_domain_config")
    if option is not None and group is not None:
        _check_option(group, option)
    elif group is not None:
        _check_group(group)
    async with rt.db.session() as s:
        row = await _row(s, domain_id)
        if group is None:
            await s.delete(row)
            return
        config = {g: dict(opts) for g, opts in row.config.items()}
        if group not in config:
            raise _missing(domain_id, group)
        if option is None:
            del config[group]
        else:
            if option not in config[group]:
                raise _missing(domain_id, option)
            del config[group][option]
            if not config[group]:
                del config[group]
        row.config = config


def defaults(ctx: RequestContext, group: str | None = None,
             option: str | None = None) -> dict[str, Any]:
    """/domains/config/default: Keystone's defaults of the whitelisted options."""
    policy.authorize(ctx, "identity:get_domain_config_default")
    if group is None:
        return DEFAULTS
    if option is None:
        _check_group(group)
        return {group: DEFAULTS[group]}
    _check_option(group, option)
    if option not in DEFAULTS[group]:
        raise _invalid(f"Option {option} in group {group} is sensitive")
    return {option: DEFAULTS[group][option]}
