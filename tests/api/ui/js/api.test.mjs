// The API client's pure parts: each service's error format, and next links.
import assert from "node:assert/strict";
import { test } from "node:test";
import { errorMessage } from "../../../../src/barecloud/api/ui/web/lib/api.js";

test("Nova's fault", () => {
  const body = JSON.stringify({ itemNotFound: { code: 404, message: "Instance x could not be found." } });
  assert.equal(errorMessage(404, body), "Instance x could not be found.");
});

test("Keystone's error", () => {
  const body = JSON.stringify({ error: { code: 401, title: "Unauthorized", message: "The request you have made requires authentication." } });
  assert.equal(errorMessage(401, body), "The request you have made requires authentication.");
});

test("Ironic's error_message holds JSON with a faultstring", () => {
  const inner = JSON.stringify({ faultstring: "Node lab-1 is locked by host c1.", debuginfo: null });
  assert.equal(errorMessage(409, JSON.stringify({ error_message: inner })), "Node lab-1 is locked by host c1.");
});

test("Neutron's error", () => {
  const body = JSON.stringify({ NeutronError: { type: "NetworkNotFound", message: "Network n could not be found.", detail: "" } });
  assert.equal(errorMessage(404, body), "Network n could not be found.");
});

test("Blazar's error", () => {
  const body = JSON.stringify({ error_code: 400, error_message: "Start date must be later than now", error_name: 400 });
  assert.equal(errorMessage(400, body), "Start date must be later than now");
});

test("Glance's plain text or HTML", () => {
  assert.equal(errorMessage(413, "<html><body><h1>413 Request Entity Too Large</h1>Image exceeds the storage quota</body></html>"),
    "413 Request Entity Too Large Image exceeds the storage quota");
  assert.equal(errorMessage(500, ""), "HTTP 500");
});
