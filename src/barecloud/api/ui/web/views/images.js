// @ts-check
/**
 * The images this project sees (Glance's /images: its own, public, shared
 * and community ones). Upload one: Glance's two steps, the image record
 * (POST /images, "queued") and then its data (PUT /images/{id}/file), sent
 * with a progress bar; the list shows queued, saving, active as they come.
 * Delete one.
 */
import { html } from "htm/preact";
import { useRef, useState } from "preact/hooks";
import { api, isAdmin, listAll } from "../lib/api.js";
import { size, when } from "../lib/format.js";
import { Badge, Confirm, ErrorText, Page, Table, notify, usePoll } from "../lib/ui.js";
import { percent, upload } from "../lib/upload.js";
import { DialogForm } from "./network.js";

/**
 * @typedef {{
 *   id: string, name: string | null, status: string, size: number | null, visibility: string,
 *   disk_format: string | null, container_format: string | null, owner: string,
 *   protected: boolean, created_at: string, os_glance_failure_reason?: string,
 * }} Image
 * @typedef {{
 *   id: string, name: string, file: string, loaded: number, total: number,
 *   state: "sending" | "done" | "failed", error?: unknown, abort: AbortController,
 * }} Upload
 * @typedef {import("../lib/api.js").Session} Session
 */

/** Glance's states that change by themselves: the list is polled faster while one is shown. */
const MOVING = new Set(["queued", "saving", "importing", "uploading"]);

/**
 * @param {{session: Session, onClose: () => void, onStart: (image: Image, file: File) => void}} props
 */
function UploadDialog({ session, onClose, onStart }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const submit = async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
    const file = form.get("file");
    if (!(file instanceof File) || !file.name) {
      setError(new Error("Choose the image file."));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const image = await api(session, "image", "POST", "/images", {
        body: {
          name: String(form.get("name") ?? "").trim() || file.name,
          disk_format: String(form.get("disk_format")),
          container_format: String(form.get("container_format")),
          visibility: String(form.get("visibility")),
        },
      });
      onStart(image, file);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${DialogForm} title="Upload an image" onClose=${onClose} onSubmit=${submit} busy=${busy}
      error=${error} submitLabel="Upload">
    <label class="field"><span class="field-label">Name</span><input name="name" autofocus
      placeholder="Empty: the file's name" /></label>
    <label class="field"><span class="field-label">File</span><input name="file" type="file" required /></label>
    <div class="field-row">
      <label class="field"><span class="field-label">Disk format</span>
        <select name="disk_format"><option value="raw">raw</option><option value="qcow2">qcow2</option></select></label>
      <label class="field"><span class="field-label">Container format</span>
        <select name="container_format"><option value="bare">bare</option></select></label>
      <label class="field"><span class="field-label">Visibility</span>
        <select name="visibility">
          <option value="private">private</option><option value="shared">shared</option>
          <option value="community">community</option><option value="public">public</option>
        </select></label>
    </div>
  </${DialogForm}>`;
}

/** @param {{item: Upload, onDismiss: () => void}} props */
function UploadCard({ item, onDismiss }) {
  const done = percent({ loaded: item.loaded, total: item.total });
  const label = `Uploading ${item.name}`;
  return html`<div class="card upload" role="group" aria-label=${label}>
    <div class="upload-head"><strong>${item.name}</strong> <span class="muted">${item.file}</span>
      ${item.state === "sending"
        ? html`<button type="button" onClick=${() => item.abort.abort()}>Cancel</button>`
        : html`<button type="button" class="icon" aria-label=${`Dismiss ${item.name}`} onClick=${onDismiss}>×</button>`}
    </div>
    <progress max="100" value=${done} aria-label=${label}>${done} %</progress>
    <p class="muted upload-text" aria-live="polite">${item.state === "sending"
      ? `Sending ${size(item.loaded)} of ${size(item.total)} (${done} %)`
      : item.state === "done" ? `Uploaded ${size(item.total)}.` : "The upload failed."}</p>
    <${ErrorText} error=${item.error} />
  </div>`;
}

/** @param {{session: Session}} props */
export default function Images({ session }) {
  const [uploads, setUploads] = useState(/** @type {Upload[]} */ ([]));
  const sending = uploads.some((u) => u.state === "sending");
  const [fast, setFast] = useState(false);
  const { data, error, reload } = usePoll(async () => {
    const images = /** @type {Image[]} */ (await listAll(session, "image", "/images", "images"));
    setFast(images.some((i) => MOVING.has(i.status)));
    return images;
  }, [session.token, fast || sending], fast || sending ? 1500 : 10_000);
  const [dialog, setDialog] = useState(/** @type {null | {kind: "upload"} | {kind: "delete", image: Image}} */ (null));
  const close = () => setDialog(null);
  const uploadsRef = useRef(uploads);
  uploadsRef.current = uploads;
  const patch = (/** @type {string} */ id, /** @type {Partial<Upload>} */ change) =>
    setUploads((list) => list.map((u) => (u.id === id ? { ...u, ...change } : u)));

  const start = (/** @type {Image} */ image, /** @type {File} */ file) => {
    close();
    const abort = new AbortController();
    const name = image.name || image.id;
    setUploads((list) => [...list, { id: image.id, name, file: file.name, loaded: 0, total: file.size, state: "sending", abort }]);
    reload(); // the image shows, queued
    upload(session, "image", "PUT", `/images/${image.id}/file`, file, {
      contentType: "application/octet-stream",
      signal: abort.signal,
      onProgress: (p) => patch(image.id, { loaded: p.loaded, total: p.total }),
    }).then(
      () => {
        patch(image.id, { state: "done" });
        notify(`Image ${name} uploaded.`);
        reload();
      },
      (err) => {
        patch(image.id, { state: "failed", error: err });
        notify(`The upload of ${name} failed: ${err.message}`, "bad");
        reload();
      },
    );
  };

  const mayDelete = (/** @type {Image} */ i) => i.owner === session.project.id || isAdmin(session);
  const images = data ? [...data].sort((a, b) => (b.created_at ?? "").localeCompare(a.created_at ?? "")) : null;
  return html`<${Page} title="Images" actions=${html`
      <button type="button" class="primary" onClick=${() => setDialog({ kind: "upload" })}>Upload image</button>`}>
    ${uploads.length ? html`<div class="uploads">${uploads.map((u) => html`<${UploadCard} key=${u.id} item=${u}
      onDismiss=${() => setUploads((list) => list.filter((x) => x.id !== u.id))} />`)}</div>` : null}
    <${ErrorText} error=${error} />
    <${Table} label="Images" rows=${images} rowKey=${(/** @type {Image} */ i) => i.id} empty="No image."
      columns=${[
        { key: "name", label: "Name", render: (/** @type {Image} */ i) => i.name || html`<code class="muted">${i.id}</code>` },
        { key: "status", label: "Status", render: (/** @type {Image} */ i) => html`<${Badge} state=${i.status} />
          ${i.os_glance_failure_reason ? html`<div class="muted small">${i.os_glance_failure_reason}</div>` : null}` },
        { key: "size", label: "Size", className: "num", render: (/** @type {Image} */ i) => size(i.size) },
        { key: "visibility", label: "Visibility" },
        { key: "disk_format", label: "Disk format", render: (/** @type {Image} */ i) => i.disk_format ?? "" },
        { key: "owner", label: "Owner", render: (/** @type {Image} */ i) =>
          i.owner === session.project.id ? "this project" : html`<span class="muted">another project</span>` },
        { key: "created_at", label: "Created", render: (/** @type {Image} */ i) => when(i.created_at) },
        { key: "actions", label: "", className: "row-actions", render: (/** @type {Image} */ i) => mayDelete(i)
          ? html`<button type="button" class="danger" disabled=${i.protected}
              title=${i.protected ? "Protected: unprotect it first" : undefined}
              aria-label=${`Delete ${i.name || i.id}`} onClick=${() => setDialog({ kind: "delete", image: i })}>Delete</button>`
          : null },
      ]} />
    ${dialog?.kind === "upload" ? html`<${UploadDialog} session=${session} onClose=${close} onStart=${start} />` : null}
    ${dialog?.kind === "delete" ? html`<${Confirm} title=${`Delete image ${dialog.image.name || dialog.image.id}?`}
      message="Servers already deployed from it keep running."
      action=${() => {
        uploadsRef.current.find((u) => u.id === dialog.image.id && u.state === "sending")?.abort.abort();
        return api(session, "image", "DELETE", `/images/${dialog.image.id}`);
      }}
      onClose=${close} onDone=${() => {
        setUploads((list) => list.filter((u) => u.id !== dialog.image.id));
        notify(`Image ${dialog.image.name || dialog.image.id} deleted.`);
        reload();
      }} />` : null}
  </${Page}>`;
}
