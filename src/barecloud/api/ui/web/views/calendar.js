// @ts-check
/**
 * The operators' lease calendar: every machine of the reservable pool and
 * every project's leases on it (an admin's view of barecloud's calendar
 * extension), and the list of all leases (Blazar's /leases answers an admin
 * with every project's).
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { LeaseCalendar } from "../lib/calendar.js";
import { parseDate, showDate } from "../lib/timeline.js";
import { Badge, ErrorText, Page, Table, usePoll } from "../lib/ui.js";

/**
 * @typedef {{
 *   id: string, name: string, status: string, status_reason: string | null, project_id: string,
 *   start_date: string, end_date: string, reservations: {id: string, min: number, max: number, hosts?: unknown[]}[],
 * }} Lease
 */

/** @param {{session: import("../lib/api.js").Session}} props */
export default function Calendar({ session }) {
  const projects = usePoll(
    () => api(session, "identity", "GET", "/projects").then(
      (b) => new Map(/** @type {{id: string, name: string}[]} */ (b.projects).map((p) => [p.id, p.name]))),
    [session.token],
  );
  const leases = usePoll(
    () => api(session, "reservation", "GET", "/leases").then((b) => /** @type {Lease[]} */ (b.leases)),
    [session.token],
    10_000,
  );
  const hosts = usePoll(
    () => api(session, "reservation", "GET", "/os-hosts").then((b) => /** @type {{reservable: boolean}[]} */ (b.hosts)),
    [session.token],
  );
  const [project, setProject] = useState("");
  const names = projects.data;
  const nameOf = (/** @type {string} */ id) => names?.get(id);
  const all = leases.data;
  const shown = all ? all.filter((l) => !project || l.project_id === project) : null;
  const live = all ? all.filter((l) => l.status !== "TERMINATED").length : 0;
  const refresh = (all ?? []).map((l) => `${l.id}:${l.status}:${l.end_date}`).join(",");
  const withLeases = [...new Set((all ?? []).map((l) => l.project_id))];
  return html`<${Page} title="Lease calendar" actions=${html`
      <label>Project <select value=${project}
          onChange=${(/** @type {Event} */ e) => setProject(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
        <option value="">All projects</option>
        ${withLeases.map((id) => html`<option value=${id} selected=${id === project}>${nameOf(id) ?? id}</option>`)}
      </select></label>`}>
    <${ErrorText} error=${projects.error || hosts.error} />
    <div class="cards">
      <div class="card"><div class="muted">Machines in the pool</div>
        <strong class="big">${hosts.data ? hosts.data.length : "…"}</strong>
        ${hosts.data ? html` <span class="muted">(${hosts.data.filter((h) => h.reservable).length} reservable)</span>` : null}</div>
      <div class="card"><div class="muted">Leases not ended</div><strong class="big">${all ? live : "…"}</strong></div>
    </div>
    <${LeaseCalendar} session=${session} label="Every project's lease calendar" projectName=${nameOf}
      onlyProject=${project || undefined} refresh=${refresh} />
    <h2 class="section">Leases</h2>
    <${ErrorText} error=${leases.error} />
    <${Table} label="All leases" rows=${shown} rowKey=${(/** @type {Lease} */ l) => l.id} empty="No lease."
      columns=${[
        { key: "name", label: "Name" },
        { key: "project", label: "Project", render: (/** @type {Lease} */ l) => nameOf(l.project_id) ?? l.project_id },
        { key: "status", label: "Status", render: (/** @type {Lease} */ l) => html`<${Badge} state=${l.status} />
          ${l.status_reason ? html`<div class="muted small">${l.status_reason}</div>` : null}` },
        { key: "start", label: "Start", render: (/** @type {Lease} */ l) => showDate(parseDate(l.start_date)) },
        { key: "end", label: "End", render: (/** @type {Lease} */ l) => showDate(parseDate(l.end_date)) },
        { key: "hosts", label: "Machines", className: "num", render: (/** @type {Lease} */ l) =>
          String(l.reservations.reduce((n, r) => n + (r.hosts ? r.hosts.length : 0), 0)) },
      ]} />
  </${Page}>`;
}
