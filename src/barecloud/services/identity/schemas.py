"""What the Identity API takes, declared as JSON Schema, and Keystone's words for a refusal.

Modelled on Keystone's own declarations (keystone/*/schema.py,
keystone/auth/schema.py, keystone/common/validation/parameter_types.py):
entities keep attributes they do not know (``additionalProperties``, shown
back as sent), names may not be blank, and no string may hold a NUL (the
database refuses it).  What needs the database or another attribute (a
domain that exists, a parent in the same domain, a scope naming one thing,
``id or name must be present``) stays a check in the service.

Keystone words a refusal ``Invalid input for field '<path>': <jsonschema's
message>`` (the message alone at the top); a secret is never repeated back.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from barecloud.errors import BarecloudError, InvalidParameter
from barecloud.services.identity.passwords import MAX_LENGTH as PASSWORD_MAX
from barecloud.services.validation import Schema

# A credential's blob holds a secret too (an EC2 secret key).
SECRET_FIELDS = frozenset({"password", "original_password", "secret", "blob"})
MASK = "******"

NO_NUL = "^[^\\x00]*$"
TEXT: Schema = {"type": "string", "pattern": NO_NUL}
NULLABLE_TEXT: Schema = {"type": ["string", "null"], "pattern": NO_NUL}


def name(max_length: int) -> Schema:
    """parameter_types.name: 1 to ``max_length`` characters, not all blank."""
    return {"type": "string", "minLength": 1, "maxLength": max_length,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}


def text(max_length: int, nullable: bool = True) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_length,
            "pattern": NO_NUL}


ID: Schema = {"type": ["string", "null"], "maxLength": 64, "pattern": NO_NUL}
DESCRIPTION = text(65535)
BOOLEAN: Schema = {"type": "boolean"}
TAGS: Schema = {"type": "array", "maxItems": 80, "items": {
    "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/,\\x00]*$"}}
OPTIONS: Schema = {"type": "object"}
# Attributes Keystone keeps as sent (an ``email`` of a user): named as a column may be.
EXTRA_NAMES: Schema = {"maxLength": 255, "pattern": NO_NUL}
PASSWORD: Schema = {"type": ["string", "null"], "maxLength": PASSWORD_MAX,
                    "pattern": NO_NUL}


def entity(key: str, properties: dict[str, Schema], required: tuple[str, ...] = (),
           extra: bool = True) -> Schema:
    """``{"<key>": {...}}``, as every Keystone create and update body."""
    inner: Schema = {"type": "object", "properties": properties}
    if required:
        inner["required"] = list(required)
    if extra:
        inner["propertyNames"] = EXTRA_NAMES
    else:
        inner["additionalProperties"] = False
    return {"type": "object", "required": [key], "properties": {key: inner}}


# --- projects, domains, users, roles -----------------------------------------------
_PROJECT: dict[str, Schema] = {
    "name": name(64), "description": DESCRIPTION, "enabled": BOOLEAN, "tags": TAGS,
    "options": OPTIONS, "domain_id": ID, "parent_id": ID, "is_domain": BOOLEAN}
CREATE_PROJECT = entity("project", _PROJECT, ("name",))
UPDATE_PROJECT = entity("project", _PROJECT)
UPDATE_PROJECT_TAGS: Schema = {"type": "object", "required": ["tags"],
                               "properties": {"tags": TAGS}}

_DOMAIN: dict[str, Schema] = {"name": name(64), "description": text(65535, nullable=False),
                              "enabled": BOOLEAN, "tags": TAGS, "options": OPTIONS}
CREATE_DOMAIN = entity("domain", _DOMAIN, ("name",))
UPDATE_DOMAIN = entity("domain", _DOMAIN)

_USER: dict[str, Schema] = {
    "name": name(255), "password": PASSWORD, "enabled": BOOLEAN, "domain_id": ID,
    "default_project_id": ID, "description": DESCRIPTION, "options": OPTIONS}
CREATE_USER = entity("user", _USER, ("name",))
UPDATE_USER = entity("user", _USER)
CHANGE_PASSWORD = entity("user", {
    "password": {"type": "string", "maxLength": PASSWORD_MAX, "minLength": 1,
                 "pattern": NO_NUL},
    "original_password": {"type": "string", "maxLength": PASSWORD_MAX, "pattern": NO_NUL}},
    ("original_password", "password"))

_ROLE: dict[str, Schema] = {"name": name(255), "description": text(255),
                            "domain_id": ID, "options": OPTIONS}
CREATE_ROLE = entity("role", _ROLE, ("name",))
UPDATE_ROLE = entity("role", _ROLE)

_GROUP: dict[str, Schema] = {"name": name(64), "description": DESCRIPTION, "domain_id": ID}
CREATE_GROUP = entity("group", _GROUP, ("name",))
UPDATE_GROUP = entity("group", _GROUP)

# --- the catalog (keystone/catalog/schema.py) -----------------------------------------
REGION_ID: Schema = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                     "pattern": NO_NUL}
_REGION: dict[str, Schema] = {"id": REGION_ID, "description": text(255),
                              "parent_region_id": REGION_ID}
CREATE_REGION = entity("region", _REGION)
UPDATE_REGION = entity("region", _REGION)
_SERVICE: dict[str, Schema] = {
    "type": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL},
    "enabled": BOOLEAN, "name": {"type": "string", "maxLength": 255, "pattern": NO_NUL}}
CREATE_SERVICE = entity("service", _SERVICE, ("type",))
UPDATE_SERVICE = entity("service", _SERVICE)
_ENDPOINT: dict[str, Schema] = {
    "enabled": BOOLEAN, "interface": {"type": "string", "enum": ["admin", "internal", "public"]},
    "region_id": REGION_ID, "region": REGION_ID,
    "service_id": {"type": "string", "maxLength": 64, "pattern": NO_NUL},
    "url": {"type": "string", "maxLength": 225, "pattern": "^[a-zA-Z0-9+.-]+:[^\\x00]+$"}}
CREATE_ENDPOINT = entity("endpoint", _ENDPOINT, ("interface", "service_id", "url"))
UPDATE_ENDPOINT = entity("endpoint", _ENDPOINT)

# --- credentials and policies (keystone/credential/schema.py, keystone/policy/schema.py)
_TYPE: Schema = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL}
_CREDENTIAL: dict[str, Schema] = {
    "blob": {"type": "string", "pattern": NO_NUL}, "type": _TYPE, "user_id": TEXT,
    "project_id": ID}
CREATE_CREDENTIAL = entity("credential", _CREDENTIAL, ("blob", "type", "user_id"))
UPDATE_CREDENTIAL = entity("credential", _CREDENTIAL)
CREATE_EC2_CREDENTIAL: Schema = {"type": "object", "properties": {"tenant_id": ID}}
_POLICY: dict[str, Schema] = {"blob": {"type": "string", "pattern": NO_NUL}, "type": _TYPE}
CREATE_POLICY = entity("policy", _POLICY, ("blob", "type"))
UPDATE_POLICY = entity("policy", _POLICY)

# --- application credentials ---------------------------------------------------------
_ROLE_REF: Schema = {"type": "object", "properties": {"id": TEXT, "name": TEXT},
                     "anyOf": [{"required": ["id"]}, {"required": ["name"]}]}
CREATE_APP_CREDENTIAL = entity("application_credential", {
    "name": name(255), "description": text(255), "secret": PASSWORD,
    "expires_at": {"type": ["string", "null"], "format": "date-time"},
    "roles": {"type": ["array", "null"], "items": _ROLE_REF},
    "unrestricted": {"type": ["boolean", "null"]},
    "access_rules": {"type": ["array", "null"], "items": {"type": "object"}}},
    ("name",), extra=False)

# --- tokens (keystone/auth/schema.py) -----------------------------------------------
# A null is as good as absent here; the service asks for what a method needs
# ("Expecting to find password in identity", "id or name must be present").
_OBJECT = ["object", "null"]
_REF: Schema = {"type": _OBJECT, "properties": {"id": NULLABLE_TEXT, "name": NULLABLE_TEXT}}
_SECRET: Schema = {"type": ["string", "null"], "pattern": NO_NUL}
_USER_REF: Schema = {"type": _OBJECT, "properties": {
    "id": NULLABLE_TEXT, "name": NULLABLE_TEXT, "password": _SECRET, "domain": _REF}}
_SCOPE: Schema = {"type": ["object", "string", "null"], "properties": {
    "project": {"type": _OBJECT, "properties": {
        "id": NULLABLE_TEXT, "name": NULLABLE_TEXT, "domain": _REF}},
    "domain": _REF,
    "system": {"type": _OBJECT, "properties": {"all": BOOLEAN}},
    "OS-TRUST:trust": {"type": _OBJECT}}}
AUTH: Schema = {"type": "object", "required": ["identity"], "properties": {
    "identity": {"type": "object", "required": ["methods"], "properties": {
        "methods": {"type": "array", "items": {"type": "string"}},
        "password": {"type": _OBJECT, "properties": {"user": _USER_REF}},
        "token": {"type": _OBJECT, "properties": {"id": NULLABLE_TEXT}},
        "application_credential": {"type": _OBJECT, "properties": {
            "id": NULLABLE_TEXT, "name": NULLABLE_TEXT, "secret": _SECRET,
            "user": _USER_REF}}}},
    "scope": _SCOPE}}
ISSUE_TOKEN: Schema = {"type": "object", "required": ["auth"], "properties": {"auth": AUTH}}


# --- query strings -------------------------------------------------------------------
def query(*names: str) -> Schema:
    """A list's filters: text without NUL.  A flag (``enabled``, ``effective``) is
    text too: Keystone reads anything but 0/false/no/off, a bare ``?effective``
    included, as true (validate.query_bool).  Other names are ignored."""
    return {"type": "object", "properties": {n: TEXT for n in names}}


LIST_PROJECTS_QUERY = query("name", "domain_id", "enabled", "parent_id", "is_domain", "tags",
                            "tags-any", "not-tags", "not-tags-any")
LIST_USERS_QUERY = query("name", "domain_id", "enabled")
LIST_DOMAINS_QUERY = query("name", "enabled")
LIST_ROLES_QUERY = query("name", "domain_id")
LIST_GROUPS_QUERY = query("name", "domain_id")
LIST_CREDENTIALS_QUERY = query("user_id", "type")
LIST_POLICIES_QUERY = query("type")
LIST_GROUP_USERS_QUERY = query("password_expires_at")
LIST_APP_CREDENTIALS_QUERY = query("name")
LIST_SERVICES_QUERY = query("type", "name")
LIST_REGIONS_QUERY = query("parent_region_id")
LIST_ENDPOINTS_QUERY = query("interface", "service_id", "region_id")
ROLE_ASSIGNMENTS_QUERY = query(
    "user.id", "role.id", "group.id", "scope.project.id", "scope.domain.id", "scope.system",
    "scope.OS-INHERIT:inherited_to", "effective", "include_names")
TOKEN_QUERY = query("nocatalog")
REVOKE_TOKEN_QUERY = query("cascade")


# --- Keystone's words ----------------------------------------------------------------
def _secrets(value: Any, inside_secret: bool) -> list[str]:
    """Every secret in ``value``, as a message could quote it."""
    if inside_secret and value is not None:
        return [repr(value), str(value)]
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _secrets(item, key in SECRET_FIELDS)
    elif isinstance(value, list):
        for item in value:
            found += _secrets(item, False)
    return found


def wording(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    """Keystone's SchemaValidationError: the field's path and jsonschema's message."""
    path = [str(p) for p in error.absolute_path]
    message = error.message
    for secret in sorted(_secrets(error.instance, bool(SECRET_FIELDS & set(path[-1:]))),
                         key=len, reverse=True):
        if secret:
            message = message.replace(secret, MASK)
    if not path:
        return InvalidParameter(message)
    return InvalidParameter(f"Invalid input for field '{'/'.join(path)}': {message}")

# --- domain configuration, endpoint groups, OAuth1 consumers -------------------------
DOMAIN_CONFIG: Schema = {"type": "object", "required": ["config"],
                         "properties": {"config": {"type": "object", "minProperties": 1}}}
_ENDPOINT_GROUP: dict[str, Schema] = {
    "name": name(255), "description": DESCRIPTION,
    "filters": {"type": "object", "minProperties": 1, "additionalProperties": False,
                "properties": {"interface": {"enum": ["public", "internal", "admin"]},
                               "service_id": {**TEXT, "maxLength": 64},
                               "region_id": {**TEXT, "maxLength": 255}}}}
CREATE_ENDPOINT_GROUP = entity("endpoint_group", _ENDPOINT_GROUP, ("name", "filters"))
UPDATE_ENDPOINT_GROUP = entity("endpoint_group", _ENDPOINT_GROUP)
_CONSUMER: dict[str, Schema] = {"description": DESCRIPTION}
CREATE_CONSUMER = entity("consumer", _CONSUMER)
UPDATE_CONSUMER: Schema = {"type": "object", "required": ["consumer"], "properties": {
    "consumer": {"type": "object", "properties": _CONSUMER, "propertyNames": EXTRA_NAMES,
                 "not": {"required": ["secret"]}}}}
