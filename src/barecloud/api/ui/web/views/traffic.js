// @ts-check
/**
 * Top talkers (GET /network/v2.0/barecloud-top-talkers): which machines move
 * the bytes on the switches, as bars (inline SVG, sent and received stacked)
 * and as a table. Re-read every 10 s.
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { size } from "../lib/format.js";
import { ErrorText, Field, Page, Table, usePoll } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */

/** @param {any} t */
function who(t) {
  return t.server_name ?? t.server_id ?? `${t.switch} ${t.port}`;
}

/** @param {number} bps */
export function rate(bps) {
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
  let value = bps;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/**
 * Horizontal bars, one per talker: what its machine sent, then what it received.
 * @param {{rows: any[]}} props
 */
export function Chart({ rows }) {
  if (!rows.length) return null;
  const bar = 22;
  const gap = 8;
  const left = 190;
  const width = 720;
  const most = Math.max(1, ...rows.map((r) => r.rx_bytes + r.tx_bytes));
  const scale = (/** @type {number} */ n) => (n / most) * (width - left - 90);
  const height = rows.length * (bar + gap) + gap;
  return html`<svg class="chart" viewBox=${`0 0 ${width} ${height}`} role="img"
      aria-label=${`Bytes per port, ${rows.length} top talkers`}>
    ${rows.map((r, i) => {
      const y = gap + i * (bar + gap);
      const sent = scale(r.rx_bytes);
      const received = scale(r.tx_bytes);
      const label = who(r);
      return html`<g key=${`${r.switch}/${r.port}`}>
        <title>${label}: sent ${size(r.rx_bytes)}, received ${size(r.tx_bytes)}</title>
        <text x=${left - 8} y=${y + bar / 2 + 4} text-anchor="end">${label.length > 26 ? label.slice(0, 25) + "…" : label}</text>
        <rect class="sent" x=${left} y=${y} width=${Math.max(sent, 0.5)} height=${bar} rx="2" />
        <rect class="received" x=${left + sent} y=${y} width=${received} height=${bar} rx="2" />
        <text x=${left + sent + received + 6} y=${y + bar / 2 + 4}>${size(r.bytes)}</text>
      </g>`;
    })}
  </svg>`;
}

/** @param {{session: Session}} props */
export default function TrafficView({ session }) {
  const [query, setQuery] = useState({ minutes: "5", sort: "sent", limit: "20", switch: "" });
  const talkers = usePoll(() => {
    const q = new URLSearchParams({ minutes: query.minutes, sort: query.sort, limit: query.limit });
    if (query.switch) q.set("switch", query.switch);
    return api(session, "network", "GET", `/barecloud-top-talkers?${q}`).then((b) => b.top_talkers);
  }, [query.minutes, query.sort, query.limit, query.switch], 10000);
  /** @param {keyof typeof query} key */
  const set = (key) => (/** @type {Event} */ e) =>
    setQuery({ ...query, [key]: /** @type {HTMLInputElement} */ (e.currentTarget).value });
  const rows = talkers.data ?? [];
  return html`<${Page} title="Top talkers">
    <form class="toolbar" onSubmit=${(/** @type {Event} */ e) => e.preventDefault()}>
      <${Field} label="Last minutes"><select value=${query.minutes} onChange=${set("minutes")}>
        ${["1", "5", "15", "60"].map((m) => html`<option value=${m}>${m}</option>`)}</select></${Field}>
      <${Field} label="Rank by"><select value=${query.sort} onChange=${set("sort")}>
        <option value="sent">sent</option><option value="received">received</option><option value="total">total</option>
      </select></${Field}>
      <${Field} label="Top"><select value=${query.limit} onChange=${set("limit")}>
        ${["10", "20", "50"].map((m) => html`<option value=${m}>${m}</option>`)}</select></${Field}>
      <${Field} label="Switch"><input value=${query.switch} placeholder="all" onChange=${set("switch")} /></${Field}>
    </form>
    <${ErrorText} error=${talkers.error} />
    ${rows.length ? html`<div class="card">
      <div class="legend"><span><i class="sent"></i>sent by the machine</span><span><i class="received"></i>received</span></div>
      <${Chart} rows=${rows} /></div>` : null}
    <h2 class="section-title" style="margin-top:1rem">Ports</h2>
    <${Table} label="Top talkers" rows=${talkers.data} rowKey=${(/** @type {any} */ t) => `${t.switch}/${t.port}`}
      empty="No traffic sampled in this window (switch counters are read periodically)."
      columns=${[
        { key: "who", label: "Machine", render: (/** @type {any} */ t) => t.server_id && t.server_name
          ? html`<a href=${`#/servers/${t.server_id}`}>${t.server_name}</a>` : who(t) },
        { key: "project_name", label: "Project", render: (/** @type {any} */ t) => t.project_name ?? t.project_id ?? "—" },
        { key: "network_name", label: "Network", render: (/** @type {any} */ t) => t.network_name ?? t.network_id ?? "—" },
        { key: "port", label: "Switch port", render: (/** @type {any} */ t) => `${t.switch} ${t.port}` },
        { key: "rx_bytes", label: "Sent", className: "num", render: (/** @type {any} */ t) => size(t.rx_bytes) },
        { key: "tx_bytes", label: "Received", className: "num", render: (/** @type {any} */ t) => size(t.tx_bytes) },
        { key: "bits_per_second", label: "Rate", className: "num", render: (/** @type {any} */ t) => rate(t.bits_per_second) },
      ]} />
  </${Page}>`;
}
