// @ts-check
/**
 * Switches and their ports, as the APIs give them: barecloud has no switch
 * resource of its own, so a switch is what the Bare Metal ports' cabling
 * names (`local_link_connection`: switch_info or switch_id, and port_id),
 * with each port's node, MAC and bound VIF, and what the top-talkers report
 * measured on it over the last 5 minutes. Read-only.
 */
import { html } from "htm/preact";
import { api, listAll } from "../lib/api.js";
import { size } from "../lib/format.js";
import { ErrorText, Page, Table, usePoll } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */

/**
 * @typedef {{switch: string, port: string, mac: string, node_uuid: string, node_name: string | null,
 *            vif: string | null, physical_network: string | null, sent: number | null, received: number | null}} SwitchPort
 */

/**
 * Ports grouped by switch, switches and ports in name order (port numbers as numbers).
 * @param {any[]} ports  Bare Metal ports (detail)
 * @param {Map<string, string>} names  node uuid → name
 * @param {any[]} talkers  top talkers rows
 * @returns {Map<string, SwitchPort[]>}
 */
export function bySwitch(ports, names, talkers) {
  /** @type {Map<string, any>} */
  const traffic = new Map(talkers.map((t) => [`${t.switch}\u0000${t.port}`, t]));
  /** @type {Map<string, SwitchPort[]>} */
  const out = new Map();
  for (const p of ports) {
    const llc = p.local_link_connection ?? {};
    if (!llc.port_id) continue;
    const name = String(llc.switch_info ?? llc.switch_id ?? "unnamed switch");
    const t = traffic.get(`${name}\u0000${llc.port_id}`);
    const list = out.get(name) ?? [];
    list.push({
      switch: name, port: String(llc.port_id), mac: p.address, node_uuid: p.node_uuid,
      node_name: names.get(p.node_uuid) ?? null, vif: p.internal_info?.tenant_vif_port_id ?? null,
      physical_network: p.physical_network ?? null,
      sent: t ? t.rx_bytes : null, received: t ? t.tx_bytes : null,
    });
    out.set(name, list);
  }
  const collator = new Intl.Collator("en", { numeric: true });
  for (const list of out.values()) list.sort((a, b) => collator.compare(a.port, b.port));
  return new Map([...out].sort(([a], [b]) => collator.compare(a, b)));
}

/** @param {{session: Session}} props */
export default function SwitchesView({ session }) {
  const data = usePoll(async () => {
    const [ports, nodes, talkers] = await Promise.all([
      listAll(session, "baremetal", "/ports/detail?limit=1000", "ports"),
      listAll(session, "baremetal", "/nodes?limit=1000&fields=uuid,name", "nodes"),
      api(session, "network", "GET", "/barecloud-top-talkers?minutes=5&limit=100000&sort=total")
        .then((b) => b.top_talkers, () => []),
    ]);
    const names = new Map(nodes.map((/** @type {any} */ n) => [n.uuid, n.name ?? n.uuid]));
    return { switches: bySwitch(ports, names, talkers), uncabled: ports.filter((/** @type {any} */ p) => !p.local_link_connection?.port_id).length };
  }, [], 15000);
  const d = data.data;
  return html`<${Page} title="Switches">
    <${ErrorText} error=${data.error} />
    ${!d ? (data.error ? null : html`<p class="muted" role="status">Loading…</p>`) : html`
      <p class="muted">${d.switches.size} switch${d.switches.size === 1 ? "" : "es"} named by the ports' cabling
        (local_link_connection)${d.uncabled ? `; ${d.uncabled} port${d.uncabled === 1 ? "" : "s"} without cabling` : ""}.</p>
      ${[...d.switches].map(([name, ports]) => html`<section class="card switch" key=${name} aria-label=${`Switch ${name}`}>
        <h2>${name} <span class="muted">(${ports.length} port${ports.length === 1 ? "" : "s"})</span></h2>
        <${Table} label=${`Ports of ${name}`} rows=${ports} rowKey=${(/** @type {SwitchPort} */ p) => `${p.port}/${p.mac}`}
          columns=${[
            { key: "port", label: "Port" },
            { key: "node", label: "Node", render: (/** @type {SwitchPort} */ p) => html`<a href=${`#/nodes/${p.node_uuid}`}>${p.node_name ?? p.node_uuid}</a>` },
            { key: "mac", label: "MAC" },
            { key: "physical_network", label: "Physical network", render: (/** @type {SwitchPort} */ p) => p.physical_network ?? "—" },
            { key: "vif", label: "Bound VIF", render: (/** @type {SwitchPort} */ p) => p.vif ?? "—" },
            { key: "sent", label: "Sent (5 min)", className: "num", render: (/** @type {SwitchPort} */ p) => (p.sent == null ? "—" : size(p.sent)) },
            { key: "received", label: "Received (5 min)", className: "num", render: (/** @type {SwitchPort} */ p) => (p.received == null ? "—" : size(p.received)) },
          ]} />
      </section>`)}`}
  </${Page}>`;
}
