// @ts-check
/**
 * The project's servers, bare metal and VMs in one list, with their live
 * status (polled every 3 s, every second while one is building or busy), the
 * create dialog and each server's actions. ServerActions is shared with the
 * server's own page.
 */
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, listAll } from "../lib/api.js";
import {
  addressLines, createBody, flavorKind, flavorSummary, isBusy, powerState,
} from "../lib/compute.js";
import { Badge, Dialog, ErrorText, Field, Page, Table, notify, useAction, usePoll } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */
/** @typedef {Record<string, any>} Server */

/**
 * Start, stop, reboot (soft or hard, asked in a dialog) and delete (confirmed).
 * @param {{session: Session, server: Server, onDone: (what: string) => void}} props
 */
export function ServerActions({ session, server, onDone }) {
  const [asking, setAsking] = useState(/** @type {"" | "reboot" | "delete"} */ (""));
  const name = server.name || server.id;
  const action = useAction(async (/** @type {string} */ what, /** @type {unknown} */ body) => {
    await api(session, "compute", "POST", `/servers/${server.id}/action`, { body });
    notify(`${what}: ${name}`);
    onDone(what);
  });
  const remove = useAction(async () => {
    await api(session, "compute", "DELETE", `/servers/${server.id}`);
    notify(`Deleting ${name}`);
    setAsking("");
    onDone("delete");
  });
  const reboot = useAction(async (/** @type {"SOFT" | "HARD"} */ type) => {
    await api(session, "compute", "POST", `/servers/${server.id}/action`, { body: { reboot: { type } } });
    notify(`${type === "HARD" ? "Hard rebooting" : "Rebooting"} ${name}`);
    setAsking("");
    onDone("reboot");
  });
  const act = (/** @type {string} */ what, /** @type {unknown} */ body) => action.run(what, body);
  const status = server.status ?? "";
  const building = status === "BUILD" || server["OS-EXT-STS:task_state"] === "deleting";
  const off = status === "SHUTOFF";
  const close = () => {
    setAsking("");
    reboot.clear();
    remove.clear();
  };
  return html`<div class="actions server-actions">
    ${off
      ? html`<button type="button" aria-label=${`Start ${name}`} disabled=${action.busy || building}
          onClick=${() => act("Starting", { "os-start": null })}>Start</button>`
      : html`<button type="button" aria-label=${`Stop ${name}`} disabled=${action.busy || building}
          onClick=${() => act("Stopping", { "os-stop": null })}>Stop</button>`}
    <button type="button" aria-label=${`Reboot ${name}`} disabled=${building}
      onClick=${() => setAsking("reboot")}>Reboot</button>
    <button type="button" class="danger" aria-label=${`Delete ${name}`}
      disabled=${server["OS-EXT-STS:task_state"] === "deleting"}
      onClick=${() => setAsking("delete")}>Delete</button>
    ${action.error ? html`<div class="action-error"><${ErrorText} error=${action.error} /></div>` : null}
    ${asking === "reboot" ? html`<${Dialog} title=${`Reboot ${name}`} onClose=${close}>
      <p>A soft reboot asks the operating system to restart; a hard reboot cuts the power and
        turns it on again.</p>
      <${ErrorText} error=${reboot.error} />
      <div class="form-actions">
        <button type="button" onClick=${close}>Cancel</button>
        <button type="button" disabled=${reboot.busy} onClick=${() => reboot.run("HARD")}>Hard reboot</button>
        <button type="button" class="primary" disabled=${reboot.busy} onClick=${() => reboot.run("SOFT")}>Soft reboot</button>
      </div>
    </${Dialog}>` : null}
    ${asking === "delete" ? html`<${Dialog} title=${`Delete ${name}?`} onClose=${close}>
      <p>The server <strong>${name}</strong> and what is on its disks are gone for good.</p>
      <${ErrorText} error=${remove.error} />
      <div class="form-actions">
        <button type="button" onClick=${close}>Cancel</button>
        <button type="button" class="danger" disabled=${remove.busy} onClick=${() => remove.run()}>
          ${remove.busy ? "Deleting…" : "Delete"}</button>
      </div>
    </${Dialog}>` : null}
  </div>`;
}

/**
 * The choices of the create dialog, loaded when it opens.
 * @param {Session} session
 */
async function loadChoices(session) {
  const [flavors, images, networks, keypairs, reservations] = await Promise.all([
    listAll(session, "compute", "/flavors/detail", "flavors"),
    listAll(session, "image", "/images", "images"),
    listAll(session, "network", "/networks", "networks"),
    api(session, "compute", "GET", "/os-keypairs").then((b) => b.keypairs.map((/** @type {any} */ k) => k.keypair)),
    activeReservations(session),
  ]);
  return {
    flavors: flavors.filter((f) => !f["OS-FLV-DISABLED:disabled"]),
    images: images.filter((i) => i.status === "active"),
    networks,
    keypairs,
    reservations,
  };
}

/**
 * The reservations of the project's leases that are running (suggestions for
 * the hint; the field takes any id). No Blazar, or none: no suggestion.
 * @param {Session} session
 * @returns {Promise<{id: string, label: string}[]>}
 */
async function activeReservations(session) {
  try {
    const body = await api(session, "reservation", "GET", "/leases");
    /** @type {{id: string, label: string}[]} */
    const out = [];
    for (const lease of body.leases ?? []) {
      if (lease.status && lease.status !== "ACTIVE") continue;
      for (const r of lease.reservations ?? []) out.push({ id: r.id, label: `${lease.name} (${r.resource_type})` });
    }
    return out;
  } catch {
    return [];
  }
}

/**
 * @param {{session: Session, onClose: () => void, onCreated: () => void}} props
 */
export function CreateServer({ session, onClose, onCreated }) {
  const choices = usePoll(() => loadChoices(session), [session.token]);
  const create = useAction(async (/** @type {import("../lib/compute.js").CreateForm} */ form) => {
    const created = await api(session, "compute", "POST", "/servers", { body: createBody(form) });
    notify(created?.server?.id ? `Creating ${form.name}` : `Creating servers ${form.name}`);
    onCreated();
  });
  const submit = (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (event.currentTarget));
    const text = (/** @type {string} */ key) => String(data.get(key) ?? "");
    create.run({
      name: text("name"), flavor: text("flavor"), image: text("image"), network: text("network"),
      keyName: text("key_name"), count: text("count"), minCount: text("min_count"),
      reservation: text("reservation"),
    });
  };
  const c = choices.data;
  const metal = c ? c.flavors.filter((f) => flavorKind(f) === "baremetal") : [];
  const vms = c ? c.flavors.filter((f) => flavorKind(f) === "vm") : [];
  /** @param {any} f */
  const flavorOption = (f) => html`<option value=${f.id}>${f.name} — ${flavorSummary(f)}</option>`;
  return html`<${Dialog} title="Create server" onClose=${onClose} wide>
    <${ErrorText} error=${choices.error} />
    ${!c && !choices.error ? html`<p class="muted" role="status">Loading the choices…</p>` : null}
    ${c ? html`<form class="create-server" onSubmit=${submit}>
      <div class="form-grid">
        <${Field} label="Name"><input name="name" required autofocus autocomplete="off" /></${Field}>
        <${Field} label="Flavor">
          <select name="flavor" required>
            ${metal.length ? html`<optgroup label="Bare metal">${metal.map(flavorOption)}</optgroup>` : null}
            ${vms.length ? html`<optgroup label="Virtual machines">${vms.map(flavorOption)}</optgroup>` : null}
          </select></${Field}>
        <${Field} label="Image">
          <select name="image" required>
            ${c.images.map((i) => html`<option value=${i.id}>${i.name || i.id}</option>`)}
          </select></${Field}>
        <${Field} label="Network" hint="Automatic: the project's network, or the provisioning one">
          <select name="network">
            <option value="auto">Automatic</option>
            <option value="none">None</option>
            ${c.networks.map((n) => html`<option value=${n.id}>${n.name || n.id}</option>`)}
          </select></${Field}>
        <${Field} label="Key pair">
          <select name="key_name">
            <option value="">No key pair</option>
            ${c.keypairs.map((/** @type {any} */ k) => html`<option value=${k.name}>${k.name}</option>`)}
          </select></${Field}>
        <${Field} label="Count" hint="How many servers">
          <input name="count" type="number" min="1" step="1" value="1" inputmode="numeric" /></${Field}>
        <${Field} label="Minimum count" hint="Empty: all of them or none">
          <input name="min_count" type="number" min="1" step="1" inputmode="numeric" /></${Field}>
        <${Field} label="Reservation" hint="A lease's reservation id (scheduler hint), optional">
          <input name="reservation" list="reservation-ids" autocomplete="off" />
          <datalist id="reservation-ids">
            ${c.reservations.map((r) => html`<option value=${r.id}>${r.label}</option>`)}
          </datalist></${Field}>
      </div>
      <${ErrorText} error=${create.error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${create.busy}>
          ${create.busy ? "Creating…" : "Create"}</button>
      </div>
    </form>` : null}
  </${Dialog}>`;
}

/**
 * A server's status with its task, if one runs.
 * @param {{server: Server}} props
 */
export function ServerStatus({ server }) {
  const task = server["OS-EXT-STS:task_state"];
  return html`<span class="server-status"><${Badge} state=${server.status} />${
    task ? html` <small class="muted task">${task}</small>` : null}</span>`;
}

/** @param {{session: Session}} props */
export default function Servers({ session }) {
  const [creating, setCreating] = useState(false);
  const [fast, setFast] = useState(false);
  const servers = usePoll(
    async () => {
      const list = await listAll(session, "compute", "/servers/detail", "servers");
      setFast(list.some(isBusy));
      return list;
    },
    [session.token, fast],
    fast ? 1000 : 3000,
  );
  const images = usePoll(
    () => listAll(session, "image", "/images", "images").then(
      (list) => new Map(list.map((i) => [/** @type {string} */ (i.id), /** @type {string} */ (i.name)]))),
    [session.token],
  );
  /** @param {Server} s */
  const imageName = (s) => {
    const id = s.image?.id;
    if (!id) return html`<span class="muted">volume</span>`;
    return images.data?.get(id) || html`<span class="muted" title=${id}>${id.slice(0, 8)}</span>`;
  };
  /** @type {import("../lib/ui.js").Column<Server>[]} */
  const columns = [
    { key: "name", label: "Name", render: (s) => html`<a href=${`#/servers/${s.id}`}>${s.name || s.id}</a>` },
    { key: "status", label: "Status", render: (s) => html`<${ServerStatus} server=${s} />` },
    { key: "power", label: "Power", render: (s) => powerState(s["OS-EXT-STS:power_state"]) },
    {
      key: "flavor", label: "Flavor",
      render: (s) => html`<span>${s.flavor?.original_name ?? s.flavor?.id ?? ""}
        <small class="muted kind">${flavorKind(s.flavor) === "baremetal" ? "bare metal" : "VM"}</small></span>`,
    },
    { key: "image", label: "Image", render: imageName },
    {
      key: "addresses", label: "Addresses", className: "addresses",
      render: (s) => html`<span>${addressLines(s.addresses).map((line) => html`<div>${line}</div>`)}</span>`,
    },
    {
      key: "actions", label: "Actions", className: "row-actions",
      render: (s) => html`<${ServerActions} session=${session} server=${s} onDone=${servers.reload} />`,
    },
  ];
  return html`<${Page} title="Servers" actions=${html`
      <button type="button" class="primary" onClick=${() => setCreating(true)}>Create server</button>`}>
    <${ErrorText} error=${servers.error} />
    ${servers.error && !servers.data ? null : html`
      <${Table} label="Servers" columns=${columns} rows=${servers.data} rowKey=${(/** @type {Server} */ s) => s.id}
        empty="No servers yet: create one." />`}
    ${creating ? html`<${CreateServer} session=${session} onClose=${() => setCreating(false)}
      onCreated=${() => { setCreating(false); servers.reload(); }} />` : null}
  </${Page}>`;
}
