// @ts-check
/**
 * The pieces every view is made of: a page, a table, a dialog, a form field,
 * a state badge, an error, a notice, and the hooks that poll the APIs. Plain
 * HTML elements (button, dialog, label, table) so that the keyboard and
 * screen readers work without extra code.
 */
import { html } from "htm/preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

/** @typedef {import("preact").ComponentChildren} Children */

/**
 * @param {{title: string, actions?: Children, children?: Children}} props
 */
export function Page({ title, actions, children }) {
  useEffect(() => {
    document.title = `${title} · barecloud`;
  }, [title]);
  return html`<section class="page">
    <header class="page-head"><h1>${title}</h1><div class="actions">${actions}</div></header>
    ${children}
  </section>`;
}

/**
 * @template T
 * @typedef {{
 *   key: string,
 *   label: string,
 *   render?: (row: T) => Children,
 *   className?: string,
 * }} Column
 */

/**
 * @template T
 * @param {{
 *   columns: Column<T>[],
 *   rows: T[] | null,
 *   rowKey: (row: T) => string,
 *   empty?: string,
 *   label?: string,
 * }} props
 */
export function Table({ columns, rows, rowKey, empty = "Nothing here yet.", label }) {
  if (rows === null) return html`<p class="muted" role="status">Loading…</p>`;
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap"><table class="cards-on-phone" aria-label=${label}>
    <thead><tr>${columns.map((c) => html`<th scope="col" class=${c.className}>${c.label}</th>`)}</tr></thead>
    <tbody>${rows.map(
      (row) => html`<tr key=${rowKey(row)}>${columns.map(
        (c) => html`<td class=${c.className} data-label=${c.label}>
          ${c.render ? c.render(row) : /** @type {any} */ (row)[c.key]}</td>`,
      )}</tr>`,
    )}</tbody>
  </table></div>`;
}

/**
 * A modal dialog (the browser's own: Escape closes it, focus stays inside).
 * @param {{title: string, onClose: () => void, children?: Children, wide?: boolean}} props
 */
export function Dialog({ title, onClose, children, wide = false }) {
  const ref = useRef(/** @type {HTMLDialogElement | null} */ (null));
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return html`<dialog ref=${ref} class=${wide ? "wide" : ""} aria-label=${title}
      onClose=${onClose} onCancel=${(/** @type {Event} */ e) => { e.preventDefault(); onClose(); }}>
    <header class="dialog-head"><h2>${title}</h2>
      <button type="button" class="icon" aria-label="Close" onClick=${onClose}>×</button></header>
    ${children}
  </dialog>`;
}

/**
 * @param {{label: string, hint?: string, children?: Children}} props
 */
export function Field({ label, hint, children }) {
  // The hint stays outside the label: it is not part of the input's name.
  return html`<div class="field"><label><span class="field-label">${label}</span>${children}</label>
    ${hint ? html`<small class="muted">${hint}</small>` : null}</div>`;
}

/** @param {{error: unknown}} props */
export function ErrorText({ error }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return html`<p class="error" role="alert">${message}</p>`;
}

const TONES = /** @type {Record<string, string>} */ ({
  active: "ok", available: "ok", running: "ok", "power on": "ok", up: "ok", enabled: "ok",
  error: "bad", "deploy failed": "bad", "clean failed": "bad", "inspect failed": "bad", down: "bad",
  killed: "bad", deleted: "muted", "power off": "muted", shutoff: "muted", stopped: "muted",
  build: "busy", building: "busy", deploying: "busy", "wait call-back": "busy", cleaning: "busy",
  "clean wait": "busy", inspecting: "busy", "inspect wait": "busy", saving: "busy", queued: "busy",
  pending: "busy", starting: "busy", deleting: "busy", rebooting: "busy", reboot: "busy",
  hard_reboot: "busy", resize: "busy", rebuild: "busy", importing: "busy", uploading: "busy",
});

/** A state, colored by what it means (ok, busy, bad). */
export function Badge(/** @type {{state: string | null | undefined}} */ { state }) {
  if (!state) return html`<span class="badge muted">—</span>`;
  const tone = TONES[state.toLowerCase()] ?? "plain";
  return html`<span class=${`badge ${tone}`}>${state}</span>`;
}

/** @type {(message: string, tone?: "ok" | "bad") => void} */
let announce = () => {};

/** Tell the user something happened (shown for a few seconds, read out by screen readers). */
export function notify(/** @type {string} */ message, /** @type {"ok" | "bad"} */ tone = "ok") {
  announce(message, tone);
}

/** Where notices appear; the app renders one. */
export function Notices() {
  const [items, setItems] = useState(/** @type {{id: number, message: string, tone: string}[]} */ ([]));
  useEffect(() => {
    let next = 0;
    announce = (message, tone = "ok") => {
      const id = ++next;
      setItems((list) => [...list, { id, message, tone }]);
      setTimeout(() => setItems((list) => list.filter((n) => n.id !== id)), tone === "bad" ? 8000 : 4000);
    };
  }, []);
  return html`<div class="notices" role="status" aria-live="polite">
    ${items.map((n) => html`<p key=${n.id} class=${`notice ${n.tone}`}>${n.message}</p>`)}</div>`;
}

/**
 * Load something, and again every `interval` ms while the page is visible
 * (live status without a reload). `reload()` loads at once.
 * @template T
 * @param {() => Promise<T>} load
 * @param {unknown[]} deps
 * @param {number} [interval]  0: load once
 * @returns {{data: T | null, error: unknown, reload: () => void}}
 */
export function usePoll(load, deps, interval = 0) {
  const [data, setData] = useState(/** @type {T | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let alive = true;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const run = async () => {
      try {
        const value = await load();
        if (alive) {
          setData(value);
          setError(null);
        }
      } catch (e) {
        if (alive) setError(e);
      }
      if (alive && interval) timer = setTimeout(run, document.hidden ? interval * 4 : interval);
    };
    run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload };
}

/**
 * Run an action from a button: busy while it runs, its error kept for display.
 * @param {(...args: any[]) => Promise<unknown>} action
 * @returns {{run: (...args: any[]) => Promise<boolean>, busy: boolean, error: unknown, clear: () => void}}
 */
export function useAction(action) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const run = async (/** @type {any[]} */ ...args) => {
    setBusy(true);
    setError(null);
    try {
      await action(...args);
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clear: () => setError(null) };
}

/**
 * Ask before something that cannot be undone (a delete): the action runs from
 * the dialog's button, and its error (the API's words) stays in the dialog.
 * @param {{
 *   title: string,
 *   message?: Children,
 *   confirm?: string,
 *   action: () => Promise<unknown>,
 *   onClose: () => void,
 *   onDone?: () => void,
 * }} props
 */
export function Confirm({ title, message, confirm = "Delete", action, onClose, onDone }) {
  const { run, busy, error } = useAction(action);
  const go = async () => {
    if (await run()) {
      onClose();
      onDone?.();
    }
  };
  return html`<${Dialog} title=${title} onClose=${onClose}>
    ${message ? html`<p>${message}</p>` : null}
    <${ErrorText} error=${error} />
    <div class="form-actions">
      <button type="button" onClick=${onClose}>Cancel</button>
      <button type="button" class="danger" disabled=${busy} onClick=${go}>${busy ? "Working…" : confirm}</button>
    </div>
  </${Dialog}>`;
}
