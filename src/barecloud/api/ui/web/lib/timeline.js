// @ts-check
/**
 * The lease calendar's arithmetic, apart from its drawing (lib/calendar.js):
 * Blazar's dates, a window of time mapped onto 0..100 % of a row, the bars
 * of each host, and the axis's ticks. No DOM and no Preact, so that node
 * --test can check it (tests/api/ui/js/timeline.test.mjs).
 *
 * Every time is UTC: Blazar writes "2030-01-01T12:00:00.000000" without a
 * zone, meaning UTC, and reads "YYYY-MM-DD hh:mm".
 */

const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/**
 * One allocation of barecloud's calendar (GET /reservation/v1/barecloud-calendar):
 * a lease of another project has no id, name nor project.
 * @typedef {{
 *   lease_id: string | null,
 *   lease_name: string | null,
 *   project_id: string | null,
 *   reservation_id?: string | null,
 *   status: string,
 *   start_date: string,
 *   end_date: string,
 * }} Allocation
 * @typedef {{
 *   id: string | null,
 *   hypervisor_hostname: string | null,
 *   node_uuid?: string | null,
 *   reservable: boolean,
 *   out_of_service: string | null,
 *   allocations: Allocation[],
 * }} CalendarHost
 * @typedef {{start: string, end: string, now: string, hosts: CalendarHost[]}} Calendar
 *
 * @typedef {{
 *   key: string,
 *   left: number,
 *   width: number,
 *   clippedStart: boolean,
 *   clippedEnd: boolean,
 *   leaseId: string | null,
 *   name: string,
 *   project: string,
 *   status: string,
 *   start: number,
 *   end: number,
 *   mine: boolean,
 * }} Bar
 * @typedef {{key: string, label: string, outOfService: string | null, reservable: boolean, bars: Bar[]}} Row
 * @typedef {{at: number, left: number, label: string, major: boolean}} Tick
 */

/**
 * A Blazar date (UTC, with or without a zone) in ms since the epoch; NaN if it is none.
 * @param {string | null | undefined} text
 * @returns {number}
 */
export function parseDate(text) {
  if (!text) return NaN;
  const iso = text.trim().replace(" ", "T");
  return Date.parse(/[zZ]$|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
}

/**
 * A time as Blazar reads it in a request: "YYYY-MM-DD hh:mm" (UTC).
 * @param {number} ms
 */
export function blazarDate(ms) {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

/**
 * A time as an `<input type="datetime-local">` holds it ("YYYY-MM-DDThh:mm"),
 * the field being read as UTC.
 * @param {number} ms
 */
export function inputDate(ms) {
  return new Date(ms).toISOString().slice(0, 16);
}

/**
 * What a datetime-local field (read as UTC) says, in ms; NaN if empty or wrong.
 * @param {string} value
 */
export function fromInputDate(value) {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value)) return NaN;
  return Date.parse(value.slice(0, 16) + ":00Z");
}

/**
 * A time for people: "2030-01-01 12:00 UTC".
 * @param {number} ms
 */
export function showDate(ms) {
  return Number.isFinite(ms) ? `${blazarDate(ms)} UTC` : "";
}

/**
 * Where an instant sits in [start, end), in percent of the row (clamped to 0..100).
 * @param {number} at
 * @param {number} start
 * @param {number} end
 */
export function toPercent(at, start, end) {
  if (!(end > start)) return 0;
  return Math.min(100, Math.max(0, ((at - start) / (end - start)) * 100));
}

/**
 * The bar of [from, to) in the window [start, end): null when it is outside.
 * @param {number} from
 * @param {number} to
 * @param {number} start
 * @param {number} end
 * @returns {{left: number, width: number, clippedStart: boolean, clippedEnd: boolean} | null}
 */
export function span(from, to, start, end) {
  if (!(to > start && from < end && end > start)) return null;
  const left = toPercent(from, start, end);
  const right = toPercent(to, start, end);
  return { left, width: right - left, clippedStart: from < start, clippedEnd: to > end };
}

/**
 * The calendar's rows: one a host, its allocations as bars in the window.
 * @param {Calendar} calendar
 * @param {{
 *   start?: number,
 *   end?: number,
 *   myProject?: string,
 *   projectName?: (id: string) => string | undefined,
 *   onlyProject?: string,
 * }} [options]  the window (default: the calendar's), whose project is "mine",
 *   the names of projects, and one project's bars only
 * @returns {Row[]}
 */
export function layout(calendar, options = {}) {
  const start = options.start ?? parseDate(calendar.start);
  const end = options.end ?? parseDate(calendar.end);
  return calendar.hosts.map((host, index) => {
    /** @type {Bar[]} */
    const bars = [];
    host.allocations.forEach((a, i) => {
      if (options.onlyProject && a.project_id !== options.onlyProject) return;
      const from = parseDate(a.start_date);
      const to = parseDate(a.end_date);
      const placed = span(from, to, start, end);
      if (!placed) return;
      const project = a.project_id
        ? options.projectName?.(a.project_id) ?? a.project_id
        : "another project";
      bars.push({
        key: `${a.reservation_id ?? a.lease_id ?? "busy"}-${i}`,
        ...placed,
        leaseId: a.lease_id,
        name: a.lease_name ?? "Busy",
        project,
        status: a.status,
        start: from,
        end: to,
        mine: !!a.project_id && a.project_id === options.myProject,
      });
    });
    return {
      key: host.id ?? `row-${index}`,
      label: host.hypervisor_hostname ?? `Machine ${index + 1}`,
      outOfService: host.out_of_service,
      reservable: host.reservable,
      bars,
    };
  });
}

/**
 * What a bar says to a screen reader and in its tooltip.
 * @param {Bar} bar
 */
export function describe(bar) {
  return `${bar.name} (${bar.project}), ${bar.status}: ${showDate(bar.start)} to ${showDate(bar.end)}`;
}

/** Tick steps, the smallest that keeps the axis readable is used. */
const STEPS = [HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY];

/**
 * The axis's ticks over [start, end): at most `most` of them, on whole steps
 * (UTC hours or midnights); a midnight is major and says its date.
 * @param {number} start
 * @param {number} end
 * @param {number} [most]
 * @returns {Tick[]}
 */
export function ticks(start, end, most = 8) {
  if (!(end > start)) return [];
  const step = STEPS.find((s) => (end - start) / s <= most) ?? STEPS[STEPS.length - 1];
  const first = Math.ceil(start / step) * step;
  /** @type {Tick[]} */
  const out = [];
  for (let at = first; at < end; at += step) {
    const iso = new Date(at).toISOString();
    const major = at % DAY === 0;
    out.push({
      at,
      left: toPercent(at, start, end),
      label: major ? iso.slice(5, 10) : iso.slice(11, 16),
      major,
    });
  }
  return out;
}

/**
 * The window a view shows: `days` days from `from`'s UTC midnight, or from
 * an hour before now when `from` is not given.
 * @param {number} now
 * @param {number} days
 * @param {number} [from]
 * @returns {{start: number, end: number}}
 */
export function windowOf(now, days, from) {
  const start = from ?? Math.floor((now - HOUR) / HOUR) * HOUR;
  return { start, end: start + days * DAY };
}
