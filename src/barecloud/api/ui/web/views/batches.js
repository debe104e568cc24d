// @ts-check
/**
 * Deploy batches (GET /baremetal/v1/barecloud-deploy-batches): one image to
 * many nodes, and each member's progress while it runs (waiting → ready →
 * writing → ok | ko), polled every few seconds. The operator can start one.
 */
import { html } from "htm/preact";
import { api } from "../lib/api.js";
import { duration, size, when } from "../lib/format.js";
import { Badge, Dialog, ErrorText, Field, Page, Table, notify, usePoll, useAction } from "../lib/ui.js";
import { useState } from "preact/hooks";

/** @typedef {import("../lib/api.js").Session} Session */

const STEPS = ["waiting", "ready", "writing", "ok"];

/**
 * How far a member is, 0..1: its bytes against the image's size when a member
 * finished (the batch's one image), else by its step.
 * @param {any} member
 * @param {number} total  the image's bytes, 0 if not known yet
 */
export function progressOf(member, total) {
  if (member.state === "ok" || member.state === "ko") return 1;
  if (member.state === "writing" && total > 0 && member.bytes) return Math.min(0.99, member.bytes / total);
  const step = STEPS.indexOf(member.state);
  return step < 0 ? 0 : step / STEPS.length;
}

/** @param {{batch: any}} props */
function Batch({ batch }) {
  const running = batch.state !== "done";
  const total = Math.max(0, ...batch.members.filter((/** @type {any} */ m) => m.state === "ok")
    .map((/** @type {any} */ m) => m.bytes ?? 0));
  const members = html`<${Table} label=${`Members of ${batch.uuid}`} rows=${batch.members}
    rowKey=${(/** @type {any} */ m) => m.node_uuid}
    columns=${[
      { key: "position", label: "#", className: "num", render: (/** @type {any} */ m) => m.position ?? "—" },
      { key: "node", label: "Node", render: (/** @type {any} */ m) => html`<a href=${`#/nodes/${m.node_uuid}`}>${m.node_name ?? m.node_uuid}</a>` },
      { key: "state", label: "Write", render: (/** @type {any} */ m) => html`<${Badge} state=${m.state} />${m.retried ? " (retried)" : ""}` },
      { key: "progress", label: "Progress", render: (/** @type {any} */ m) => {
        const p = progressOf(m, total);
        return html`<progress max="100" value=${Math.round(p * 100)} aria-label=${`${m.node_name ?? m.node_uuid} progress`}>${Math.round(p * 100)}%</progress>`;
      } },
      { key: "bytes", label: "Written", className: "num", render: (/** @type {any} */ m) => (m.bytes != null ? size(m.bytes) : "—") },
      { key: "seconds", label: "Time", className: "num", render: (/** @type {any} */ m) => (m.seconds != null ? duration(m.seconds) : "—") },
      { key: "provision_state", label: "Provision state", render: (/** @type {any} */ m) => html`<${Badge} state=${m.provision_state} />` },
      { key: "error", label: "Error", render: (/** @type {any} */ m) => (m.error ? html`<span class="error-text">${m.error}</span>` : "") },
    ]} />`;
  return html`<section class="card batch" aria-label=${`Batch ${batch.uuid}`}>
    <h2>${batch.uuid} <${Badge} state=${batch.state} /></h2>
    <div class="summary">
      <span>${batch.delivery}</span>
      <span>${batch.ok} ok, ${batch.ko} failed of ${batch.expected}</span>
      <span>created ${when(batch.created_at)}</span>
      ${batch.started_at ? html`<span>started ${when(batch.started_at)}</span>` : null}
      ${batch.finished_at ? html`<span>finished ${when(batch.finished_at)}</span>` : null}
      ${batch.image_phase_seconds != null ? html`<span>image phase ${duration(batch.image_phase_seconds)}</span>` : null}
    </div>
    ${running ? members : html`<details><summary>${batch.members.length} members</summary>${members}</details>`}
  </section>`;
}

/** @param {{session: Session, onClose: () => void, onDone: () => void}} props */
function NewBatchDialog({ session, onClose, onDone }) {
  const start = useAction(async (/** @type {FormData} */ form) => {
    const nodes = String(form.get("nodes") || "").split(/[\s,]+/).filter(Boolean);
    /** @type {Record<string, unknown>} */
    const body = { nodes };
    const image = String(form.get("image_source") || "").trim();
    if (image) body.image_source = image;
    const delivery = String(form.get("delivery") || "");
    if (delivery) body.delivery = delivery;
    const batch = await api(session, "baremetal", "POST", "/barecloud-deploy-batches", { body });
    notify(`Batch ${batch.uuid} started.`);
    onDone();
  });
  return html`<${Dialog} title="Deploy a batch" onClose=${onClose}>
    <form onSubmit=${(/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      start.run(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget)));
    }}>
      <${Field} label="Nodes" hint="Names or UUIDs, separated by spaces or commas; available nodes">
        <textarea name="nodes" required></textarea></${Field}>
      <${Field} label="Image" hint="An image's UUID or URL (image_source)"><input name="image_source" /></${Field}>
      <${Field} label="Delivery"><select name="delivery">
        <option value="">service's default</option><option value="chain">chain</option><option value="http">http</option>
      </select></${Field}>
      <${ErrorText} error=${start.error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${start.busy}>Deploy</button>
      </div>
    </form>
  </${Dialog}>`;
}

/** @param {{session: Session}} props */
export default function BatchesView({ session }) {
  const batches = usePoll(
    () => api(session, "baremetal", "GET", "/barecloud-deploy-batches").then((b) => b.deploy_batches), [], 3000);
  const [open, setOpen] = useState(false);
  const list = batches.data ?? [];
  const sorted = [...list].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  return html`<${Page} title="Deploy batches" actions=${html`
      <button type="button" class="primary" onClick=${() => setOpen(true)}>Deploy a batch</button>`}>
    <${ErrorText} error=${batches.error} />
    ${batches.data === null && !batches.error ? html`<p class="muted" role="status">Loading…</p>` : null}
    ${batches.data && !list.length ? html`<p class="muted">No deploy batch yet.</p>` : null}
    ${sorted.map((b) => html`<${Batch} key=${b.uuid} batch=${b} />`)}
    ${open ? html`<${NewBatchDialog} session=${session} onClose=${() => setOpen(false)}
      onDone=${() => { setOpen(false); batches.reload(); }} />` : null}
  </${Page}>`;
}
