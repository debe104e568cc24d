// @ts-check
/**
 * One network: its facts, its subnets (add, delete) and its ports (create,
 * delete). Also the pieces networks.js shares: the subnet's form fields and
 * its creation, and a dialog holding one form.
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, isAdmin, listAll } from "../lib/api.js";
import { when } from "../lib/format.js";
import { navigate } from "../lib/router.js";
import { Badge, Confirm, Dialog, ErrorText, Page, Table, notify, useAction, usePoll } from "../lib/ui.js";

/**
 * @typedef {import("../lib/api.js").Session} Session
 * @typedef {import("./networks.js").Network} Network
 * @typedef {import("./networks.js").Subnet & {allocation_pools: {start: string, end: string}[],
 *   dns_nameservers: string[]}} Subnet
 * @typedef {{
 *   id: string, name: string, status: string, mac_address: string, device_owner: string,
 *   device_id: string, fixed_ips: {subnet_id: string, ip_address: string}[], project_id: string,
 *   "binding:vnic_type"?: string,
 * }} Port
 */

/**
 * A dialog holding one form: Cancel, the submit button, and the error.
 * @param {{title: string, onClose: () => void, onSubmit: (e: SubmitEvent) => void, busy: boolean,
 *   error: unknown, submitLabel: string, children?: import("preact").ComponentChildren}} props
 */
export function DialogForm({ title, onClose, onSubmit, busy, error, submitLabel, children }) {
  return html`<${Dialog} title=${title} onClose=${onClose}>
    <form onSubmit=${onSubmit}>
      ${children}
      <${ErrorText} error=${error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Working…" : submitLabel}</button>
      </div>
    </form>
  </${Dialog}>`;
}

/**
 * A subnet's fields (named cidr, ip_version, gateway, no_gateway, dhcp; and subnet_name).
 * @param {{named?: boolean}} props
 */
export function SubnetFields({ named = true }) {
  const [noGateway, setNoGateway] = useState(false);
  return html`
    ${named ? html`<label class="field"><span class="field-label">Subnet name</span>
      <input name="subnet_name" /></label>` : null}
    <div class="field-row">
      <label class="field grow"><span class="field-label">CIDR</span>
        <input name="cidr" required placeholder="10.0.0.0/24" spellcheck=${false} /></label>
      <label class="field"><span class="field-label">IP version</span>
        <select name="ip_version"><option value="4">IPv4</option><option value="6">IPv6</option></select></label>
    </div>
    <label class="field"><span class="field-label">Gateway</span>
      <input name="gateway" disabled=${noGateway} placeholder="Empty: the first address" spellcheck=${false} /></label>
    <label class="inline"><input type="checkbox" name="no_gateway" checked=${noGateway}
      onChange=${(/** @type {Event} */ e) => setNoGateway(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
      No gateway</label>
    <label class="inline"><input type="checkbox" name="dhcp" checked /> DHCP</label>`;
}

/**
 * Create a subnet on a network from SubnetFields' values.
 * @param {Session} session
 * @param {string} networkId
 * @param {FormData} form
 * @returns {Promise<Subnet>}
 */
export async function createSubnet(session, networkId, form) {
  /** @type {Record<string, unknown>} */
  const subnet = {
    network_id: networkId,
    ip_version: Number(form.get("ip_version") ?? 4),
    cidr: String(form.get("cidr") ?? "").trim(),
    enable_dhcp: form.get("dhcp") !== null,
  };
  const name = String(form.get("subnet_name") ?? "").trim();
  if (name) subnet.name = name;
  const gateway = String(form.get("gateway") ?? "").trim();
  if (form.get("no_gateway") !== null) subnet.gateway_ip = null;
  else if (gateway) subnet.gateway_ip = gateway;
  const body = await api(session, "network", "POST", "/subnets", { body: { subnet } });
  return body.subnet;
}

/** @param {{session: Session, network: Network, onClose: () => void, onDone: () => void}} props */
function AddSubnet({ session, network, onClose, onDone }) {
  const { run, busy, error } = useAction(async (/** @type {FormData} */ form) => {
    const made = await createSubnet(session, network.id, form);
    onClose();
    notify(`Subnet ${made.cidr} added.`);
    onDone();
  });
  return html`<${DialogForm} title=${`New subnet on ${network.name || network.id}`} onClose=${onClose}
      busy=${busy} error=${error} submitLabel="Add subnet"
      onSubmit=${(/** @type {SubmitEvent} */ e) => { e.preventDefault(); run(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget))); }}>
    <${SubnetFields} />
  </${DialogForm}>`;
}

/** @param {{session: Session, network: Network, subnets: Subnet[], onClose: () => void, onDone: () => void}} props */
function CreatePort({ session, network, subnets, onClose, onDone }) {
  const { run, busy, error } = useAction(async (/** @type {FormData} */ form) => {
    /** @type {Record<string, unknown>} */
    const port = { network_id: network.id };
    const name = String(form.get("name") ?? "").trim();
    if (name) port.name = name;
    const subnet = String(form.get("subnet") ?? "");
    const address = String(form.get("address") ?? "").trim();
    /** @type {Record<string, string>} */
    const fixed = {};
    if (subnet) fixed.subnet_id = subnet;
    if (address) fixed.ip_address = address;
    if (subnet || address) port.fixed_ips = [fixed];
    const body = await api(session, "network", "POST", "/ports", { body: { port } });
    onClose();
    notify(`Port ${body.port.name || body.port.id} created.`);
    onDone();
  });
  return html`<${DialogForm} title=${`New port on ${network.name || network.id}`} onClose=${onClose}
      busy=${busy} error=${error} submitLabel="Create port"
      onSubmit=${(/** @type {SubmitEvent} */ e) => { e.preventDefault(); run(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget))); }}>
    <label class="field"><span class="field-label">Name</span><input name="name" autofocus /></label>
    <label class="field"><span class="field-label">Subnet</span>
      <select name="subnet"><option value="">Any (Neutron picks)</option>
        ${subnets.map((s) => html`<option value=${s.id}>${s.cidr}${s.name ? ` (${s.name})` : ""}</option>`)}
      </select></label>
    <label class="field"><span class="field-label">IP address</span>
      <input name="address" placeholder="Empty: the next free one" spellcheck=${false} /></label>
  </${DialogForm}>`;
}

/** @param {{session: Session, params: {id: string}}} props */
export default function NetworkView({ session, params }) {
  const id = encodeURIComponent(params.id);
  const { data, error, reload } = usePoll(async () => {
    const [network, subnets, ports] = await Promise.all([
      api(session, "network", "GET", `/networks/${id}`).then((b) => /** @type {Network} */ (b.network)),
      listAll(session, "network", `/subnets?network_id=${id}`, "subnets"),
      listAll(session, "network", `/ports?network_id=${id}`, "ports"),
    ]);
    return { network, subnets: /** @type {Subnet[]} */ (subnets), ports: /** @type {Port[]} */ (ports) };
  }, [session.token, id], 10_000);
  /** @typedef {{kind: "subnet" | "port" | "delete"} | {kind: "delete-subnet", subnet: Subnet} | {kind: "delete-port", port: Port}} Open */
  const [dialog, setDialog] = useState(/** @type {Open | null} */ (null));
  const close = () => setDialog(null);
  const network = data?.network;
  const owned = !!network && (network.project_id === session.project.id || isAdmin(session));
  const cidrOf = new Map((data?.subnets ?? []).map((s) => [s.id, s.cidr]));
  const title = network ? `Network ${network.name || network.id}` : "Network";
  /** @type {[string, unknown][]} */
  const facts = network ? [
    ["ID", html`<code>${network.id}</code>`],
    ["Status", html`<${Badge} state=${network.status} />`],
    ["Project", network.project_id === session.project.id ? session.project.name : network.project_id],
    ["Shared", network.shared ? "yes" : "no"],
    ["External", network["router:external"] ? "yes" : "no"],
    ["Admin state", network.admin_state_up ? "up" : "down"],
    ["MTU", String(network.mtu)],
    ...Object.entries(network).filter(([k, v]) => k.startsWith("provider:") && v != null)
      .map(([k, v]) => /** @type {[string, unknown]} */ ([k.replace("provider:", "Provider "), String(v)])),
    ["Created", when(/** @type {any} */ (network).created_at)],
  ] : [];
  return html`<${Page} title=${title} actions=${html`<a class="button" href="#/networks">All networks</a>
      ${owned ? html`<button type="button" class="danger" onClick=${() => setDialog({ kind: "delete" })}>Delete network</button>` : null}`}>
    <${ErrorText} error=${error} />
    ${!data && !error ? html`<p class="muted" role="status">Loading…</p>` : null}
    ${network ? html`
      <div class="card"><dl class="facts">${facts.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></div>
      <header class="section-head"><h2 class="section">Subnets</h2>
        ${owned ? html`<button type="button" onClick=${() => setDialog({ kind: "subnet" })}>Add subnet</button>` : null}</header>
      <${Table} label="Subnets" rows=${data.subnets} rowKey=${(/** @type {Subnet} */ s) => s.id}
        empty="No subnet: ports on this network get no address."
        columns=${[
          { key: "cidr", label: "CIDR", render: (/** @type {Subnet} */ s) => html`<code>${s.cidr}</code>` },
          { key: "name", label: "Name" },
          { key: "ip_version", label: "IP", render: (/** @type {Subnet} */ s) => `IPv${s.ip_version}` },
          { key: "gateway_ip", label: "Gateway", render: (/** @type {Subnet} */ s) => s.gateway_ip ?? html`<span class="muted">none</span>` },
          { key: "enable_dhcp", label: "DHCP", render: (/** @type {Subnet} */ s) => (s.enable_dhcp ? "on" : "off") },
          { key: "pools", label: "Pools", render: (/** @type {Subnet} */ s) =>
            (s.allocation_pools ?? []).map((p) => html`<div>${p.start} – ${p.end}</div>`) },
          { key: "actions", label: "", className: "row-actions", render: (/** @type {Subnet} */ s) => owned
            ? html`<button type="button" class="danger" aria-label=${`Delete subnet ${s.cidr}`}
                onClick=${() => setDialog({ kind: "delete-subnet", subnet: s })}>Delete</button>` : null },
        ]} />
      <header class="section-head"><h2 class="section">Ports</h2>
        ${owned ? html`<button type="button" onClick=${() => setDialog({ kind: "port" })}>Create port</button>` : null}</header>
      <${Table} label="Ports" rows=${data.ports} rowKey=${(/** @type {Port} */ p) => p.id} empty="No port."
        columns=${[
          { key: "name", label: "Name", render: (/** @type {Port} */ p) => p.name || html`<code class="muted">${p.id.slice(0, 8)}</code>` },
          { key: "ips", label: "Addresses", render: (/** @type {Port} */ p) => p.fixed_ips.map(
            (a) => html`<div><code>${a.ip_address}</code> <span class="muted">${cidrOf.get(a.subnet_id) ?? ""}</span></div>`) },
          { key: "mac_address", label: "MAC", render: (/** @type {Port} */ p) => html`<code>${p.mac_address}</code>` },
          { key: "status", label: "Status", render: (/** @type {Port} */ p) => html`<${Badge} state=${p.status} />` },
          { key: "device", label: "Attached to", render: (/** @type {Port} */ p) => !p.device_id
            ? html`<span class="muted">nothing</span>`
            : p.device_owner.startsWith("compute:")
              ? html`<a href=${`#/servers/${p.device_id}`}>server ${p.device_id.slice(0, 8)}</a>`
              : html`${p.device_owner || "device"} <code class="muted">${p.device_id.slice(0, 8)}</code>` },
          { key: "actions", label: "", className: "row-actions", render: (/** @type {Port} */ p) =>
            p.project_id === session.project.id || isAdmin(session)
              ? html`<button type="button" class="danger" aria-label=${`Delete port ${p.name || p.id}`}
                  onClick=${() => setDialog({ kind: "delete-port", port: p })}>Delete</button>` : null },
        ]} />` : null}
    ${network && dialog?.kind === "subnet" ? html`<${AddSubnet} session=${session} network=${network}
      onClose=${close} onDone=${reload} />` : null}
    ${network && data && dialog?.kind === "port" ? html`<${CreatePort} session=${session} network=${network}
      subnets=${data.subnets} onClose=${close} onDone=${reload} />` : null}
    ${network && dialog?.kind === "delete" ? html`<${Confirm} title=${`Delete network ${network.name || network.id}?`}
      message="Its subnets go with it. A network with ports in use cannot be deleted."
      action=${() => api(session, "network", "DELETE", `/networks/${id}`)} onClose=${close}
      onDone=${() => { notify(`Network ${network.name || network.id} deleted.`); navigate("/networks"); }} />` : null}
    ${dialog?.kind === "delete-subnet" ? html`<${Confirm} title=${`Delete subnet ${dialog.subnet.cidr}?`}
      action=${() => api(session, "network", "DELETE", `/subnets/${dialog.subnet.id}`)} onClose=${close}
      onDone=${() => { notify(`Subnet ${dialog.subnet.cidr} deleted.`); reload(); }} />` : null}
    ${dialog?.kind === "delete-port" ? html`<${Confirm} title=${`Delete port ${dialog.port.name || dialog.port.id}?`}
      action=${() => api(session, "network", "DELETE", `/ports/${dialog.port.id}`)} onClose=${close}
      onDone=${() => { notify("Port deleted."); reload(); }} />` : null}
  </${Page}>`;
}
