"""JSON shapes of the Identity API, as Keystone writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from barecloud.db.identity_models import (
    ApplicationCredential,
    Credential,
    Domain,
    EndpointGroup,
    Group,
    OAuthConsumer,
    Policy,
    Project,
    Role,
    User,
)
from barecloud.services.identity.assignments import Assignment, Names
from barecloud.services.identity.catalog_store import EndpointView, RegionView, ServiceView
from barecloud.services.identity.subjects import Subject
from barecloud.services.identity.tokens import Token, isotime


def collection(key: str, items: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {key: items, "links": {"self": self_url, "previous": None, "next": None}}


def domain(d: Domain, v3: str) -> dict[str, Any]:
    extra = dict(d.extra or {})
    tags = extra.pop("tags", [])
    return {**extra, "id": d.id, "name": d.name, "description": d.description,
            "enabled": d.enabled, "tags": tags, "options": {},
            "links": {"self": f"{v3}/domains/{d.id}"}}


def project(p: Project, v3: str) -> dict[str, Any]:
    return {**(p.extra or {}), "id": p.id, "name": p.name, "domain_id": p.domain_id,
            "description": p.description, "enabled": p.enabled,
            "parent_id": p.parent_id or p.domain_id, "is_domain": False,
            "tags": list(p.tags or []), "options": {},
            "links": {"self": f"{v3}/projects/{p.id}"}}


def domain_project(d: Domain, v3: str) -> dict[str, Any]:
    """A domain as /projects shows it (services/identity/domain_projects.py)."""
    extra = dict(d.extra or {})
    tags = extra.pop("tags", [])
    return {**extra, "id": d.id, "name": d.name, "domain_id": None,
            "description": d.description, "enabled": d.enabled, "parent_id": None,
            "is_domain": True, "tags": tags, "options": {},
            "links": {"self": f"{v3}/projects/{d.id}"}}


def user(u: User, v3: str) -> dict[str, Any]:
    out: dict[str, Any] = {**(u.extra or {}), "id": u.id, "name": u.name,
                           "domain_id": u.domain_id, "enabled": u.enabled,
                           "password_expires_at": None, "options": {},
                           "links": {"self": f"{v3}/users/{u.id}"}}
    if u.default_project_id:
        out["default_project_id"] = u.default_project_id
    if u.description:
        out["description"] = u.description
    return out


def role(r: Role, v3: str) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description,
            "options": {}, "links": {"self": f"{v3}/roles/{r.id}"}}


def role_ref(r: Role, v3: str) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "links": {"self": f"{v3}/roles/{r.id}"}}


def _time(when: dt.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when is not None else None


def app_cred(c: ApplicationCredential, roles: list[Role], v3: str,
             secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id, "name": c.name, "description": c.description,
        "user_id": c.user_id, "project_id": c.project_id, "expires_at": _time(c.expires_at),
        "unrestricted": c.unrestricted, "access_rules": [],
        "roles": [{"id": r.id, "name": r.name, "domain_id": None} for r in roles],
        "links": {"self": f"{v3}/users/{c.user_id}/application_credentials/{c.id}"},
    }
    if secret is not None:
        out["secret"] = secret
    return out


def catalog_entries(entries: list[tuple[ServiceView, list[EndpointView]]]
                    ) -> list[dict[str, Any]]:
    """A token's catalog (catalog_store.for_token)."""
    return [{"endpoints": [{"id": e.id, "interface": e.interface, "region": e.region_id,
                            "region_id": e.region_id, "url": e.url} for e in endpoints],
             "id": svc.id, "type": svc.type, "name": svc.extra.get("name", "")}
            for svc, endpoints in entries]


def service(svc: ServiceView, v3: str) -> dict[str, Any]:
    return {"name": "", **svc.extra, "id": svc.id, "type": svc.type, "enabled": svc.enabled,
            "links": {"self": f"{v3}/services/{svc.id}"}}


def endpoint(ep: EndpointView, v3: str) -> dict[str, Any]:
    return {**ep.extra, "id": ep.id, "interface": ep.interface, "region": ep.region_id,
            "region_id": ep.region_id, "service_id": ep.service_id, "url": ep.url,
            "enabled": ep.enabled, "links": {"self": f"{v3}/endpoints/{ep.id}"}}


def region(r: RegionView, v3: str) -> dict[str, Any]:
    return {**r.extra, "id": r.id, "description": r.description,
            "parent_region_id": r.parent_region_id,
            "links": {"self": f"{v3}/regions/{r.id}"}}


def token(t: Token, subject: Subject,
          catalog: list[tuple[ServiceView, list[EndpointView]]] | None) -> dict[str, Any]:
    """``catalog`` None: none asked (``nocatalog``)."""
    body: dict[str, Any] = {
        "methods": list(t.methods),
        "user": {"domain": {"id": subject.user_domain.id, "name": subject.user_domain.name},
                 "id": subject.user.id, "name": subject.user.name,
                 "password_expires_at": None},
        "audit_ids": list(t.audit_ids),
        "expires_at": isotime(t.expires_at),
        "issued_at": isotime(t.issued_at),
    }
    if subject.system:
        body["system"] = {"all": True}
    elif subject.domain is not None:
        body["domain"] = {"id": subject.domain.id, "name": subject.domain.name}
    elif subject.project is not None and subject.project_domain is not None:
        body["project"] = {"domain": {"id": subject.project_domain.id,
                                      "name": subject.project_domain.name},
                           "id": subject.project.id, "name": subject.project.name}
        body["is_domain"] = False
    if t.scope.kind is not None:
        body["roles"] = [{"id": r.id, "name": r.name} for r in subject.roles]
        if catalog is not None:
            body["catalog"] = catalog_entries(catalog)
    if subject.app_cred is not None:
        body["application_credential"] = {"id": subject.app_cred.id,
                                          "name": subject.app_cred.name,
                                          "restricted": subject.app_cred.restricted}
    return {"token": body}


def group(g: Group, v3: str) -> dict[str, Any]:
    return {**(g.extra or {}), "id": g.id, "name": g.name, "domain_id": g.domain_id,
            "description": g.description, "links": {"self": f"{v3}/groups/{g.id}"}}


def credential(c: Credential, blob: str, v3: str) -> dict[str, Any]:
    return {**(c.extra or {}), "id": c.id, "user_id": c.user_id, "project_id": c.project_id,
            "type": c.type, "blob": blob, "links": {"self": f"{v3}/credentials/{c.id}"}}


def policy(p: Policy, v3: str) -> dict[str, Any]:
    return {**(p.extra or {}), "id": p.id, "type": p.type, "blob": p.blob,
            "links": {"self": f"{v3}/policies/{p.id}"}}


def _assignment_link(a: Assignment, v3: str) -> str:
    target = {"project": f"projects/{a.target_id}", "domain": f"domains/{a.target_id}",
              "system": "system"}[a.target_type]
    actor = f"groups/{a.group_id}" if a.group_id is not None else f"users/{a.user_id}"
    return f"{v3}/{target}/{actor}/roles/{a.prior_role_id or a.role_id}"


def _actor(ident: str, names: dict[str, tuple[str, str, str]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident}
    if names is not None and ident in names:
        name, did, dname = names[ident]
        out.update(name=name, domain={"id": did, "name": dname})
    return out


def assignment(a: Assignment, v3: str, names: Names | None) -> dict[str, Any]:
    r: dict[str, Any] = {"id": a.role_id}
    scope: dict[str, Any]
    if a.target_type == "system":
        scope = {"system": {"all": True}}
    else:
        scope = {a.target_type: {"id": a.target_id}}
    if names is not None:
        r["name"] = names.roles.get(a.role_id, "")
        if a.target_type == "project" and a.target_id in names.projects:
            name, did, dname = names.projects[a.target_id]
            scope["project"].update(name=name, domain={"id": did, "name": dname})
        elif a.target_type == "domain":
            scope["domain"]["name"] = names.domains.get(a.target_id, "")
    out: dict[str, Any] = {"role": r, "scope": scope,
                           "links": {"assignment": _assignment_link(a, v3)}}
    if a.user_id is not None:
        out["user"] = _actor(a.user_id, names.users if names else None)
        if a.group_id is not None:
            out["links"]["membership"] = f"{v3}/groups/{a.group_id}/users/{a.user_id}"
    else:
        assert a.group_id is not None
        out["group"] = _actor(a.group_id, names.groups if names else None)
    if a.prior_role_id is not None:
        out["links"]["prior_role"] = f"{v3}/roles/{a.prior_role_id}"
    return out


def endpoint_group(g: EndpointGroup, v3: str) -> dict[str, Any]:
    return {**(g.extra or {}), "id": g.id, "name": g.name, "description": g.description,
            "filters": dict(g.filters or {}),
            "links": {"self": f"{v3}/OS-EP-FILTER/endpoint_groups/{g.id}"}}


def consumer(c: OAuthConsumer, v3: str) -> dict[str, Any]:
    """Never the secret: only its creation shows it."""
    return {**(c.extra or {}), "id": c.id, "description": c.description,
            "links": {"self": f"{v3}/OS-OAUTH1/consumers/{c.id}"}}
