import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Fleet, filterFromQuery, filterToQuery, inFlight,
} from "../../../../src/barecloud/api/ui/web/lib/fleet.js";

const STATES = ["available", "active", "manageable", "deploy failed", "clean wait"];
const POWERS = ["power on", "power off", null];

/** n nodes, deterministic: every 7th in maintenance, every 11th with an error. */
function nodes(n, prefix = "node") {
  return Array.from({ length: n }, (_, i) => ({
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    name: `${prefix}-${String(i).padStart(5, "0")}`,
    provision_state: STATES[i % STATES.length],
    power_state: POWERS[i % POWERS.length],
    maintenance: i % 7 === 0,
    resource_class: i % 2 ? "baremetal" : "gpu",
    last_error: i % 11 === 0 ? `boom ${i}` : null,
  }));
}

test("counts by provision state, power, maintenance and errors", () => {
  const fleet = new Fleet(4);
  fleet.upsert(nodes(100));
  const counts = fleet.counts();
  assert.equal(counts.total, 100);
  assert.equal(counts.provision.get("available"), 20);
  assert.equal(counts.provision.get("clean wait"), 20);
  assert.equal(counts.power.get("power on"), 34);
  assert.equal(counts.power.get("none"), 33);
  assert.equal(counts.maintenance, 15); // 0, 7, ..., 98
  assert.equal(counts.errors, 10); // 0, 11, ..., 99
});

test("a row reads back as the API gave it", () => {
  const fleet = new Fleet();
  const given = nodes(3);
  fleet.upsert(given);
  assert.deepEqual(fleet.row(0), given[0]);
  assert.deepEqual(fleet.row(2), given[2]);
});

test("each filter narrows, and they combine", () => {
  const fleet = new Fleet();
  fleet.upsert(nodes(100));
  assert.equal(fleet.filter({}).length, 100);
  assert.equal(fleet.filter({ state: "active" }).length, 20);
  assert.equal(fleet.filter({ power: "none" }).length, 33);
  assert.equal(fleet.filter({ maintenance: true }).length, 15);
  assert.equal(fleet.filter({ maintenance: false }).length, 85);
  assert.equal(fleet.filter({ error: true }).length, 10);
  const both = [...fleet.filter({ state: "available", maintenance: true })];
  assert.deepEqual(both, [0, 35, 70]);
  assert.equal(fleet.filter({ state: "no such state" }).length, 0);
  assert.equal(fleet.filter({ power: "power strange" }).length, 0);
});

test("the text matches name or uuid, every word, any case", () => {
  const fleet = new Fleet();
  fleet.upsert(nodes(100));
  assert.deepEqual([...fleet.filter({ text: "NODE-0004" })], [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
  assert.deepEqual([...fleet.filter({ text: "000000000042" })], [42]);
  assert.deepEqual([...fleet.filter({ text: "node 00042" })], [42]);
  assert.deepEqual([...fleet.filter({ text: "node-00042", state: "available" })], []);
});

test("an update changes a node in place; a sync drops the unseen", () => {
  const fleet = new Fleet();
  const all = nodes(10);
  fleet.upsert(all);
  const before = fleet.version;
  fleet.upsert([{ ...all[3], maintenance: true, provision_state: "active" }]);
  assert.ok(fleet.version > before);
  assert.equal(fleet.size, 10);
  assert.equal(fleet.row(3).maintenance, true);
  assert.equal(fleet.row(3).provision_state, "active");
  fleet.beginSync();
  fleet.upsert(all.filter((_, i) => i % 2 === 0));
  fleet.endSync();
  assert.equal(fleet.size, 5);
  assert.deepEqual(Array.from({ length: 5 }, (_, i) => fleet.row(i).name), [
    "node-00000", "node-00002", "node-00004", "node-00006", "node-00008"]);
  assert.equal(fleet.index.get(all[8].uuid), 4);
  assert.equal(fleet.index.has(all[1].uuid), false);
  fleet.remove(all[4].uuid);
  assert.equal(fleet.size, 4);
  assert.equal(fleet.row(2).name, "node-00006");
});

test("10,000 nodes: filtering is fast", () => {
  const fleet = new Fleet();
  const all = nodes(10000);
  for (let i = 0; i < all.length; i += 1000) fleet.upsert(all.slice(i, i + 1000));
  assert.equal(fleet.size, 10000);
  fleet.filter({ text: "warm" });
  const start = performance.now();
  for (let i = 0; i < 10; i++) {
    fleet.filter({ state: "active" });
    fleet.filter({ text: "node-01" });
    fleet.filter({ maintenance: true, error: true });
    fleet.counts();
  }
  const each = (performance.now() - start) / 10;
  assert.ok(each < 50, `a filter round took ${each.toFixed(1)} ms`);
  assert.equal(fleet.filter({ text: "node-01" }).length, 1000);
});

test("the hash query round-trips a filter", () => {
  const filter = { state: "deploy failed", power: "power on", maintenance: true, error: false, text: "lab 1" };
  const query = filterToQuery(filter);
  assert.deepEqual(filterFromQuery(new URLSearchParams(query)), filter);
  assert.equal(filterToQuery({}), "");
  assert.deepEqual(filterFromQuery(new URLSearchParams("")), {
    state: null, power: null, maintenance: null, error: null, text: null });
});

test("at most `limit` in flight, each item's error kept", async () => {
  let running = 0;
  let most = 0;
  const seen = [];
  const results = await inFlight([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    if (n % 3 === 0) throw new Error(`no ${n}`);
  }, (done) => seen.push(done));
  assert.equal(most, 3);
  assert.deepEqual(results.map((e) => (e ? e.message : null)), [null, null, "no 3", null, null, "no 6", null]);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
});
