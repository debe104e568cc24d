// @ts-check
/**
 * The networks this project sees (its own, and those shared with it or
 * external), with their subnets; create one (and a first subnet), delete
 * one. Neutron here has networks, subnets and ports: no routers nor
 * floating IPs, so this page has no section for them.
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, isAdmin, listAll } from "../lib/api.js";
import { Badge, Confirm, ErrorText, Page, Table, notify, usePoll } from "../lib/ui.js";
import { DialogForm, SubnetFields, createSubnet } from "./network.js";

/**
 * @typedef {{
 *   id: string, name: string, status: string, project_id: string, shared: boolean,
 *   "router:external": boolean, subnets: string[], admin_state_up: boolean, mtu: number,
 * }} Network
 * @typedef {{id: string, name: string, network_id: string, cidr: string, ip_version: number,
 *   gateway_ip: string | null, enable_dhcp: boolean}} Subnet
 * @typedef {import("../lib/api.js").Session} Session
 */

/**
 * @param {{session: Session, onClose: () => void, onDone: (n: Network) => void}} props
 */
function CreateNetwork({ session, onClose, onDone }) {
  const [withSubnet, setWithSubnet] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const submit = async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    setBusy(true);
    setError(null);
    /** @type {Network | null} */
    let made = null;
    try {
      const body = await api(session, "network", "POST", "/networks", {
        body: { network: { name: String(form.get("name") ?? "").trim(), admin_state_up: true } },
      });
      made = /** @type {Network} */ (body.network);
      if (withSubnet) await createSubnet(session, made.id, form);
      onDone(made);
    } catch (err) {
      setError(err);
      // The network without its subnet is not what was asked for: take it back.
      if (made) {
        await api(session, "network", "DELETE", `/networks/${made.id}`).catch(() => undefined);
      }
    } finally {
      setBusy(false);
    }
  };
  return html`<${DialogForm} title="New network" onClose=${onClose} onSubmit=${submit} busy=${busy}
      error=${error} submitLabel="Create network">
    <label class="field"><span class="field-label">Name</span><input name="name" required autofocus /></label>
    <label class="inline"><input type="checkbox" checked=${withSubnet}
      onChange=${(/** @type {Event} */ e) => setWithSubnet(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
      With a subnet</label>
    ${withSubnet ? html`<fieldset class="plain"><legend class="field-label">Subnet</legend>
      <${SubnetFields} named=${false} /></fieldset>` : null}
  </${DialogForm}>`;
}

/** @param {{session: Session}} props */
export default function Networks({ session }) {
  const { data, error, reload } = usePoll(async () => {
    const [networks, subnets] = await Promise.all([
      listAll(session, "network", "/networks", "networks"),
      listAll(session, "network", "/subnets", "subnets"),
    ]);
    return { networks: /** @type {Network[]} */ (networks), subnets: /** @type {Subnet[]} */ (subnets) };
  }, [session.token], 15_000);
  const [dialog, setDialog] = useState(/** @type {null | {kind: "create"} | {kind: "delete", network: Network}} */ (null));
  const close = () => setDialog(null);
  const byNetwork = new Map(/** @type {[string, Subnet[]][]} */ ([]));
  for (const s of data?.subnets ?? []) byNetwork.set(s.network_id, [...(byNetwork.get(s.network_id) ?? []), s]);
  const mine = (/** @type {Network} */ n) => n.project_id === session.project.id || isAdmin(session);
  const networks = data ? [...data.networks].sort((a, b) =>
    Number(b.project_id === session.project.id) - Number(a.project_id === session.project.id)
    || a.name.localeCompare(b.name)) : null;
  return html`<${Page} title="Networks" actions=${html`
      <button type="button" class="primary" onClick=${() => setDialog({ kind: "create" })}>New network</button>`}>
    <${ErrorText} error=${error} />
    <${Table} label="Networks" rows=${networks} rowKey=${(/** @type {Network} */ n) => n.id}
      empty="No network yet. A network with a subnet gives your servers addresses."
      columns=${[
        { key: "name", label: "Name", render: (/** @type {Network} */ n) =>
          html`<a href=${`#/networks/${n.id}`}>${n.name || n.id}</a>` },
        { key: "subnets", label: "Subnets", render: (/** @type {Network} */ n) => {
          const subs = byNetwork.get(n.id) ?? [];
          return subs.length
            ? subs.map((s) => html`<div key=${s.id}><code>${s.cidr}</code>${s.name ? html` <span class="muted">${s.name}</span>` : null}</div>`)
            : html`<span class="muted">none</span>`;
        } },
        { key: "status", label: "Status", render: (/** @type {Network} */ n) => html`<${Badge} state=${n.status} />` },
        { key: "kind", label: "Sharing", render: (/** @type {Network} */ n) => html`${[
          n.project_id === session.project.id ? "this project" : null,
          n.shared ? "shared" : null,
          n["router:external"] ? "external" : null,
        ].filter(Boolean).join(", ") || "another project"}` },
        { key: "actions", label: "", className: "row-actions", render: (/** @type {Network} */ n) => mine(n)
          ? html`<button type="button" class="danger" aria-label=${`Delete ${n.name || n.id}`}
              onClick=${() => setDialog({ kind: "delete", network: n })}>Delete</button>`
          : null },
      ]} />
    ${dialog?.kind === "create" ? html`<${CreateNetwork} session=${session} onClose=${close}
      onDone=${(/** @type {Network} */ n) => { close(); notify(`Network ${n.name} created.`); reload(); }} />` : null}
    ${dialog?.kind === "delete" ? html`<${Confirm} title=${`Delete network ${dialog.network.name}?`}
      message="Its subnets go with it. A network with ports in use cannot be deleted."
      action=${() => api(session, "network", "DELETE", `/networks/${dialog.network.id}`)}
      onClose=${close} onDone=${() => { notify(`Network ${dialog.network.name} deleted.`); reload(); }} />` : null}
  </${Page}>`;
}
