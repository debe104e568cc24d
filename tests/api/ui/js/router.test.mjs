import assert from "node:assert/strict";
import { test } from "node:test";
import { hashQuery, match } from "../../../../src/barecloud/api/ui/web/lib/router.js";

const load = async () => ({ default: () => null });
const routes = [
  { path: "/servers", title: "Servers", load },
  { path: "/servers/:id", title: "Server", load },
];

test("a static route and a parameter", () => {
  assert.equal(match(routes, "/servers")?.route.title, "Servers");
  assert.deepEqual(match(routes, "/servers/a%2Fb")?.params, { id: "a/b" });
  assert.equal(match(routes, "/servers?status=ACTIVE")?.route.title, "Servers");
});

test("no route", () => {
  assert.equal(match(routes, "/nodes"), null);
  assert.equal(match(routes, "/servers/1/2"), null);
});

test("the hash's query", () => {
  assert.equal(hashQuery("#/fleet?state=active&q=lab").get("state"), "active");
  assert.equal(hashQuery("#/fleet").get("state"), null);
});
