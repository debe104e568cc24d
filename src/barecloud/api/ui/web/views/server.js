// @ts-check
/**
 * One server: its facts (live), its actions, and its consoles: the console
 * log (os-getConsoleOutput), the interactive serial console (xterm.js on the
 * remote console's websocket) and, for VMs, the graphics console (noVNC's page
 * from the novnc remote console, in a frame). Bare metal has no graphics
 * console: the API says so, and the page shows its words.
 */
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api } from "../lib/api.js";
import { addressLines, flavorKind, flavorSummary, isBusy, powerState } from "../lib/compute.js";
import { SerialConsole } from "../lib/console.js";
import { when } from "../lib/format.js";
import { navigate } from "../lib/router.js";
import { ErrorText, Page, useAction, usePoll } from "../lib/ui.js";
import { ServerActions, ServerStatus } from "./servers.js";

/** @typedef {import("../lib/api.js").Session} Session */
/** @typedef {Record<string, any>} Server */

const TABS = /** @type {const} */ ([
  ["log", "Console log"],
  ["serial", "Serial console"],
  ["graphics", "Graphics console"],
]);
/** @typedef {typeof TABS[number][0]} Tab */

/**
 * @param {Session} session
 * @param {string} id
 * @param {"serial" | "novnc"} type
 * @returns {Promise<string>}
 */
async function consoleUrl(session, id, type) {
  const body = await api(session, "compute", "POST", `/servers/${id}/remote-consoles`, {
    body: { remote_console: type === "serial" ? { protocol: "serial", type: "serial" } : { protocol: "vnc", type: "novnc" } },
  });
  return body.remote_console.url;
}

/** @param {{session: Session, server: Server, active: boolean}} props */
function ConsoleLog({ session, server, active }) {
  const [length, setLength] = useState("200");
  const [follow, setFollow] = useState(false);
  const log = usePoll(
    async () => {
      const body = await api(session, "compute", "POST", `/servers/${server.id}/action`, {
        body: { "os-getConsoleOutput": length === "all" ? {} : { length: Number(length) } },
      });
      return /** @type {string} */ (body.output ?? "");
    },
    [session.token, server.id, length, follow && active],
    follow && active ? 3000 : 0,
  );
  const pre = useRef(/** @type {HTMLPreElement | null} */ (null));
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [log.data]);
  return html`<div class="console-log-panel">
    <div class="toolbar">
      <label class="field inline"><span class="field-label">Lines</span>
        <select value=${length} onChange=${(/** @type {Event} */ e) => setLength(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
          <option value="50">Last 50</option>
          <option value="200">Last 200</option>
          <option value="1000">Last 1000</option>
          <option value="all">All</option>
        </select></label>
      <label class="check"><input type="checkbox" checked=${follow}
        onChange=${(/** @type {Event} */ e) => setFollow(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
        Follow</label>
      <button type="button" onClick=${log.reload}>Refresh</button>
    </div>
    <${ErrorText} error=${log.error} />
    ${log.data === null && !log.error ? html`<p class="muted" role="status">Loading the console log…</p>` : null}
    ${log.data !== null ? html`<pre class="console-log" ref=${pre} tabindex="0"
      aria-label="Console output">${log.data || "(nothing yet)"}</pre>` : null}
  </div>`;
}

/** @param {{session: Session, server: Server}} props */
function GraphicsConsole({ session, server }) {
  const [url, setUrl] = useState("");
  const get = useAction(async () => setUrl(await consoleUrl(session, server.id, "novnc")));
  return html`<div class="graphics-console">
    <div class="toolbar">
      <button type="button" class="primary" disabled=${get.busy} onClick=${() => get.run()}>
        ${url ? "Reconnect" : "Open graphics console"}</button>
      ${url ? html`<a class="button" href=${url} target="_blank" rel="noopener">Open in a new tab</a>` : null}
    </div>
    <${ErrorText} error=${get.error} />
    ${url ? html`<iframe class="vnc" key=${url} src=${url} title=${`Graphics console of ${server.name}`}></iframe>` : null}
  </div>`;
}

/** @param {{session: Session, server: Server, image: string}} props */
function Facts({ server, image }) {
  const flavor = server.flavor ?? {};
  const kind = flavorKind(flavor) === "baremetal" ? "Bare metal" : "Virtual machine";
  const fault = server.fault;
  const host = server["OS-EXT-SRV-ATTR:host"];
  const node = server["OS-EXT-SRV-ATTR:hypervisor_hostname"];
  return html`
    ${fault ? html`<div class="error fault" role="alert"><strong>Fault${fault.code ? ` (${fault.code})` : ""}:</strong>
      ${" "}${fault.message}${fault.details ? html`<pre class="fault-details">${fault.details}</pre>` : null}</div>` : null}
    <dl class="facts card">
      <dt>Status</dt><dd><${ServerStatus} server=${server} /></dd>
      <dt>Power</dt><dd>${powerState(server["OS-EXT-STS:power_state"]) || "—"}</dd>
      <dt>Kind</dt><dd>${kind}</dd>
      <dt>Flavor</dt><dd>${flavor.original_name ?? flavor.id ?? ""} <span class="muted">${flavorSummary(flavor)}</span></dd>
      <dt>Image</dt><dd>${image}</dd>
      <dt>Addresses</dt><dd>${addressLines(server.addresses).map((l) => html`<div>${l}</div>`)}
        ${addressLines(server.addresses).length ? null : "—"}</dd>
      <dt>Key pair</dt><dd>${server.key_name || "—"}</dd>
      ${host ? html`<dt>Host</dt><dd>${host}</dd>` : null}
      ${node ? html`<dt>Node</dt><dd><a href=${`#/nodes/${node}`}>${node}</a></dd>` : null}
      ${!host && server.hostId ? html`<dt>Host id</dt><dd class="mono">${server.hostId}</dd>` : null}
      <dt>Availability zone</dt><dd>${server["OS-EXT-AZ:availability_zone"] || "—"}</dd>
      <dt>Created</dt><dd>${when(server.created)}</dd>
      <dt>Launched</dt><dd>${when(server["OS-SRV-USG:launched_at"]) || "—"}</dd>
      <dt>ID</dt><dd class="mono">${server.id}</dd>
    </dl>`;
}

/** @param {{session: Session, params: {id: string}}} props */
export default function ServerView({ session, params }) {
  const [fast, setFast] = useState(false);
  const [tab, setTab] = useState(/** @type {Tab} */ ("log"));
  const [seen, setSeen] = useState(/** @type {Set<Tab>} */ (new Set(["log"])));
  const loaded = usePoll(
    async () => {
      const body = await api(session, "compute", "GET", `/servers/${params.id}`);
      setFast(isBusy(body.server));
      return /** @type {Server} */ (body.server);
    },
    [session.token, params.id, fast],
    fast ? 1000 : 3000,
  );
  const server = loaded.data;
  const imageId = server?.image?.id ?? "";
  const image = usePoll(
    () => imageId ? api(session, "image", "GET", `/images/${imageId}`).then((i) => /** @type {string} */ (i.name || i.id))
      : Promise.resolve("(booted from a volume)"),
    [session.token, imageId],
  );
  const gone = loaded.error instanceof ApiError && loaded.error.status === 404;
  if (gone) {
    return html`<${Page} title="Server">
      <p role="status">This server does not exist (any more). <a href="#/servers">Back to the servers</a>.</p>
    </${Page}>`;
  }
  if (!server) {
    return html`<${Page} title="Server">
      ${loaded.error ? html`<${ErrorText} error=${loaded.error} />` : html`<p class="muted" role="status">Loading…</p>`}
    </${Page}>`;
  }
  const pick = (/** @type {Tab} */ t) => {
    setTab(t);
    setSeen((s) => new Set([...s, t]));
  };
  const keys = (/** @type {KeyboardEvent} */ event) => {
    const at = TABS.findIndex(([t]) => t === tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = TABS[(at + step + TABS.length) % TABS.length][0];
    pick(next);
    /** @type {HTMLElement | null} */ (document.getElementById(`tab-${next}`))?.focus();
  };
  const imageName = image.data ?? (image.error ? html`<span class="muted">${imageId}</span>` : "…");
  return html`<${Page} title=${server.name || server.id} actions=${html`
      <a class="button" href="#/servers">All servers</a>
      <${ServerActions} session=${session} server=${server}
        onDone=${(/** @type {string} */ what) => (what === "delete" ? navigate("/servers") : loaded.reload())} />`}>
    <${ErrorText} error=${loaded.error} />
    <${Facts} session=${session} server=${server} image=${imageName} />
    <div class="tabs" role="tablist" aria-label="Consoles" onKeyDown=${keys}>
      ${TABS.map(([t, label]) => html`<button type="button" role="tab" id=${`tab-${t}`}
        aria-selected=${tab === t ? "true" : "false"} aria-controls=${`panel-${t}`}
        tabindex=${tab === t ? 0 : -1} onClick=${() => pick(t)}>${label}</button>`)}
    </div>
    <div role="tabpanel" id="panel-log" aria-labelledby="tab-log" hidden=${tab !== "log"} class="tab-panel">
      ${seen.has("log") ? html`<${ConsoleLog} session=${session} server=${server} active=${tab === "log"} />` : null}
    </div>
    <div role="tabpanel" id="panel-serial" aria-labelledby="tab-serial" hidden=${tab !== "serial"} class="tab-panel">
      ${seen.has("serial") ? html`<${SerialConsole} label=${`Serial console of ${server.name}`}
        connect=${() => consoleUrl(session, server.id, "serial")} />` : null}
    </div>
    <div role="tabpanel" id="panel-graphics" aria-labelledby="tab-graphics" hidden=${tab !== "graphics"} class="tab-panel">
      ${seen.has("graphics") ? html`<${GraphicsConsole} session=${session} server=${server} />` : null}
    </div>
  </${Page}>`;
}
