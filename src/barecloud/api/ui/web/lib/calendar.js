// @ts-check
/**
 * The lease calendar: one row a machine of the reservable pool, time along
 * the row, each lease a bar labelled with its name and project. It reads
 * barecloud's calendar extension (GET /reservation/v1/barecloud-calendar),
 * which shows a member its own leases by name and others' as busy only, and
 * an operator every machine and lease. Bars are focusable; their dates are
 * in their title and accessible name. Times are UTC, as Blazar's.
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "./api.js";
import { DAY, blazarDate, describe, layout, parseDate, showDate, ticks, windowOf } from "./timeline.js";
import { ErrorText, usePoll } from "./ui.js";

/** @typedef {import("./timeline.js").Calendar} Calendar */

const SPANS = [
  { days: 1, label: "1 day" },
  { days: 7, label: "7 days" },
  { days: 30, label: "30 days" },
];

/**
 * @param {{
 *   session: import("./api.js").Session,
 *   label?: string,
 *   projectName?: (id: string) => string | undefined,
 *   onlyProject?: string,
 *   refresh?: unknown,
 *   onPick?: (leaseId: string) => void,
 * }} props  `refresh`: a value whose change loads the calendar again (after a
 *   lease changed); `onPick`: what activating one's own lease's bar does
 */
export function LeaseCalendar({ session, label = "Lease calendar", projectName, onlyProject, refresh, onPick }) {
  const [days, setDays] = useState(7);
  const [from, setFrom] = useState(/** @type {number | undefined} */ (undefined));
  const { start, end } = windowOf(Date.now(), days, from);
  const query = `?start=${encodeURIComponent(blazarDate(start))}&end=${encodeURIComponent(blazarDate(end))}`;
  const { data, error } = usePoll(
    () => api(session, "reservation", "GET", `/barecloud-calendar${query}`),
    [session.token, query, refresh],
    30_000,
  );
  const calendar = /** @type {Calendar | null} */ (data);
  const move = (/** @type {number} */ sign) => setFrom(start + sign * Math.max(days * DAY / 2, DAY));
  const rows = calendar
    ? layout(calendar, { start, end, myProject: session.project.id, projectName, onlyProject })
    : null;
  const now = calendar ? parseDate(calendar.now) : Date.now();
  const marks = ticks(start, end, days > 7 ? 10 : 8);
  const nowLeft = ((now - start) / (end - start)) * 100;
  return html`<div class="calendar" role="group" aria-label=${label}>
    <div class="cal-controls">
      <button type="button" onClick=${() => move(-1)}>‹ Earlier</button>
      <button type="button" onClick=${() => setFrom(undefined)}>Now</button>
      <button type="button" onClick=${() => move(1)}>Later ›</button>
      <label>Show <select value=${String(days)}
          onChange=${(/** @type {Event} */ e) => setDays(Number(/** @type {HTMLSelectElement} */ (e.currentTarget).value))}>
        ${SPANS.map((s) => html`<option value=${String(s.days)} selected=${s.days === days}>${s.label}</option>`)}
      </select></label>
      <span class="muted cal-range">${showDate(start)} – ${showDate(end)}</span>
    </div>
    <${ErrorText} error=${error} />
    ${rows === null && !error ? html`<p class="muted" role="status">Loading…</p>` : null}
    ${rows && !rows.length ? html`<p class="muted">No machine is in the reservable pool yet.</p>` : null}
    ${rows && rows.length ? html`<div class="cal-grid">
      <div class="cal-row cal-axis" aria-hidden="true">
        <div class="cal-label">UTC</div>
        <div class="cal-track">${marks.map(
          (t) => html`<span class=${`cal-tick${t.major ? " major" : ""}${t.left > 92 ? " last" : ""}`}
            style=${`left:${t.left}%`}>${t.label}</span>`,
        )}</div>
      </div>
      <ul class="cal-rows">${rows.map((row) => html`<li class="cal-row" key=${row.key}>
        <div class="cal-label" title=${row.outOfService ?? undefined}>${row.label}
          ${row.outOfService ? html`<small class="bad-text">${row.outOfService}</small>` : null}</div>
        <div class=${row.outOfService ? "cal-track broken" : "cal-track"}>
          ${marks.map((t) => html`<span class=${t.major ? "cal-line major" : "cal-line"} style=${`left:${t.left}%`}></span>`)}
          ${nowLeft >= 0 && nowLeft <= 100 ? html`<span class="cal-now" style=${`left:${nowLeft}%`} title="now"></span>` : null}
          ${row.bars.map((bar) => {
            const text = describe(bar);
            const cls = `cal-bar ${bar.mine ? "mine" : bar.leaseId ? "other" : "anonymous"} s-${bar.status.toLowerCase()}`
              + (bar.clippedStart ? " clip-start" : "") + (bar.clippedEnd ? " clip-end" : "");
            const style = `left:${bar.left}%;width:${Math.max(bar.width, 0.4)}%`;
            const pick = bar.mine && bar.leaseId && onPick ? () => onPick(/** @type {string} */ (bar.leaseId)) : undefined;
            return pick
              ? html`<button type="button" key=${bar.key} class=${cls} style=${style} title=${text} aria-label=${text}
                  onClick=${pick}>${bar.name} · ${bar.project}</button>`
              : html`<span key=${bar.key} class=${cls} style=${style} title=${text} aria-label=${text}
                  role="img" tabindex="0">${bar.name} · ${bar.project}</span>`;
          })}
        </div>
      </li>`)}</ul>
    </div>
    <p class="cal-legend muted"><span><span class="cal-key mine"></span> your project's</span>
      <span><span class="cal-key"></span> another project's</span>
      <span><span class="cal-key anonymous"></span> busy (another project's)</span>
      <span><span class="cal-key s-pending"></span> pending</span>
      <span><span class="cal-key s-terminated"></span> ended</span></p>` : null}
  </div>`;
}
