// @ts-check
/**
 * The project's quotas and how much of them is used: Compute's absolute limits
 * (instances, cores, RAM, server groups), the user's key pairs, and Neutron's
 * quota details (networks, subnets, ports...) where Networking answers them.
 * Polled, so a server created elsewhere shows here too.
 */
import { html } from "htm/preact";
import { api } from "../lib/api.js";
import { computeUsage, networkUsage, usageShown } from "../lib/compute.js";
import { ErrorText, Page, usePoll } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */
/** @typedef {import("../lib/compute.js").Usage} Usage */

/** @param {{usage: Usage}} props */
function Bar({ usage }) {
  const shown = usageShown(usage);
  const id = `quota-${usage.label.replace(/\W+/g, "-").toLowerCase()}`;
  return html`<div class="quota" data-quota=${usage.label}>
    <div class="quota-head"><span id=${id} class="quota-label">${usage.label}</span>
      <span class="quota-text">${shown.text}</span></div>
    <div class=${`quota-bar ${shown.tone}`} role="meter" aria-labelledby=${id}
      aria-valuemin="0" aria-valuemax=${usage.limit < 0 ? undefined : usage.limit}
      aria-valuenow=${usage.used} aria-valuetext=${shown.text}>
      <span style=${`width: ${(shown.share * 100).toFixed(1)}%`}></span>
    </div>
  </div>`;
}

/**
 * @param {{title: string, usages: Usage[] | null, error: unknown}} props
 */
function Group({ title, usages, error }) {
  return html`<section class="card quota-group" aria-label=${title}>
    <h2>${title}</h2>
    <${ErrorText} error=${error} />
    ${usages === null && !error ? html`<p class="muted" role="status">Loading…</p>` : null}
    ${(usages ?? []).map((u) => html`<${Bar} key=${u.label} usage=${u} />`)}
  </section>`;
}

/** @param {{session: Session}} props */
export default function Overview({ session }) {
  const compute = usePoll(async () => {
    const [limits, keypairs] = await Promise.all([
      api(session, "compute", "GET", "/limits"),
      api(session, "compute", "GET", "/os-keypairs"),
    ]);
    const absolute = limits.limits.absolute;
    const usages = computeUsage(absolute);
    if (typeof absolute.maxTotalKeypairs === "number") {
      usages.push({ label: "Key pairs", used: keypairs.keypairs.length, limit: absolute.maxTotalKeypairs });
    }
    return usages;
  }, [session.token], 5000);
  const network = usePoll(async () => {
    const body = await api(session, "network", "GET", `/quotas/${session.project.id}/details`);
    return networkUsage(body.quota ?? {});
  }, [session.token], 10000);
  return html`<${Page} title="Overview">
    <p class="muted">Quota usage of project <strong>${session.project.name}</strong>.</p>
    <div class="quota-groups">
      <${Group} title="Compute" usages=${compute.data} error=${compute.error} />
      <${Group} title="Network" usages=${network.data} error=${network.error} />
    </div>
  </${Page}>`;
}
