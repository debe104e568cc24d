// @ts-check
/**
 * One bare metal node: its facts, the operator's actions on it (power,
 * maintenance, the provision verbs its state allows), its ports, and its
 * history as a timeline (GET /baremetal/v1/nodes/{id}/history?detail=True).
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { duration, when } from "../lib/format.js";
import { Badge, ErrorText, Page, Table, notify, usePoll, useAction } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */

/**
 * The provision verbs (PUT .../states/provision `target`) a node in a state
 * may be given, as barecloud's state machine allows (barecloud/states.py).
 * @type {Record<string, string[]>}
 */
export const VERBS = {
  enroll: ["manage"],
  manageable: ["provide", "inspect", "clean", "adopt"],
  available: ["manage", "deploy"],
  active: ["rebuild", "undeploy", "rescue"],
  "deploy failed": ["deploy", "rebuild", "undeploy"],
  error: ["rebuild", "undeploy"],
  "clean failed": ["manage"],
  "inspect failed": ["manage", "inspect"],
  "adopt failed": ["manage", "adopt"],
  "clean wait": ["abort"],
  "inspect wait": ["abort"],
  "wait call-back": ["abort", "undeploy"],
  rescue: ["unrescue", "undeploy"],
  "rescue wait": ["abort", "undeploy"],
  "rescue failed": ["rescue", "unrescue", "undeploy"],
  "unrescue failed": ["rescue", "unrescue", "undeploy"],
};

/** Verbs that take more than the target: clean needs its steps. */
const CLEAN_STEPS = [{ interface: "deploy", step: "erase_devices_metadata" }];

/**
 * @typedef {{uuid: string, created_at: string, severity: string, event: string,
 *   event_type?: string, conductor?: string | null, user?: string | null,
 *   from_state?: string | null, to_state?: string | null, duration?: number | null}} HistoryEvent
 */

/** @param {{events: HistoryEvent[]}} props */
export function Timeline({ events }) {
  if (!events.length) return html`<p class="muted">No events yet.</p>`;
  const sorted = [...events].sort((a, b) => a.created_at.localeCompare(b.created_at));
  return html`<ol class="timeline" aria-label="History">
    ${sorted.map((e) => html`<li key=${e.uuid} class=${`sev-${(e.severity || "info").toLowerCase()}`}>
      <div><time class="when" datetime=${e.created_at}>${when(e.created_at)}</time>
        <${Badge} state=${e.severity} /> <span class="event">${e.event}</span></div>
      <div class="meta">
        ${e.event_type ? html`<span>${e.event_type}</span>` : null}
        ${e.from_state || e.to_state ? html` · <span>${e.from_state ?? "—"} → ${e.to_state ?? "—"}</span>` : null}
        ${e.duration != null ? html` · <span>took ${duration(e.duration)}</span>` : null}
        ${e.user ? html` · <span>by ${e.user}</span>` : null}
        ${e.conductor ? html` · <span>on ${e.conductor}</span>` : null}
      </div>
    </li>`)}
  </ol>`;
}

/** @param {{node: any}} props */
function Facts({ node }) {
  const props = node.properties ?? {};
  /** @type {[string, any][]} */
  const rows = [
    ["UUID", node.uuid],
    ["Name", node.name],
    ["Provision state", html`<${Badge} state=${node.provision_state} />${node.target_provision_state
      ? html` → ${node.target_provision_state}` : ""}`],
    ["Power", html`<${Badge} state=${node.power_state} />${node.target_power_state
      ? html` → ${node.target_power_state}` : ""}`],
    ["Maintenance", node.maintenance ? html`<span class="badge warn">on</span> ${node.maintenance_reason ?? ""}` : "off"],
    ["Last error", node.last_error ? html`<span class="error-text">${node.last_error}</span>` : "—"],
    ["Driver", node.driver],
    ["Resource class", node.resource_class ?? "—"],
    ["Conductor", node.conductor ?? "—"],
    ["Instance", node.instance_uuid ?? "—"],
    ["Owner / lessee", `${node.owner ?? "—"} / ${node.lessee ?? "—"}`],
    ["Hardware", [props.cpus && `${props.cpus} CPUs`, props.memory_mb && `${props.memory_mb} MiB RAM`,
      props.local_gb && `${props.local_gb} GB disk`, props.cpu_arch].filter(Boolean).join(", ") || "—"],
    ["Created", when(node.created_at)],
    ["Updated", when(node.updated_at) || "—"],
  ];
  return html`<dl class="facts">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

/** @param {{session: Session, params: {id: string}}} props */
export default function NodeView({ session, params }) {
  const id = encodeURIComponent(params.id);
  const node = usePoll(() => api(session, "baremetal", "GET", `/nodes/${id}`), [params.id], 5000);
  const history = usePoll(
    () => api(session, "baremetal", "GET", `/nodes/${id}/history?detail=True`).then((b) => b.history),
    [params.id], 5000);
  const ports = usePoll(
    () => api(session, "baremetal", "GET", `/nodes/${id}/ports/detail`).then((b) => b.ports),
    [params.id]);
  const [reason, setReason] = useState("");
  const act = useAction(async (/** @type {string} */ what, /** @type {() => Promise<unknown>} */ call) => {
    await call();
    notify(`${what}: asked.`);
    node.reload();
    history.reload();
  });
  const n = node.data;
  const title = n ? `Node ${n.name ?? n.uuid}` : "Node";
  /** @param {string} target */
  const power = (target) => act.run(`Power ${target}`, () =>
    api(session, "baremetal", "PUT", `/nodes/${id}/states/power`, { body: { target } }));
  /** @param {string} target */
  const provision = (target) => act.run(target, () =>
    api(session, "baremetal", "PUT", `/nodes/${id}/states/provision`,
      { body: target === "clean" ? { target, clean_steps: CLEAN_STEPS } : { target } }));
  const verbs = n ? VERBS[n.provision_state] ?? [] : [];
  return html`<${Page} title=${title} actions=${html`<a class="button" href="#/fleet">Back to the fleet</a>`}>
    <${ErrorText} error=${node.error} />
    ${!n ? (node.error ? null : html`<p class="muted" role="status">Loading…</p>`) : html`
    <div class="node-grid">
      <section class="card" aria-labelledby="node-facts"><h2 id="node-facts">Facts</h2><${Facts} node=${n} /></section>
      <section class="card" aria-labelledby="node-actions"><h2 id="node-actions">Actions</h2>
        <div class="action-row" role="group" aria-label="Power">
          <span class="label">Power</span>
          <button type="button" disabled=${act.busy} onClick=${() => power("power on")}>Power on</button>
          <button type="button" disabled=${act.busy} onClick=${() => power("power off")}>Power off</button>
          <button type="button" disabled=${act.busy} onClick=${() => power("rebooting")}>Reboot</button>
        </div>
        <div class="action-row" role="group" aria-label="Maintenance">
          <span class="label">Maintenance</span>
          ${n.maintenance
            ? html`<button type="button" disabled=${act.busy} onClick=${() => act.run("Maintenance off",
                () => api(session, "baremetal", "DELETE", `/nodes/${id}/maintenance`))}>Maintenance off</button>`
            : html`<input aria-label="Maintenance reason" placeholder="Reason" value=${reason}
                onInput=${(/** @type {Event} */ e) => setReason(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
              <button type="button" disabled=${act.busy} onClick=${() => act.run("Maintenance on",
                () => api(session, "baremetal", "PUT", `/nodes/${id}/maintenance`,
                  { body: reason ? { reason } : {} }))}>Maintenance on</button>`}
        </div>
        <div class="action-row" role="group" aria-label="Provision">
          <span class="label">Provision</span>
          ${verbs.length ? verbs.map((v) => html`<button type="button" key=${v} disabled=${act.busy}
            onClick=${() => provision(v)}>${v[0].toUpperCase() + v.slice(1)}</button>`)
            : html`<span class="muted">None while ${n.provision_state}.</span>`}
        </div>
        <${ErrorText} error=${act.error} />
      </section>
    </div>
    <section class="card" aria-labelledby="node-ports" style="margin-bottom:1rem">
      <h2 id="node-ports" class="section-title">Ports</h2>
      <${ErrorText} error=${ports.error} />
      <${Table} label="Ports" rows=${ports.data} rowKey=${(/** @type {any} */ p) => p.uuid} empty="No ports."
        columns=${[
          { key: "address", label: "MAC" },
          { key: "pxe_enabled", label: "PXE", render: (/** @type {any} */ p) => (p.pxe_enabled ? "yes" : "no") },
          { key: "physical_network", label: "Physical network", render: (/** @type {any} */ p) => p.physical_network ?? "—" },
          { key: "switch", label: "Switch port", render: (/** @type {any} */ p) => {
            const llc = p.local_link_connection ?? {};
            return llc.port_id ? `${llc.switch_info ?? llc.switch_id ?? ""} ${llc.port_id}` : "—";
          } },
          { key: "vif", label: "Bound VIF", render: (/** @type {any} */ p) => p.internal_info?.tenant_vif_port_id ?? "—" },
          { key: "uuid", label: "UUID" },
        ]} />
    </section>
    <section class="card" aria-labelledby="node-history">
      <h2 id="node-history" class="section-title">History</h2>
      <${ErrorText} error=${history.error} />
      ${history.data ? html`<${Timeline} events=${history.data} />` : html`<p class="muted">Loading…</p>`}
    </section>`}
  </${Page}>`;
}
