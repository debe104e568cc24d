import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addressLines, closeMessage, computeUsage, createBody, flavorKind, flavorSummary, isBusy,
  networkUsage, powerState, socketUrl, usageShown,
} from "../../../../src/barecloud/api/ui/web/lib/compute.js";

test("power states in words", () => {
  assert.equal(powerState(1), "running");
  assert.equal(powerState(4), "shut down");
  assert.equal(powerState(0), "no state");
  assert.equal(powerState(42), "42");
  assert.equal(powerState(undefined), "");
});

test("busy: a transient status or any task", () => {
  assert.ok(isBusy({ status: "BUILD" }));
  assert.ok(isBusy({ status: "HARD_REBOOT" }));
  assert.ok(isBusy({ status: "ACTIVE", "OS-EXT-STS:task_state": "deleting" }));
  assert.ok(!isBusy({ status: "ACTIVE", "OS-EXT-STS:task_state": null }));
  assert.ok(!isBusy({ status: "SHUTOFF" }));
  assert.ok(!isBusy({ status: "ERROR" }));
});

test("addresses, one line a network", () => {
  assert.deepEqual(addressLines({ net1: [{ addr: "10.0.0.5" }, { addr: "fd00::5" }], prov: [] }),
    ["net1: 10.0.0.5, fd00::5", "prov: —"]);
  assert.deepEqual(addressLines(undefined), []);
});

test("a flavor's kind and summary", () => {
  assert.equal(flavorKind({ extra_specs: { "resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": "0" } }), "baremetal");
  assert.equal(flavorKind({ extra_specs: { "resources:CUSTOM_X": "0" } }), "vm");
  assert.equal(flavorKind({ extra_specs: { "hw:cpu_policy": "dedicated" } }), "vm");
  assert.equal(flavorKind(null), "vm");
  assert.equal(flavorSummary({ vcpus: 2, ram: 4096, disk: 10 }), "2 vCPU · 4 GiB RAM · 10 GB disk");
  assert.equal(flavorSummary({ vcpus: 1, ram: 512, disk: 1 }), "1 vCPU · 512 MiB RAM · 1 GB disk");
});

test("the create body: networks, key, counts, the reservation hint", () => {
  const base = { name: " web ", flavor: "f", image: "i", network: "auto" };
  assert.deepEqual(createBody(base), { server: { name: "web", flavorRef: "f", imageRef: "i", networks: "auto" } });
  assert.equal(createBody({ ...base, network: "none" }).server.networks, "none");
  assert.deepEqual(createBody({ ...base, network: "n-1" }).server.networks, [{ uuid: "n-1" }]);
  assert.equal(createBody({ ...base, keyName: "k" }).server.key_name, "k");
  assert.equal(createBody({ ...base, keyName: "" }).server.key_name, undefined);
  const three = createBody({ ...base, count: "3", minCount: "" }).server;
  assert.deepEqual([three.min_count, three.max_count], [3, 3]);
  const some = createBody({ ...base, count: "3", minCount: "2" }).server;
  assert.deepEqual([some.min_count, some.max_count], [2, 3]);
  assert.equal(createBody({ ...base, count: "1" }).server.min_count, undefined);
  assert.deepEqual(createBody({ ...base, count: "0" }).server.max_count, 0); // the API refuses it
  assert.deepEqual(createBody({ ...base, reservation: " r-1 " })["os:scheduler_hints"], { reservation: "r-1" });
  assert.equal(createBody({ ...base, reservation: "" })["os:scheduler_hints"], undefined);
});

test("quota usages", () => {
  const usages = computeUsage({
    maxTotalInstances: 10, totalInstancesUsed: 2, maxTotalCores: 20, totalCoresUsed: 4,
    maxTotalRAMSize: 51200, totalRAMUsed: 8192,
  });
  assert.deepEqual(usages.map((u) => u.label), ["Instances", "Cores", "RAM"]);
  assert.equal(usages[2].unit, "MiB");
  assert.deepEqual(networkUsage({ port: { limit: 500, used: 3 }, network: { limit: 100, used: 1 } })
    .map((u) => u.label), ["Networks", "Ports"]);
  assert.deepEqual(usageShown({ label: "x", used: 2, limit: 10 }), { share: 0.2, tone: "ok", text: "2 of 10" });
  assert.equal(usageShown({ label: "x", used: 9, limit: 10 }).tone, "busy");
  assert.equal(usageShown({ label: "x", used: 12, limit: 10 }).share, 1);
  assert.equal(usageShown({ label: "x", used: 12, limit: 10 }).tone, "bad");
  assert.equal(usageShown({ label: "x", used: 5, limit: -1 }).text, "5 used (no limit)");
  assert.equal(usageShown({ label: "RAM", used: 0, limit: 0, unit: "MiB" }).text, "0 MiB of 0 MiB");
});

test("console close codes in words, with the service's reason", () => {
  assert.match(closeMessage(4409, "The serial console of x is in use."), /Someone else .*in use/);
  assert.match(closeMessage(4401, "The console token is not valid or has expired."), /Connect again/);
  assert.match(closeMessage(4503, "No BMC"), /unavailable \(No BMC\)/);
  assert.equal(closeMessage(1006, ""), "The connection to the console was lost.");
  assert.match(closeMessage(1011, "boom"), /code 1011.*boom/);
});

test("socket URLs follow the page's scheme", () => {
  assert.equal(socketUrl("ws://h:1/console/serial?token=t", { protocol: "http:", host: "h:1" }),
    "ws://h:1/console/serial?token=t");
  assert.equal(socketUrl("ws://h/console/serial?token=t", { protocol: "https:", host: "h" }),
    "wss://h/console/serial?token=t");
});
