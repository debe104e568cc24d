"""Nova's image proxy below 2.36 (metadata below 2.39): the Image service's images."""

from __future__ import annotations

from tests.api.compute.nova import Nova, fault

OLD = "2.35"


def test_images_and_their_metadata(nova: Nova) -> None:
    image = nova.image()
    r = nova.glance.patch(f"/images/{image}", json=[
        {"op": "add", "path": "/os_distro", "value": "debian"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200, r.text

    shown = nova.ok("GET", f"/images/{image}", version=OLD)["image"]
    assert (shown["id"], shown["status"], shown["progress"]) == (image, "ACTIVE", 100)
    assert shown["metadata"] == {"os_distro": "debian"} and shown["minRam"] == 0
    assert shown["OS-EXT-IMG-SIZE:size"] == 4096
    assert [link["rel"] for link in shown["links"]] == ["self", "bookmark", "alternate"]
    listed = nova.ok("GET", "/images", version=OLD, params={"limit": 1000})["images"]
    assert {"id": image, "name": "img", "links": shown["links"]} in listed
    detail = nova.ok("GET", "/images/detail", version=OLD,
                     params={"status": "ACTIVE"})["images"]
    assert image in [i["id"] for i in detail]
    assert fault(nova.request("GET", f"/images/{image}", version="2.36"), 404)
    assert fault(nova.request("GET", "/images/00000000-0000-0000-0000-000000000000",
                              version=OLD), 404) == "Image not found."

    base = f"/images/{image}/metadata"
    assert nova.ok("POST", base, version=OLD, json={"metadata": {"a": "1"}}) == \
        {"metadata": {"os_distro": "debian", "a": "1"}}
    assert nova.ok("PUT", f"{base}/b", version=OLD, json={"meta": {"b": "2"}}) == \
        {"meta": {"b": "2"}}
    assert nova.ok("GET", f"{base}/b", version=OLD) == {"meta": {"b": "2"}}
    assert nova.ok("PUT", base, version="2.38", json={"metadata": {"c": "3"}}) == \
        {"metadata": {"c": "3"}}
    assert nova.request("DELETE", f"{base}/c", version=OLD).status_code == 204
    assert nova.ok("GET", base, version=OLD) == {"metadata": {}}
    assert nova.glance.get(f"/images/{image}").json().get("c") is None
    assert fault(nova.request("DELETE", f"{base}/c", version=OLD), 404) == \
        "Invalid metadata key"
    assert fault(nova.request("PUT", f"{base}/x", version=OLD,
                              json={"meta": {"y": "1"}}), 400) == \
        "Request body and URI mismatch"
    assert fault(nova.request("GET", base, version="2.39"), 404)

    assert nova.request("DELETE", f"/images/{image}", version=OLD).status_code == 204
    assert nova.glance.get(f"/images/{image}").status_code == 404
