// @ts-check
/**
 * The hosts VMs run on, with their usage, from barecloud's own
 * GET /compute/v2.1/barecloud-hypervisors (Nova's os-hypervisors stopped
 * reporting usage at microversion 2.88). The operator turns available nodes
 * into hypervisors (POST with `nodes`: deployed with the hypervisor image),
 * disables one, and removes a disabled one that runs no VM (DELETE: its node
 * is undeployed).
 */
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, listAll } from "../lib/api.js";
import { size, when } from "../lib/format.js";
import { Badge, Dialog, ErrorText, Field, Page, Table, notify, usePoll, useAction } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */

/**
 * A used/total bar.
 * @param {{used: number | null | undefined, total: number | null | undefined, label: string,
 *          show?: (n: number) => string}} props
 */
export function Usage({ used, total, label, show = String }) {
  const u = used ?? 0;
  const t = total ?? 0;
  const share = t > 0 ? Math.min(1, u / t) : 0;
  return html`<div class="usage" role="meter" aria-label=${label} aria-valuemin="0"
      aria-valuemax=${t} aria-valuenow=${u} aria-valuetext=${`${show(u)} of ${show(t)}`}>
    <div class=${share > 0.9 ? "bar high" : "bar"}><span style=${`width:${(share * 100).toFixed(1)}%`}></span></div>
    <small>${show(u)} / ${show(t)}</small>
  </div>`;
}

/** @param {{session: Session, onClose: () => void, onDone: () => void}} props */
function FromNodesDialog({ session, onClose, onDone }) {
  const [nodes, setNodes] = useState(/** @type {any[] | null} */ (null));
  const [loadError, setLoadError] = useState(/** @type {unknown} */ (null));
  const [chosen, setChosen] = useState(() => new Set(/** @type {string[]} */ ([])));
  useEffect(() => {
    listAll(session, "baremetal",
      "/nodes?provision_state=available&maintenance=false&limit=1000&fields=uuid,name,resource_class", "nodes")
      .then(setNodes, setLoadError);
  }, []);
  const create = useAction(async (/** @type {string} */ zone) => {
    /** @type {Record<string, unknown>} */
    const hypervisor = { nodes: [...chosen] };
    if (zone) hypervisor.availability_zone = zone;
    const body = await api(session, "compute", "POST", "/barecloud-hypervisors", { body: { hypervisor } });
    notify(`${body.hypervisors.length} hypervisor(s) being deployed.`);
    onDone();
  });
  const toggle = (/** @type {string} */ uuid) => {
    const next = new Set(chosen);
    if (!next.delete(uuid)) next.add(uuid);
    setChosen(next);
  };
  const submit = (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    create.run(String(form.get("zone") || "").trim());
  };
  return html`<${Dialog} title="Turn nodes into hypervisors" onClose=${onClose} wide>
    <form onSubmit=${submit}>
      <p class="muted">Available nodes, not in maintenance. Each is deployed with the hypervisor image and
        becomes a host VMs run on.</p>
      <${ErrorText} error=${loadError} />
      ${nodes === null && !loadError ? html`<p class="muted" role="status">Loading nodes…</p>` : null}
      ${nodes && !nodes.length ? html`<p class="muted">No available node.</p>` : null}
      ${nodes && nodes.length ? html`<fieldset class="node-pick"><legend>Nodes (${chosen.size} chosen)</legend>
        <ul class="pick-list">${nodes.map((n) => html`<li key=${n.uuid}><label>
          <input type="checkbox" checked=${chosen.has(n.uuid)} onChange=${() => toggle(n.uuid)} />
          ${n.name ?? n.uuid} <span class="muted">${n.resource_class ?? ""}</span></label></li>`)}</ul>
      </fieldset>` : null}
      <${Field} label="Availability zone" hint="Empty: the default zone"><input name="zone" /></${Field}>
      <${ErrorText} error=${create.error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${create.busy || !chosen.size}>
          ${create.busy ? "Starting…" : `Make ${chosen.size || ""} hypervisor${chosen.size === 1 ? "" : "s"}`}</button>
      </div>
    </form>
  </${Dialog}>`;
}

/** @param {{session: Session, host: any, onClose: () => void, onDone: () => void}} props */
function RemoveDialog({ session, host, onClose, onDone }) {
  const remove = useAction(async () => {
    await api(session, "compute", "DELETE", `/barecloud-hypervisors/${host.id}`);
    notify(`Hypervisor ${host.hostname} removed.`);
    onDone();
  });
  return html`<${Dialog} title=${`Remove ${host.hostname}`} onClose=${onClose}>
    <p>The host stops taking VMs for good${host.node_uuid ? "; its node is undeployed, then cleaned" : ""}.
      It must be disabled and run no VM.</p>
    <${ErrorText} error=${remove.error} />
    <div class="form-actions">
      <button type="button" onClick=${onClose}>Cancel</button>
      <button type="button" class="danger" disabled=${remove.busy} onClick=${() => remove.run()}>Remove</button>
    </div>
  </${Dialog}>`;
}

/** @param {{session: Session}} props */
export default function HypervisorsView({ session }) {
  const hosts = usePoll(
    () => api(session, "compute", "GET", "/barecloud-hypervisors").then((b) => b.hypervisors), [], 10000);
  const [dialog, setDialog] = useState(/** @type {"nodes" | {remove: any} | null} */ (null));
  const toggle = useAction(async (/** @type {any} */ host) => {
    const enable = host.status !== "enabled";
    await api(session, "compute", "PUT", `/barecloud-hypervisors/${host.id}`, {
      body: { hypervisor: enable ? { status: "enabled" } : { status: "disabled", disabled_reason: "disabled from the UI" } },
    });
    notify(`${host.hostname} ${enable ? "enabled" : "disabled"}.`);
    hosts.reload();
  });
  const done = () => {
    setDialog(null);
    hosts.reload();
  };
  return html`<${Page} title="Hypervisors" actions=${html`
      <button type="button" class="primary" onClick=${() => setDialog("nodes")}>Turn nodes into hypervisors</button>`}>
    <${ErrorText} error=${hosts.error} />
    <${ErrorText} error=${toggle.error} />
    <${Table} label="Hypervisors" rows=${hosts.data} rowKey=${(/** @type {any} */ h) => h.id}
      empty="No hypervisor yet. Turn available nodes into hypervisors to run VMs."
      columns=${[
        { key: "hostname", label: "Host", render: (/** @type {any} */ h) => html`${h.hostname}
          ${h.node_uuid ? html`<br /><a href=${`#/nodes/${h.node_uuid}`} class="muted">its node</a>` : null}` },
        { key: "state", label: "State", render: (/** @type {any} */ h) => html`<${Badge} state=${h.state} />
          ${h.fault ? html`<br /><span class="error-text">${h.fault}</span>` : null}` },
        { key: "status", label: "Status", render: (/** @type {any} */ h) => html`<${Badge} state=${h.status} />
          ${h.disabled_reason ? html`<br /><small class="muted">${h.disabled_reason}</small>` : null}` },
        { key: "vcpus", label: "vCPUs", render: (/** @type {any} */ h) => html`<${Usage} label="vCPUs used"
          used=${h.vcpus_used} total=${h.vcpus} />` },
        { key: "memory", label: "RAM", render: (/** @type {any} */ h) => html`<${Usage} label="RAM used"
          used=${h.memory_mb_used} total=${h.memory_mb} show=${(/** @type {number} */ n) => size(n * 1048576)} />` },
        { key: "disk", label: "Disk", render: (/** @type {any} */ h) => html`<${Usage} label="Disk used"
          used=${h.local_gb_used} total=${h.local_gb} show=${(/** @type {number} */ n) => size(n * 1073741824)} />` },
        { key: "running_vms", label: "VMs", className: "num" },
        { key: "availability_zone", label: "Zone", render: (/** @type {any} */ h) => h.availability_zone ?? "—" },
        { key: "reported_at", label: "Reported", render: (/** @type {any} */ h) => when(h.reported_at) || "never" },
        { key: "actions", label: "Actions", render: (/** @type {any} */ h) => html`<div class="actions">
          <button type="button" disabled=${toggle.busy} onClick=${() => toggle.run(h)}
            aria-label=${`${h.status === "enabled" ? "Disable" : "Enable"} ${h.hostname}`}>
            ${h.status === "enabled" ? "Disable" : "Enable"}</button>
          <button type="button" class="danger" onClick=${() => setDialog({ remove: h })}
            aria-label=${`Remove ${h.hostname}`}>Remove</button></div>` },
      ]} />
    ${dialog === "nodes" ? html`<${FromNodesDialog} session=${session} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog && typeof dialog === "object" ? html`<${RemoveDialog} session=${session} host=${dialog.remove}
      onClose=${() => setDialog(null)} onDone=${done} />` : null}
  </${Page}>`;
}
