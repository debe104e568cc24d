// @ts-check
/**
 * The project's leases (Blazar's /leases): machines reserved now or later.
 * Create one (how many machines, which properties, when), move its end,
 * delete it; the project's calendar below shows where they fall. Dates are
 * UTC, as Blazar reads and writes them.
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { LeaseCalendar } from "../lib/calendar.js";
import { DAY, HOUR, blazarDate, fromInputDate, inputDate, parseDate, showDate } from "../lib/timeline.js";
import { Badge, Confirm, Dialog, ErrorText, Field, Page, Table, notify, useAction, usePoll } from "../lib/ui.js";

/**
 * @typedef {{
 *   id: string, min: number, max: number, status: string,
 *   resource_properties: string, hypervisor_properties: string, hosts?: unknown[],
 * }} Reservation
 * @typedef {{
 *   id: string, name: string, status: string, status_reason: string | null,
 *   start_date: string, end_date: string, project_id: string, degraded: boolean,
 *   reservations: Reservation[],
 * }} Lease
 * @typedef {import("../lib/api.js").Session} Session
 */

/** The states in which a lease's end can still move. */
const CHANGING = new Set(["PENDING", "STARTING", "ACTIVE"]);

/** @param {Reservation} r */
function reservationText(r) {
  const count = r.min === r.max ? `${r.min}` : `${r.min}–${r.max}`;
  const held = r.hosts ? `, holds ${r.hosts.length}` : "";
  const props = r.resource_properties ? ` where ${r.resource_properties}` : "";
  return `${count} machine${r.max === 1 ? "" : "s"}${held}${props}`;
}

/** @param {{session: Session, onClose: () => void, onDone: (lease: Lease) => void}} props */
function CreateLease({ session, onClose, onDone }) {
  const now = Date.now();
  const [startNow, setStartNow] = useState(true);
  const { run, busy, error } = useAction(async (/** @type {FormData} */ form) => {
    const name = String(form.get("name") ?? "").trim();
    const startText = String(form.get("start") ?? "");
    const endText = String(form.get("end") ?? "");
    const start = fromInputDate(startText);
    const end = fromInputDate(endText);
    if (!startNow && Number.isNaN(start)) throw new Error("Give the start date, or start now.");
    if (Number.isNaN(end)) throw new Error("Give the end date.");
    const props = String(form.get("properties") ?? "").trim();
    /** @type {Record<string, unknown>} */
    const reservation = {
      resource_type: "physical:host",
      min: Number(form.get("min")),
      max: Number(form.get("max")),
      hypervisor_properties: "",
      resource_properties: props,
    };
    const body = await api(session, "reservation", "POST", "/leases", {
      body: {
        name,
        start_date: startNow ? "now" : blazarDate(start),
        end_date: blazarDate(end),
        reservations: [reservation],
      },
    });
    onDone(body.lease);
  });
  const submit = (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    run(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget)));
  };
  return html`<${Dialog} title="New lease" onClose=${onClose}>
    <form onSubmit=${submit}>
      <${Field} label="Name"><input name="name" required autofocus /></${Field}>
      <fieldset class="plain">
        <legend class="field-label">Start</legend>
        <label class="inline"><input type="radio" name="when" checked=${startNow}
          onChange=${() => setStartNow(true)} /> Now</label>
        <label class="inline"><input type="radio" name="when" checked=${!startNow}
          onChange=${() => setStartNow(false)} /> At (UTC)</label>
        <input name="start" type="datetime-local" aria-label="Start date (UTC)" disabled=${startNow}
          value=${inputDate(Math.ceil((now + HOUR) / HOUR) * HOUR)} />
      </fieldset>
      <${Field} label="End (UTC)"><input name="end" type="datetime-local" required
        value=${inputDate(Math.ceil((now + DAY) / HOUR) * HOUR)} /></${Field}>
      <div class="field-row">
        <${Field} label="Machines, at least"><input name="min" type="number" min="1" value="1" required /></${Field}>
        <${Field} label="At most"><input name="max" type="number" min="1" value="1" required /></${Field}>
      </div>
      <${Field} label="Resource properties" hint='Optional, a filter as Blazar reads it: ["=", "$gpu", "true"]'>
        <input name="properties" spellcheck=${false} /></${Field}>
      <${ErrorText} error=${error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Reserving…" : "Create lease"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

/** @param {{session: Session, lease: Lease, onClose: () => void, onDone: () => void}} props */
function ChangeEnd({ session, lease, onClose, onDone }) {
  const { run, busy, error } = useAction(async (/** @type {FormData} */ form) => {
    const end = fromInputDate(String(form.get("end") ?? ""));
    if (Number.isNaN(end)) throw new Error("Give the end date.");
    await api(session, "reservation", "PUT", `/leases/${encodeURIComponent(lease.id)}`, {
      body: { end_date: blazarDate(end) },
    });
    onClose();
    onDone();
  });
  const submit = (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    run(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget)));
  };
  const current = parseDate(lease.end_date);
  return html`<${Dialog} title=${`End of ${lease.name}`} onClose=${onClose}>
    <form onSubmit=${submit}>
      <p class="muted">Now ends ${showDate(current)}.</p>
      <${Field} label="New end (UTC)"><input name="end" type="datetime-local" required autofocus
        value=${inputDate(Number.isFinite(current) ? current + DAY : Date.now() + DAY)} /></${Field}>
      <${ErrorText} error=${error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Saving…" : "Change end"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

/** @param {{session: Session}} props */
export default function Leases({ session }) {
  const { data, error, reload } = usePoll(
    () => api(session, "reservation", "GET", "/leases").then((b) => /** @type {Lease[]} */ (b.leases)),
    [session.token],
    5000,
  );
  const [dialog, setDialog] = useState(/** @type {null | {kind: "create"} | {kind: "end" | "delete", lease: Lease}} */ (null));
  const leases = data ? data.filter((l) => l.project_id === session.project.id) : null;
  // The calendar loads again when a lease comes, goes or moves.
  const refresh = (leases ?? []).map((l) => `${l.id}:${l.status}:${l.start_date}:${l.end_date}`).join(",");
  const close = () => setDialog(null);
  const pick = (/** @type {string} */ id) => {
    const cell = document.getElementById(`lease-${id}`);
    cell?.scrollIntoView({ block: "center" });
    cell?.focus();
  };
  return html`<${Page} title="Leases" actions=${html`
      <button type="button" class="primary" onClick=${() => setDialog({ kind: "create" })}>New lease</button>`}>
    <${ErrorText} error=${error} />
    <${Table} label="Leases" rows=${leases} rowKey=${(/** @type {Lease} */ l) => l.id}
      empty="No lease yet: a lease reserves machines of the reservable pool, now or later."
      columns=${[
        { key: "name", label: "Name", render: (/** @type {Lease} */ l) =>
          html`<strong id=${`lease-${l.id}`} tabindex="-1">${l.name}</strong>` },
        { key: "status", label: "Status", render: (/** @type {Lease} */ l) => html`<${Badge} state=${l.status} />
          ${l.degraded ? html` <span class="badge bad">degraded</span>` : null}
          ${l.status_reason ? html`<div class="muted small">${l.status_reason}</div>` : null}` },
        { key: "start", label: "Start", render: (/** @type {Lease} */ l) => showDate(parseDate(l.start_date)) },
        { key: "end", label: "End", render: (/** @type {Lease} */ l) => showDate(parseDate(l.end_date)) },
        { key: "reservations", label: "Reservations", render: (/** @type {Lease} */ l) =>
          l.reservations.map((r) => html`<div key=${r.id}>${reservationText(r)}</div>`) },
        { key: "actions", label: "", className: "row-actions", render: (/** @type {Lease} */ l) => html`
          ${CHANGING.has(l.status) ? html`<button type="button" onClick=${() => setDialog({ kind: "end", lease: l })}
            aria-label=${`Change the end of ${l.name}`}>Change end</button>` : null}
          ${l.status !== "DELETING" ? html`<button type="button" class="danger"
            onClick=${() => setDialog({ kind: "delete", lease: l })} aria-label=${`Delete ${l.name}`}>Delete</button>` : null}` },
      ]} />
    <h2 class="section">Calendar</h2>
    <p class="muted">Your leases by name; other projects' as busy.</p>
    <${LeaseCalendar} session=${session} label="Your project's lease calendar" refresh=${refresh}
      projectName=${(/** @type {string} */ id) => (id === session.project.id ? session.project.name : undefined)}
      onPick=${pick} />
    ${dialog?.kind === "create" ? html`<${CreateLease} session=${session} onClose=${close}
      onDone=${(/** @type {Lease} */ lease) => { close(); notify(`Lease ${lease.name} created.`); reload(); }} />` : null}
    ${dialog?.kind === "end" ? html`<${ChangeEnd} session=${session} lease=${dialog.lease} onClose=${close}
      onDone=${() => { notify(`Lease ${dialog.lease.name} has a new end.`); reload(); }} />` : null}
    ${dialog?.kind === "delete" ? html`<${Confirm} title=${`Delete lease ${dialog.lease.name}?`}
      message="Its servers are deleted and its machines cleaned."
      action=${() => api(session, "reservation", "DELETE", `/leases/${encodeURIComponent(dialog.lease.id)}`)}
      onClose=${close} onDone=${() => { notify(`Lease ${dialog.lease.name} deleted.`); reload(); }} />` : null}
  </${Page}>`;
}
