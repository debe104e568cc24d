// @ts-check
/**
 * What the compute views compute from Nova's bodies (no view, no DOM, tested by
 * node --test): a server's power state in words, whether it is busy, its
 * addresses on one line, a flavor's kind, the body of a create, a quota's use.
 */

/** Nova's power_state integers (nova/compute/power_state.py). */
const POWER = /** @type {Record<number, string>} */ ({
  0: "no state", 1: "running", 3: "paused", 4: "shut down", 6: "crashed", 7: "suspended",
});

/** The power state in words ("" when the body has none). */
export function powerState(/** @type {number | null | undefined} */ value) {
  if (value === null || value === undefined) return "";
  return POWER[value] ?? String(value);
}

/** Statuses that change by themselves: the list polls faster while one shows. */
const TRANSIENT = new Set(["BUILD", "REBOOT", "HARD_REBOOT", "REBUILD", "RESIZE", "MIGRATING",
  "PASSWORD", "REVERT_RESIZE", "DELETED"]);

/**
 * Is this server on its way somewhere (building, rebooting, a task running)?
 * @param {{status?: string, "OS-EXT-STS:task_state"?: string | null}} server
 */
export function isBusy(server) {
  return TRANSIENT.has(server.status ?? "") || Boolean(server["OS-EXT-STS:task_state"]);
}

/**
 * A server's addresses, one string a network: "net: 10.0.0.5, fd00::5".
 * @param {Record<string, {addr: string}[]> | undefined} addresses
 * @returns {string[]}
 */
export function addressLines(addresses) {
  return Object.entries(addresses ?? {}).map(([network, list]) => {
    const addrs = (list ?? []).map((a) => a.addr).filter(Boolean);
    return addrs.length ? `${network}: ${addrs.join(", ")}` : `${network}: —`;
  });
}

/**
 * Bare metal or VM, by the flavor's extra specs (Ironic flavors ask for one
 * unit of a CUSTOM_ resource class and zero of the standard ones).
 * @param {{extra_specs?: Record<string, string>} | null | undefined} flavor
 * @returns {"baremetal" | "vm"}
 */
export function flavorKind(flavor) {
  const specs = flavor?.extra_specs ?? {};
  return Object.keys(specs).some((k) => k.startsWith("resources:CUSTOM_") && specs[k] !== "0")
    ? "baremetal" : "vm";
}

/**
 * "2 vCPU · 4 GiB RAM · 10 GB disk"
 * @param {{vcpus?: number, ram?: number, disk?: number}} flavor
 */
export function flavorSummary(flavor) {
  const ram = flavor.ram ?? 0;
  const memory = ram >= 1024 && ram % 1024 === 0 ? `${ram / 1024} GiB` : `${ram} MiB`;
  return `${flavor.vcpus ?? 0} vCPU · ${memory} RAM · ${flavor.disk ?? 0} GB disk`;
}

/**
 * @typedef {{
 *   name: string,
 *   flavor: string,
 *   image: string,
 *   network: string,
 *   keyName?: string,
 *   count?: number | string,
 *   minCount?: number | string,
 *   reservation?: string,
 * }} CreateForm
 */

/**
 * The body of POST /servers from the create form. The network is "auto",
 * "none" or a network's id. Counts are sent only when more than one.
 * @param {CreateForm} form
 * @returns {Record<string, any>}
 */
export function createBody(form) {
  /** @type {Record<string, any>} */
  const server = { name: form.name.trim(), flavorRef: form.flavor, imageRef: form.image };
  server.networks = form.network === "auto" || form.network === "none"
    ? form.network : [{ uuid: form.network }];
  if (form.keyName) server.key_name = form.keyName;
  const count = toCount(form.count) ?? 1;
  const least = toCount(form.minCount) ?? count;
  if (count !== 1 || least !== 1) {
    server.min_count = least;
    server.max_count = count;
  }
  /** @type {Record<string, any>} */
  const body = { server };
  const reservation = (form.reservation ?? "").trim();
  if (reservation) body["os:scheduler_hints"] = { reservation };
  return body;
}

/** @param {number | string | undefined} value @returns {number | undefined} */
function toCount(value) {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined; // the API says what is wrong with 0 or 1.5
}

/**
 * @typedef {{label: string, used: number, limit: number, unit?: string}} Usage
 */

/**
 * Nova's absolute limits as usages (cores, RAM, instances, server groups).
 * @param {Record<string, number>} absolute  GET /limits' limits.absolute
 * @returns {Usage[]}
 */
export function computeUsage(absolute) {
  /** @type {Usage[]} */
  const out = [];
  /** @type {[string, string, string, string | undefined][]} */
  const pairs = [
    ["Instances", "totalInstancesUsed", "maxTotalInstances", undefined],
    ["Cores", "totalCoresUsed", "maxTotalCores", undefined],
    ["RAM", "totalRAMUsed", "maxTotalRAMSize", "MiB"],
    ["Server groups", "totalServerGroupsUsed", "maxServerGroups", undefined],
  ];
  for (const [label, used, max, unit] of pairs) {
    if (typeof absolute[max] !== "number") continue;
    out.push({ label, used: absolute[used] ?? 0, limit: absolute[max], unit });
  }
  return out;
}

const NETWORK_LABELS = /** @type {Record<string, string>} */ ({
  network: "Networks", subnet: "Subnets", port: "Ports", router: "Routers",
  floatingip: "Floating IPs", security_group: "Security groups",
  security_group_rule: "Security group rules", subnetpool: "Subnet pools",
  rbac_policy: "RBAC policies",
});

/**
 * Neutron's quota details as usages, networks first.
 * @param {Record<string, {limit: number, used: number}>} quota  GET /quotas/{id}/details' quota
 * @returns {Usage[]}
 */
export function networkUsage(quota) {
  const order = Object.keys(NETWORK_LABELS);
  return Object.entries(quota)
    .filter(([, q]) => q && typeof q.limit === "number")
    .sort(([a], [b]) => rank(order, a) - rank(order, b))
    .map(([key, q]) => ({ label: NETWORK_LABELS[key] ?? key, used: q.used ?? 0, limit: q.limit }));
}

/** @param {string[]} order @param {string} key */
function rank(order, key) {
  const at = order.indexOf(key);
  return at < 0 ? order.length : at;
}

/**
 * How full a quota is: the share (0–1, capped), its tone, its words.
 * A limit of -1 is unlimited.
 * @param {Usage} usage
 * @returns {{share: number, tone: "ok" | "busy" | "bad", text: string}}
 */
export function usageShown(usage) {
  const unit = usage.unit ? ` ${usage.unit}` : "";
  if (usage.limit < 0) return { share: 0, tone: "ok", text: `${usage.used}${unit} used (no limit)` };
  const share = usage.limit === 0 ? (usage.used > 0 ? 1 : 0) : Math.min(1, usage.used / usage.limit);
  const tone = share >= 1 ? "bad" : share >= 0.8 ? "busy" : "ok";
  return { share, tone, text: `${usage.used}${unit} of ${usage.limit}${unit}` };
}

/**
 * What a console's websocket close means to the person at the terminal; the
 * service's own reason follows when it gave one.
 * @param {number} code
 * @param {string} reason
 */
export function closeMessage(code, reason) {
  const why = reason ? ` (${reason})` : "";
  switch (code) {
    case 4401:
      return `The console's link is not valid or has expired${why}. Connect again for a new one.`;
    case 4409:
      return `Someone else has this console open${why}. Only one can type at a time.`;
    case 4503:
      return `The console is unavailable${why}.`;
    case 4404:
      return `The console was not found${why}.`;
    case 1000:
    case 1005:
      return reason ? `The console closed: ${reason}.` : "The console closed.";
    case 1006:
      return "The connection to the console was lost.";
    default:
      return `The console closed (code ${code})${why}.`;
  }
}

/**
 * A websocket URL as this page can open it: the API answers with its own
 * idea of its address (ws:// to the host it was called by); behind a proxy
 * serving https the page must use wss on the same host.
 * @param {string} url
 * @param {{protocol: string, host: string}} here  location
 */
export function socketUrl(url, here) {
  const parsed = new URL(url, `${here.protocol}//${here.host}/`);
  if (here.protocol === "https:" && parsed.protocol === "ws:") parsed.protocol = "wss:";
  return parsed.toString();
}
