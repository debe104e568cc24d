// @ts-check
/** Placeholder: this view is being built (issue 19). */
import { html } from "htm/preact";
import { Page } from "../lib/ui.js";

export default function View() {
  return html`<${Page} title="networks"><p class="muted">Not built yet.</p></${Page}>`;
}
