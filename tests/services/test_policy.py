"""The policy rules and their little language."""

from __future__ import annotations

import re

import pytest

from barecloud.errors import Forbidden
from barecloud.services import policy
from barecloud.services.context import NOAUTH_PROJECT, RequestContext

ADMIN = RequestContext("r", user="u-admin", project="p-admin", roles=("admin", "member", "reader"))
SYSTEM_READER = RequestContext("r", user="u-sys", system=True, roles=("reader",))
MEMBER_A = RequestContext("r", user="u-a", project="p-a", roles=("member", "reader"))
READER_A = RequestContext("r", user="u-ra", project="p-a", roles=("reader",))
MEMBER_B = RequestContext("r", user="u-b", project="p-b", roles=("member", "reader"))
NOBODY = RequestContext.anonymous("r")
NODE_A = policy.node_target(owner="p-a", lessee=None)
LEASED_TO_B = policy.node_target(owner="p-a", lessee="p-b")
UNOWNED = policy.node_target(owner=None, lessee=None)


def test_every_rule_compiles_and_names_existing_rules() -> None:
    for name, text in policy.RULES.items():
        policy.compile_rule(text)
        for ref in re.findall(r"rule:([\w:]+)", text):
            assert ref in policy.RULES, (name, ref)


@pytest.mark.parametrize("text", ["role:", "and", "(role:a", "role:a or", "project_id:x",
                                  "system_scope:some", "bogus:%(x)s", "role:a )"])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(policy.PolicySyntaxError):
        policy.compile_rule(text)


def test_language() -> None:
    check = policy.compile_rule("not role:admin and (project_id:%(a.b)s or @) and not !")
    assert check(MEMBER_A, {}) is True
    assert check(ADMIN, {}) is False
    owner = policy.compile_rule("project_id:%(owner)s")
    assert owner(MEMBER_A, {"owner": "p-a"}) and not owner(MEMBER_A, {"owner": "p-b"})
    # Nobody matches a missing value, not even a context without a project.
    assert not owner(SYSTEM_READER, {"owner": None}) and not owner(SYSTEM_READER, {})
    assert policy.compile_rule("system_scope:all")(SYSTEM_READER, {})
    assert not policy.compile_rule("system_scope:all")(ADMIN, {})


def test_is_admin_follows_roles() -> None:
    assert ADMIN.is_admin and not MEMBER_A.is_admin and not NOBODY.is_admin
    noauth = RequestContext.noauth("r")
    assert noauth.is_admin and noauth.project == NOAUTH_PROJECT
    assert RequestContext("internal").is_admin  # the service acting for the operator
    assert "tok" not in repr(RequestContext("r", token="tok"))


def test_nodes() -> None:
    get, power = "baremetal:node:get", "baremetal:node:set_power_state"
    assert policy.can(ADMIN, get, UNOWNED) and policy.can(SYSTEM_READER, get, UNOWNED)
    assert policy.can(MEMBER_A, get, NODE_A) and policy.can(READER_A, get, NODE_A)
    assert not policy.can(MEMBER_B, get, NODE_A) and policy.can(MEMBER_B, get, LEASED_TO_B)
    assert not policy.can(MEMBER_A, get, UNOWNED) and not policy.can(NOBODY, get, NODE_A)
    assert policy.can(MEMBER_A, power, NODE_A) and not policy.can(READER_A, power, NODE_A)
    assert not policy.can(MEMBER_B, power, LEASED_TO_B)  # a lessee member: not in Ironic
    assert not policy.can(SYSTEM_READER, power, NODE_A)
    for rule in ("baremetal:node:update", "baremetal:node:create", "baremetal:node:delete",
                 "baremetal:port:create"):
        assert policy.can(ADMIN, rule, NODE_A) and not policy.can(MEMBER_A, rule, NODE_A)
    assert policy.can(READER_A, "baremetal:node:list")
    assert not policy.can(READER_A, "baremetal:node:list_all")
    assert policy.can(SYSTEM_READER, "baremetal:node:list_all")


def test_images() -> None:
    mine = {"owner": "p-a"}
    assert policy.can(MEMBER_A, "image:modify_image", mine)
    assert not policy.can(READER_A, "image:modify_image", mine)
    assert not policy.can(MEMBER_B, "image:delete_image", mine)
    assert not policy.can(MEMBER_A, "image:publicize_image")
    assert policy.can(ADMIN, "image:publicize_image") and policy.can(ADMIN, "image:get_all")
    assert policy.can(MEMBER_B, "image:modify_member", {"member_id": "p-b"})
    # Glance: the owner's members deactivate; only admins download a deactivated
    # image or write metadefs.
    assert policy.can(MEMBER_A, "image:deactivate", mine)
    assert policy.can(MEMBER_A, "image:reactivate", mine)
    assert not policy.can(MEMBER_B, "image:deactivate", mine)
    assert not policy.can(READER_A, "image:reactivate", mine)
    assert policy.can(ADMIN, "image:download_deactivated")
    assert not policy.can(MEMBER_A, "image:download_deactivated")
    assert not policy.can(MEMBER_A, "image:modify_metadef", {"owner": "p-a"})
    assert policy.can(READER_A, "image:get_metadef")
    assert policy.can(MEMBER_A, "image:import_image", mine)
    assert not policy.can(MEMBER_B, "image:import_image", mine)
    assert not policy.can(MEMBER_A, "image:modify_member", {"member_id": "p-b"})
    # Glance's location rules: the owner's readers see them, members add and
    # replace them, admins remove them; the cache API is an admin's.
    assert policy.can(READER_A, "image:get_image_location", mine)
    assert not policy.can(MEMBER_B, "image:get_image_location", mine)
    assert policy.can(MEMBER_A, "image:set_image_location", mine)
    assert not policy.can(READER_A, "image:set_image_location", mine)
    assert not policy.can(MEMBER_A, "image:delete_image_location", mine)
    assert policy.can(ADMIN, "image:delete_image_location", mine)
    assert not policy.can(MEMBER_A, "image:manage_image_cache")
    assert policy.can(ADMIN, "image:manage_image_cache")


def test_compute() -> None:
    mine = {"project_id": "p-a"}
    assert policy.can(MEMBER_A, "compute:servers:create", mine)
    assert not policy.can(READER_A, "compute:servers:create", mine)
    assert policy.can(READER_A, "compute:servers:show", mine)
    assert not policy.can(MEMBER_B, "compute:servers:show", mine)
    assert policy.can(NOBODY, "compute:flavors:list")
    assert not policy.can(MEMBER_A, "compute:flavors:create")
    assert not policy.can(MEMBER_A, "compute:hypervisors:list")
    assert policy.can(MEMBER_A, "compute:keypairs:create", {"user_id": "u-a"})
    assert not policy.can(MEMBER_A, "compute:keypairs:create", {"user_id": "u-b"})


def test_identity() -> None:
    assert policy.can(MEMBER_A, "identity:get_user", {"user_id": "u-a"})
    assert not policy.can(MEMBER_A, "identity:get_user", {"user_id": "u-b"})
    assert not policy.can(MEMBER_A, "identity:list_users")
    assert policy.can(SYSTEM_READER, "identity:list_users")
    assert not policy.can(SYSTEM_READER, "identity:create_user")
    assert policy.can(MEMBER_A, "identity:validate_token", {"token.user_id": "u-a"})
    assert not policy.can(MEMBER_A, "identity:validate_token", {"token.user_id": "u-b"})


def test_authorize_words_refusals_as_each_service() -> None:
    cases = {
        "identity:list_users": "You are not authorized to perform the requested action: "
                               "identity:list_users.",
        "baremetal:node:update": "baremetal:node:update is disallowed by policy",
        "image:publicize_image": "You are not authorized to complete publicize_image action.",
        "compute:flavors:create": "Policy doesn't allow compute:flavors:create to be "
                                  "performed.",
    }
    for rule, message in cases.items():
        with pytest.raises(Forbidden) as exc:
            policy.authorize(MEMBER_A, rule)
        assert exc.value.code == 403 and exc.value.message == message
    policy.authorize(ADMIN, "identity:list_users")


def test_unknown_rules_fall_back_to_admin_only() -> None:
    assert policy.can(ADMIN, "compute:no-such-rule")
    assert not policy.can(MEMBER_A, "compute:no-such-rule")
