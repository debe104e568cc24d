// @ts-check
/**
 * The operator's fleet at a glance: every bare metal node, counted by state
 * (the chips filter), searched by name or uuid, in a windowed list (only the
 * rows in view are in the DOM), with bulk actions over the selected nodes.
 *
 * It reads GET /baremetal/v1/nodes with `fields=` (only its columns) in pages
 * of 1,000, shows the first page at once, and re-reads every 10 s. The nodes
 * live in lib/fleet.js's compact arrays; filters run there, in memory.
 */
import { html } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, listAll } from "../lib/api.js";
import { Fleet, filterFromQuery, filterToQuery, inFlight } from "../lib/fleet.js";
import { hashQuery } from "../lib/router.js";
import { Badge, Dialog, ErrorText, Field, Page, notify, useAction } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */
/** @typedef {import("../lib/fleet.js").Filter} Filter */

export const FIELDS = "uuid,name,provision_state,power_state,maintenance,resource_class,last_error";
const PAGE = 1000;
const REFRESH_MS = 10000;
const IN_FLIGHT = 4;
const OVERSCAN = 8;

/**
 * The bulk actions: what each does to one node.
 * @type {Record<string, {label: string, call: (s: Session, uuid: string, reason: string) => Promise<unknown>}>}
 */
export const ACTIONS = {
  "maintenance-on": {
    label: "Maintenance on",
    call: (s, uuid, reason) => api(s, "baremetal", "PUT", `/nodes/${uuid}/maintenance`,
      { body: reason ? { reason } : {} }),
  },
  "maintenance-off": {
    label: "Maintenance off",
    call: (s, uuid) => api(s, "baremetal", "DELETE", `/nodes/${uuid}/maintenance`),
  },
  "power-on": {
    label: "Power on",
    call: (s, uuid) => api(s, "baremetal", "PUT", `/nodes/${uuid}/states/power`, { body: { target: "power on" } }),
  },
  "power-off": {
    label: "Power off",
    call: (s, uuid) => api(s, "baremetal", "PUT", `/nodes/${uuid}/states/power`, { body: { target: "power off" } }),
  },
  manage: {
    label: "Manage",
    call: (s, uuid) => api(s, "baremetal", "PUT", `/nodes/${uuid}/states/provision`, { body: { target: "manage" } }),
  },
  provide: {
    label: "Provide",
    call: (s, uuid) => api(s, "baremetal", "PUT", `/nodes/${uuid}/states/provision`, { body: { target: "provide" } }),
  },
};

/** The row height the list is laid out with: one line wide, two on a phone. */
function useRowHeight() {
  const query = useMemo(() => matchMedia("(max-width: 760px)"), []);
  const [narrow, setNarrow] = useState(query.matches);
  useEffect(() => {
    const changed = () => setNarrow(query.matches);
    query.addEventListener("change", changed);
    return () => query.removeEventListener("change", changed);
  }, [query]);
  return narrow ? 64 : 40;
}

/**
 * @param {{label: string, count: number, pressed: boolean, onClick: () => void, tone?: string}} props
 */
function Chip({ label, count, pressed, onClick, tone = "" }) {
  return html`<button type="button" class=${`chip ${tone}`} aria-pressed=${pressed} onClick=${onClick}>
    ${label} <span class="chip-count">${count.toLocaleString("en")}</span></button>`;
}

/**
 * The counts as chips: one click filters, a second clears.
 * @param {{counts: import("../lib/fleet.js").Counts, filter: Filter, set: (f: Partial<Filter>) => void}} props
 */
function Chips({ counts, filter, set }) {
  const none = !filter.state && !filter.power && filter.maintenance == null && filter.error == null;
  return html`<div class="fleet-chips" role="group" aria-label="Filter by state">
    <${Chip} label="All" count=${counts.total} pressed=${none}
      onClick=${() => set({ state: null, power: null, maintenance: null, error: null })} />
    <span class="chip-group" role="group" aria-label="Provision state">
      ${[...counts.provision].map(([state, n]) => html`<${Chip} key=${state} label=${state} count=${n}
        tone="state" pressed=${filter.state === state}
        onClick=${() => set({ state: filter.state === state ? null : state })} />`)}
    </span>
    <span class="chip-group" role="group" aria-label="Power">
      ${[...counts.power].map(([power, n]) => html`<${Chip} key=${power} label=${power} count=${n}
        tone="power" pressed=${filter.power === power}
        onClick=${() => set({ power: filter.power === power ? null : power })} />`)}
    </span>
    <span class="chip-group" role="group" aria-label="Flags">
      <${Chip} label="maintenance" count=${counts.maintenance} tone="warn" pressed=${filter.maintenance === true}
        onClick=${() => set({ maintenance: filter.maintenance === true ? null : true })} />
      <${Chip} label="errors" count=${counts.errors} tone="bad" pressed=${filter.error === true}
        onClick=${() => set({ error: filter.error === true ? null : true })} />
    </span>
  </div>`;
}

/**
 * The windowed list: a scroll container as tall as all the rows, and only the
 * rows in view (plus a few) in the DOM.
 * @param {{fleet: Fleet, shown: Int32Array, version: number, selected: Set<string>,
 *          toggle: (uuid: string) => void, toggleAll: () => void, rowHeight: number}} props
 */
function Rows({ fleet, shown, selected, toggle, toggleAll, rowHeight }) {
  const ref = useRef(/** @type {HTMLDivElement | null} */ (null));
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const box = ref.current;
    if (!box) return;
    const observer = new ResizeObserver(() => setHeight(box.clientHeight));
    observer.observe(box);
    return () => observer.disconnect();
  }, []);
  // A new filter starts at the top.
  useEffect(() => {
    if (ref.current) ref.current.scrollTop = 0;
    setTop(0);
  }, [shown.length, shown[0]]);
  const frame = useRef(0);
  const scrolled = () => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      if (ref.current) setTop(ref.current.scrollTop);
    });
  };
  const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((top + height) / rowHeight) + OVERSCAN);
  const rows = [];
  for (let at = first; at < last; at++) {
    const i = shown[at];
    const uuid = fleet.uuid[i];
    const name = fleet.name[i] || uuid;
    const state = fleet.states.name(fleet.state[i]);
    const power = fleet.powers.name(fleet.power[i]);
    const error = fleet.lastError[i];
    const checked = selected.has(uuid);
    rows.push(html`<div key=${uuid} role="row" aria-rowindex=${at + 2} aria-selected=${checked}
        class=${checked ? "fleet-row selected" : "fleet-row"} data-uuid=${uuid}
        style=${`top:${at * rowHeight}px;height:${rowHeight}px`}>
      <span role="cell" class="c-check"><input type="checkbox" checked=${checked}
        aria-label=${`Select ${name}`} onChange=${() => toggle(uuid)} /></span>
      <span role="cell" class="c-name"><a href=${`#/nodes/${uuid}`}>${name}</a></span>
      <span role="cell" class="c-state"><${Badge} state=${state} /></span>
      <span role="cell" class="c-power"><${Badge} state=${power === "none" ? null : power} /></span>
      <span role="cell" class="c-maint">${fleet.maint[i] ? html`<span class="badge warn">maintenance</span>` : ""}</span>
      <span role="cell" class="c-class">${fleet.classes.name(fleet.rclass[i])}</span>
      <span role="cell" class="c-error" title=${error ?? ""}>${error ?? ""}</span>
    </div>`);
  }
  const allShown = shown.length > 0 && shown.every((i) => selected.has(fleet.uuid[i]));
  return html`<div role="table" aria-label="Nodes" aria-rowcount=${shown.length + 1} class="fleet-table">
    <div role="rowgroup"><div role="row" class="fleet-row fleet-head" aria-rowindex="1">
      <span role="columnheader" class="c-check"><input type="checkbox" checked=${allShown}
        disabled=${!shown.length} aria-label="Select all shown" onChange=${toggleAll} /></span>
      <span role="columnheader" class="c-name">Name</span>
      <span role="columnheader" class="c-state">Provision state</span>
      <span role="columnheader" class="c-power">Power</span>
      <span role="columnheader" class="c-maint">Maintenance</span>
      <span role="columnheader" class="c-class">Resource class</span>
      <span role="columnheader" class="c-error">Last error</span>
    </div></div>
    <div role="rowgroup" class="fleet-scroll" ref=${ref} onScroll=${scrolled} tabIndex="0"
        aria-label="Node list, scroll for more">
      <div class="fleet-space" style=${`height:${shown.length * rowHeight}px`}>${rows}</div>
    </div>
    ${shown.length ? null : html`<p class="muted fleet-empty">No node matches.</p>`}
  </div>`;
}

/**
 * @typedef {{action: string, total: number, done: number,
 *            failures: {uuid: string, name: string, message: string}[], running: boolean}} BulkRun
 */

/** @param {{run: BulkRun, onClose: () => void}} props */
function BulkReport({ run, onClose }) {
  const label = ACTIONS[run.action]?.label ?? run.action;
  return html`<div class=${`card bulk-report ${run.failures.length ? "bad" : ""}`} role="status" aria-live="polite">
    <p><strong>${label}</strong>: ${run.running ? `${run.done} of ${run.total} done…`
      : `${run.total - run.failures.length} of ${run.total} done` +
        (run.failures.length ? `, ${run.failures.length} failed:` : ".")}</p>
    ${run.running ? html`<progress max=${run.total} value=${run.done}></progress>` : null}
    ${run.failures.length ? html`<ul class="bulk-failures">${run.failures.map(
      (f) => html`<li key=${f.uuid}><a href=${`#/nodes/${f.uuid}`}>${f.name}</a>: <span class="error-text">${f.message}</span></li>`,
    )}</ul>` : null}
    ${run.running ? null : html`<button type="button" onClick=${onClose}>Dismiss</button>`}
  </div>`;
}

/** @param {{session: Session, onClose: () => void, onEnrolled: (node: any) => void}} props */
function EnrollDialog({ session, onClose, onEnrolled }) {
  const [drivers, setDrivers] = useState(/** @type {string[]} */ ([]));
  useEffect(() => {
    api(session, "baremetal", "GET", "/drivers").then(
      (body) => setDrivers(body.drivers.map((/** @type {{name: string}} */ d) => d.name)),
      () => setDrivers([]),
    );
  }, []);
  const enroll = useAction(async (/** @type {FormData} */ form) => {
    const text = String(form.get("driver_info") || "").trim();
    /** @type {unknown} */
    let info = {};
    if (text) {
      try {
        info = JSON.parse(text);
      } catch (e) {
        throw new Error(`driver_info is not JSON: ${e instanceof Error ? e.message : e}`);
      }
    }
    /** @type {Record<string, unknown>} */
    const body = { driver: String(form.get("driver")), driver_info: info };
    const name = String(form.get("name") || "").trim();
    if (name) body.name = name;
    const rc = String(form.get("resource_class") || "").trim();
    if (rc) body.resource_class = rc;
    const node = await api(session, "baremetal", "POST", "/nodes", { body });
    onEnrolled(node);
  });
  const submit = (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    enroll.run(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget)));
  };
  return html`<${Dialog} title="Enroll a node" onClose=${onClose}>
    <form onSubmit=${submit}>
      <${Field} label="Name"><input name="name" autocomplete="off" /></${Field}>
      <${Field} label="Driver">${drivers.length
        ? html`<select name="driver">${drivers.map((d) => html`<option value=${d}>${d}</option>`)}</select>`
        : html`<input name="driver" required value="fake-hardware" />`}</${Field}>
      <${Field} label="Driver info (JSON)" hint='For example {"ipmi_address": "10.0.0.5", "ipmi_username": "admin"}'>
        <textarea name="driver_info" spellcheck="false">{}</textarea></${Field}>
      <${Field} label="Resource class"><input name="resource_class" value="baremetal" /></${Field}>
      <${ErrorText} error=${enroll.error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${enroll.busy}>${enroll.busy ? "Enrolling…" : "Enroll"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

/** @param {{count: number, onClose: () => void, onRun: (reason: string) => void}} props */
function ReasonDialog({ count, onClose, onRun }) {
  const submit = (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    onRun(String(form.get("reason") || "").trim());
  };
  return html`<${Dialog} title=${`Maintenance on for ${count} node${count === 1 ? "" : "s"}`} onClose=${onClose}>
    <form onSubmit=${submit}>
      <${Field} label="Reason" hint="Shown with the node (maintenance_reason)."><input name="reason" autofocus /></${Field}>
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary">Maintenance on</button>
      </div>
    </form>
  </${Dialog}>`;
}

/** @param {{session: Session}} props */
export default function FleetView({ session }) {
  const fleet = useRef(new Fleet(PAGE)).current;
  const [version, setVersion] = useState(0);
  const [loaded, setLoaded] = useState(false);
  const [updatedAt, setUpdatedAt] = useState(/** @type {Date | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [filter, setFilter] = useState(() => filterFromQuery(hashQuery()));
  const [selected, setSelected] = useState(() => new Set(/** @type {string[]} */ ([])));
  const [bulk, setBulk] = useState(/** @type {BulkRun | null} */ (null));
  const [dialog, setDialog] = useState(/** @type {"enroll" | "reason" | null} */ (null));
  const rowHeight = useRowHeight();
  const busy = useRef(false);
  const reload = useRef(/** @type {() => void} */ (() => {}));

  // Read every node, page by page; again every REFRESH_MS while the view is open.
  useEffect(() => {
    let alive = true;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const read = async () => {
      if (busy.current) return; // the read under way schedules the next
      clearTimeout(timer);
      busy.current = true;
      try {
        fleet.beginSync();
        await listAll(session, "baremetal", `/nodes?limit=${PAGE}&fields=${FIELDS}`, "nodes", (page) => {
          if (!alive) return;
          fleet.upsert(page);
          setVersion(fleet.version);
        });
        if (!alive) return;
        fleet.endSync();
        setVersion(fleet.version);
        setLoaded(true);
        setUpdatedAt(new Date());
        setError(null);
      } catch (e) {
        if (alive) setError(e);
      } finally {
        busy.current = false;
        if (alive) timer = setTimeout(read, document.hidden ? REFRESH_MS * 4 : REFRESH_MS);
      }
    };
    reload.current = read;
    read();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [session.token]);

  // A link or the back button may change the query under the view.
  useEffect(() => {
    const moved = () => {
      if (location.hash.startsWith("#/fleet")) setFilter(filterFromQuery(hashQuery()));
    };
    addEventListener("hashchange", moved);
    return () => removeEventListener("hashchange", moved);
  }, []);

  const change = (/** @type {Partial<Filter>} */ part) => {
    const next = { ...filter, ...part };
    setFilter(next);
    const query = filterToQuery(next);
    history.replaceState(history.state, "", `#/fleet${query ? "?" + query : ""}`);
  };

  const counts = useMemo(() => fleet.counts(), [version]);
  const shown = useMemo(() => fleet.filter(filter), [version, filter]);

  const toggle = (/** @type {string} */ uuid) => {
    const next = new Set(selected);
    if (!next.delete(uuid)) next.add(uuid);
    setSelected(next);
  };
  const toggleAll = () => {
    const all = shown.length > 0 && shown.every((i) => selected.has(fleet.uuid[i]));
    const next = new Set(selected);
    for (const i of shown) {
      if (all) next.delete(fleet.uuid[i]);
      else next.add(fleet.uuid[i]);
    }
    setSelected(next);
  };
  // Selected nodes that went away (deleted) are not acted on.
  const chosen = [...selected].filter((uuid) => fleet.index.has(uuid));

  /** Re-read some nodes now (after an action), without waiting for the next refresh. */
  const refresh = async (/** @type {string[]} */ uuids) => {
    if (uuids.length > 50) {
      reload.current();
      return;
    }
    const fresh = /** @type {import("../lib/fleet.js").NodeRow[]} */ ([]);
    await inFlight(uuids, IN_FLIGHT, async (uuid) => {
      fresh.push(await api(session, "baremetal", "GET", `/nodes/${uuid}?fields=${FIELDS}`));
    });
    fleet.upsert(fresh);
    setVersion(fleet.version);
  };

  const runBulk = async (/** @type {string} */ action, reason = "") => {
    setDialog(null);
    const uuids = chosen;
    if (!uuids.length) return;
    /** @type {BulkRun} */
    const run = { action, total: uuids.length, done: 0, failures: [], running: true };
    setBulk({ ...run });
    const results = await inFlight(uuids, IN_FLIGHT, (uuid) => ACTIONS[action].call(session, uuid, reason),
      (done) => setBulk({ ...run, done }));
    run.done = uuids.length;
    run.running = false;
    run.failures = results.flatMap((e, k) => e ? [{
      uuid: uuids[k],
      name: fleet.name[/** @type {number} */ (fleet.index.get(uuids[k]))] || uuids[k],
      message: e instanceof Error ? e.message : String(e),
    }] : []);
    setBulk(run);
    const label = ACTIONS[action].label;
    if (run.failures.length) notify(`${label}: ${run.failures.length} of ${run.total} failed.`, "bad");
    else notify(`${label}: done for ${run.total} node${run.total === 1 ? "" : "s"}.`);
    try {
      await refresh(uuids);
    } catch (e) {
      setError(e);
    }
  };

  const status = loaded
    ? `${fleet.size.toLocaleString("en")} nodes${updatedAt ? `, updated ${updatedAt.toLocaleTimeString("en-GB")}` : ""}`
    : `Loading… ${fleet.size.toLocaleString("en")} nodes so far`;

  return html`<${Page} title="Fleet" actions=${html`
      <button type="button" onClick=${() => reload.current()}>Refresh</button>
      <button type="button" class="primary" onClick=${() => setDialog("enroll")}>Enroll a node</button>`}>
    <div class="fleet" data-loaded=${loaded ? "true" : "false"}>
      <p class="muted fleet-status" role="status" aria-busy=${!loaded}>${status}</p>
      <${ErrorText} error=${error} />
      <${Chips} counts=${counts} filter=${filter} set=${change} />
      <div class="toolbar fleet-tools">
        <label class="fleet-search"><span class="sr-only">Search</span>
          <input type="search" placeholder="Search name or uuid" aria-label="Search nodes"
            value=${filter.text ?? ""}
            onInput=${(/** @type {Event} */ e) => change({ text: /** @type {HTMLInputElement} */ (e.currentTarget).value || null })} />
        </label>
        <span class="muted" aria-live="polite">${shown.length.toLocaleString("en")} shown</span>
      </div>
      ${chosen.length ? html`<div class="bulk-bar" role="toolbar" aria-label="Bulk actions">
        <strong>${chosen.length} selected</strong>
        <button type="button" onClick=${() => setDialog("reason")} disabled=${bulk?.running}>Maintenance on…</button>
        ${["maintenance-off", "power-on", "power-off", "manage", "provide"].map((a) => html`
          <button type="button" key=${a} disabled=${bulk?.running} onClick=${() => runBulk(a)}>${ACTIONS[a].label}</button>`)}
        <button type="button" class="link" onClick=${() => setSelected(new Set())}>Clear selection</button>
      </div>` : null}
      ${bulk ? html`<${BulkReport} run=${bulk} onClose=${() => setBulk(null)} />` : null}
      <${Rows} fleet=${fleet} shown=${shown} version=${version} selected=${selected}
        toggle=${toggle} toggleAll=${toggleAll} rowHeight=${rowHeight} />
    </div>
    ${dialog === "reason" ? html`<${ReasonDialog} count=${chosen.length} onClose=${() => setDialog(null)}
      onRun=${(/** @type {string} */ reason) => runBulk("maintenance-on", reason)} />` : null}
    ${dialog === "enroll" ? html`<${EnrollDialog} session=${session} onClose=${() => setDialog(null)}
      onEnrolled=${(/** @type {any} */ node) => {
        fleet.upsert([node]);
        setVersion(fleet.version);
        setDialog(null);
        notify(`Node ${node.name ?? node.uuid} enrolled.`);
      }} />` : null}
  </${Page}>`;
}
