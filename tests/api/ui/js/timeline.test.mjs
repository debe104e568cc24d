// The lease calendar's arithmetic: Blazar's dates, time to x, bars, ticks.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DAY, HOUR, blazarDate, describe, fromInputDate, inputDate, layout, parseDate, span, ticks, toPercent, windowOf,
} from "../../../../src/barecloud/api/ui/web/lib/timeline.js";

const T0 = Date.UTC(2030, 0, 1, 0, 0);

test("Blazar's dates are UTC, with or without a zone", () => {
  assert.equal(parseDate("2030-01-01T00:00:00.000000"), T0);
  assert.equal(parseDate("2030-01-01 00:00"), T0);
  assert.equal(parseDate("2030-01-01T00:00:00Z"), T0);
  assert.ok(Number.isNaN(parseDate("")));
  assert.ok(Number.isNaN(parseDate(null)));
  assert.equal(blazarDate(T0 + 90 * 60_000), "2030-01-01 01:30");
});

test("a datetime-local field is read as UTC", () => {
  assert.equal(inputDate(T0 + HOUR), "2030-01-01T01:00");
  assert.equal(fromInputDate("2030-01-01T01:00"), T0 + HOUR);
  assert.ok(Number.isNaN(fromInputDate("")));
  assert.ok(Number.isNaN(fromInputDate("tomorrow")));
});

test("time maps to a percentage of the window, clamped", () => {
  assert.equal(toPercent(T0, T0, T0 + DAY), 0);
  assert.equal(toPercent(T0 + 6 * HOUR, T0, T0 + DAY), 25);
  assert.equal(toPercent(T0 + 2 * DAY, T0, T0 + DAY), 100);
  assert.equal(toPercent(T0 - DAY, T0, T0 + DAY), 0);
  assert.equal(toPercent(T0, T0, T0), 0); // an empty window puts nothing anywhere
});

test("a bar is clipped to the window, and none outside it", () => {
  assert.deepEqual(span(T0 + 6 * HOUR, T0 + 18 * HOUR, T0, T0 + DAY),
    { left: 25, width: 50, clippedStart: false, clippedEnd: false });
  assert.deepEqual(span(T0 - HOUR, T0 + 2 * DAY, T0, T0 + DAY),
    { left: 0, width: 100, clippedStart: true, clippedEnd: true });
  assert.equal(span(T0 - 2 * DAY, T0 - DAY, T0, T0 + DAY), null);
  assert.equal(span(T0 + DAY, T0 + 2 * DAY, T0, T0 + DAY), null); // ends are exclusive
});

const CALENDAR = {
  start: "2030-01-01T00:00:00.000000",
  end: "2030-01-02T00:00:00.000000",
  now: "2030-01-01T03:00:00.000000",
  hosts: [
    { id: "1", hypervisor_hostname: "lab-00001", reservable: true, out_of_service: null, allocations: [
      { lease_id: "L1", lease_name: "mine", project_id: "P1", reservation_id: "R1", status: "ACTIVE",
        start_date: "2030-01-01T06:00:00.000000", end_date: "2030-01-01T12:00:00.000000" },
      { lease_id: null, lease_name: null, project_id: null, reservation_id: null, status: "PENDING",
        start_date: "2030-01-01T18:00:00.000000", end_date: "2030-01-03T00:00:00.000000" },
    ] },
    { id: null, hypervisor_hostname: null, reservable: true, out_of_service: "out of service", allocations: [
      { lease_id: "L2", lease_name: "theirs", project_id: "P2", status: "ACTIVE",
        start_date: "2029-12-30T00:00:00.000000", end_date: "2029-12-31T00:00:00.000000" },
    ] },
  ],
};

test("rows are hosts, bars their leases in the window", () => {
  const rows = layout(CALENDAR, { myProject: "P1", projectName: (id) => (id === "P1" ? "demo" : undefined) });
  assert.deepEqual(rows.map((r) => r.label), ["lab-00001", "Machine 2"]);
  assert.equal(rows[1].outOfService, "out of service");
  assert.equal(rows[1].bars.length, 0); // ended before the window
  const [mine, busy] = rows[0].bars;
  assert.equal(mine.name, "mine");
  assert.equal(mine.project, "demo");
  assert.equal(mine.mine, true);
  assert.equal(mine.left, 25);
  assert.equal(mine.width, 25);
  assert.equal(busy.name, "Busy");
  assert.equal(busy.project, "another project");
  assert.equal(busy.mine, false);
  assert.equal(busy.clippedEnd, true);
  assert.equal(busy.left + busy.width, 100);
  assert.equal(describe(mine), "mine (demo), ACTIVE: 2030-01-01 06:00 UTC to 2030-01-01 12:00 UTC");
});

test("one project's bars only, and an unnamed project shows its id", () => {
  const rows = layout(CALENDAR, { onlyProject: "P1", start: T0 - 3 * DAY, end: T0 + DAY });
  assert.deepEqual(rows.map((r) => r.bars.map((b) => b.name)), [["mine"], []]);
  const all = layout(CALENDAR, { start: T0 - 3 * DAY, end: T0 + DAY });
  assert.equal(all[1].bars[0].project, "P2");
});

test("ticks fall on whole hours or midnights, a readable number of them", () => {
  const day = ticks(T0, T0 + DAY, 8);
  assert.deepEqual(day.map((t) => t.label), ["01-01", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]);
  assert.equal(day[0].major, true);
  assert.equal(day[2].left, 25);
  const week = ticks(T0 + HOUR, T0 + HOUR + 7 * DAY, 8);
  assert.equal(week.length, 7);
  assert.ok(week.every((t) => t.major && (t.at - T0) % DAY === 0));
  assert.ok(ticks(T0, T0 + 30 * DAY, 10).length <= 10);
  assert.deepEqual(ticks(T0, T0), []);
});

test("the default window starts an hour before now, on the hour", () => {
  const now = T0 + 5 * HOUR + 17 * 60_000;
  assert.deepEqual(windowOf(now, 7), { start: T0 + 4 * HOUR, end: T0 + 4 * HOUR + 7 * DAY });
  assert.deepEqual(windowOf(now, 1, T0), { start: T0, end: T0 + DAY });
});
