"""Project tags: /projects/{id}/tags and the tags filters of /projects, as Keystone's."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error, password


def test_tags_of_one_project(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {
        "name": name, "tags": ["a"]}})["project"]
    tags = f"/projects/{project['id']}/tags"
    listed = ks.ok("GET", tags)
    assert listed == {"tags": ["a"], "links": {"self": f"{ks.svc.identity}{tags}"}}
    added = ks.request("PUT", f"{tags}/b")
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == f"{ks.svc.identity}{tags}/b"
    assert ks.request("PUT", f"{tags}/b").status_code == 201  # already there: kept once
    assert ks.ok("GET", tags)["tags"] == ["a", "b"]
    assert ks.request("HEAD", f"{tags}/b").status_code == 204
    assert ks.request("GET", f"{tags}/b").status_code == 204
    assert error(ks.request("GET", f"{tags}/c"), 404) == "Could not find project tag: c."
    assert ks.ok("PUT", tags, json={"tags": ["x", "y", "x"]})["tags"] == ["x", "y"]
    assert ks.ok("GET", f"/projects/{project['id']}")["project"]["tags"] == ["x", "y"]
    ks.ok("DELETE", f"{tags}/x", 204)
    error(ks.request("DELETE", f"{tags}/x"), 404)
    assert ks.ok("GET", tags)["tags"] == ["y"]
    ks.ok("DELETE", tags, 204)
    assert ks.ok("GET", tags)["tags"] == []
    error(ks.request("PUT", tags, json={"tags": ["a,b"]}), 400)
    error(ks.request("PUT", tags, json={"tags": [f"t{i}" for i in range(81)]}), 400)
    error(ks.request("PUT", tags, json={"tag": []}), 400)
    error(ks.request("PUT", f"{tags}/{'x' * 256}"), 400)
    ks.ok("PUT", tags, json={"tags": [f"t{i}" for i in range(80)]})
    error(ks.request("PUT", f"{tags}/one-more"), 400)
    error(ks.request("GET", "/projects/nope/tags"), 404)


def test_tag_filters(ks: Keystone, name: str) -> None:
    made = {}
    for suffix, tags in (("ab", ["a", "b"]), ("a", ["a"]), ("c", ["c"])):
        made[suffix] = ks.ok("POST", "/projects", 201, json={"project": {
            "name": f"{name}-{suffix}", "tags": [f"{name}{t}" for t in tags]}})["project"]["id"]

    def found(query: str) -> set[str]:
        query = query.replace("T", name)
        return {p["id"] for p in ks.ok("GET", f"/projects?{query}")["projects"]} & set(
            made.values())

    assert found("tags=Ta,Tb") == {made["ab"]}
    assert found("tags=Ta") == {made["ab"], made["a"]}
    assert found("tags-any=Tb,Tc") == {made["ab"], made["c"]}
    assert found("not-tags=Ta,Tb") == {made["a"], made["c"]}
    assert found("not-tags-any=Tb,Tc") == {made["a"]}
    assert found("tags=Ta&not-tags-any=Tb") == {made["a"]}


def test_members_read_tags_admins_write_them(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {
        "name": name, "tags": ["t"]}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/"
                 f"{ks.ids()['role:member']}", 204)
    token, _ = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    tags = f"/projects/{project['id']}/tags"
    assert ks.ok("GET", tags, token=token)["tags"] == ["t"]
    assert ks.request("HEAD", f"{tags}/t", token=token).status_code == 204
    error(ks.request("PUT", f"{tags}/u", token=token), 403)
    error(ks.request("DELETE", tags, token=token), 403)
    error(ks.request("GET", "/projects/default/tags", token=token), 403)
