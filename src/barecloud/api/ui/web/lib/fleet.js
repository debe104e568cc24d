// @ts-check
/**
 * The fleet in memory: tens of thousands of nodes held in compact arrays (one
 * slot per node; states interned to small codes in typed arrays), their counts
 * by provision state, power state, maintenance and error, and a filter that
 * walks the arrays without allocating per node. Pure logic: the fleet view
 * renders what this computes (docs/design/web-ui.md, "The fleet view at 10,000
 * nodes").
 */

/**
 * The columns the fleet view reads from GET /baremetal/v1/nodes (`fields=`).
 * @typedef {{
 *   uuid: string,
 *   name?: string | null,
 *   provision_state?: string | null,
 *   power_state?: string | null,
 *   maintenance?: boolean | null,
 *   resource_class?: string | null,
 *   last_error?: string | null,
 * }} NodeRow
 */

/**
 * What a filter keeps: each set field must match; unset fields keep all.
 * @typedef {{
 *   state?: string | null,
 *   power?: string | null,
 *   maintenance?: boolean | null,
 *   error?: boolean | null,
 *   text?: string | null,
 * }} Filter
 */

/**
 * @typedef {{
 *   total: number,
 *   provision: Map<string, number>,
 *   power: Map<string, number>,
 *   maintenance: number,
 *   errors: number,
 * }} Counts
 */

/** Strings to small integer codes and back (code 0 is "none"). */
export class Interner {
  constructor() {
    /** @type {string[]} */
    this.names = [""];
    /** @type {Map<string, number>} */
    this.codes = new Map();
  }

  /** @param {string | null | undefined} name */
  code(name) {
    if (!name) return 0;
    let code = this.codes.get(name);
    if (code === undefined) {
      code = this.names.length;
      this.names.push(name);
      this.codes.set(name, code);
    }
    return code;
  }

  /** The code of a known name, -1 if never seen (so nothing matches it). */
  find(/** @type {string} */ name) {
    return this.codes.get(name) ?? -1;
  }

  /** @param {number} code */
  name(code) {
    return this.names[code] ?? "";
  }
}

const NONE = "none";

export class Fleet {
  /** @param {number} [capacity] */
  constructor(capacity = 1024) {
    this.size = 0;
    this.states = new Interner();
    this.powers = new Interner();
    this.classes = new Interner();
    /** @type {string[]} */ this.uuid = [];
    /** @type {string[]} */ this.name = [];
    /** @type {string[]} lower-cased "name uuid", what the search box matches */
    this.haystack = [];
    /** @type {(string | null)[]} */ this.lastError = [];
    this.state = new Uint16Array(capacity);
    this.power = new Uint16Array(capacity);
    this.rclass = new Uint16Array(capacity);
    this.maint = new Uint8Array(capacity);
    this.error = new Uint8Array(capacity);
    this.seen = new Uint32Array(capacity);
    /** @type {Map<string, number>} uuid → slot */
    this.index = new Map();
    /** bumped on every change: views compare it to know when to filter again */
    this.version = 0;
    this.generation = 0;
  }

  /** @param {number} need */
  grow(need) {
    const capacity = this.state.length;
    if (need <= capacity) return;
    const next = Math.max(need, capacity * 2);
    /** @template {Uint8Array | Uint16Array | Uint32Array} A @param {A} a @returns {A} */
    const bigger = (a) => {
      const b = /** @type {A} */ (new /** @type {any} */ (a.constructor)(next));
      b.set(a);
      return b;
    };
    this.state = bigger(this.state);
    this.power = bigger(this.power);
    this.rclass = bigger(this.rclass);
    this.maint = bigger(this.maint);
    this.error = bigger(this.error);
    this.seen = bigger(this.seen);
  }

  /**
   * Add nodes, or update the ones already held (by uuid).
   * @param {NodeRow[]} nodes
   */
  upsert(nodes) {
    this.grow(this.size + nodes.length);
    for (const node of nodes) {
      let i = this.index.get(node.uuid);
      if (i === undefined) {
        i = this.size++;
        this.index.set(node.uuid, i);
        this.uuid[i] = node.uuid;
      }
      const name = node.name ?? "";
      this.name[i] = name;
      this.haystack[i] = `${name} ${node.uuid}`.toLowerCase();
      this.state[i] = this.states.code(node.provision_state);
      this.power[i] = this.powers.code(node.power_state ?? NONE);
      this.rclass[i] = this.classes.code(node.resource_class);
      this.maint[i] = node.maintenance ? 1 : 0;
      this.lastError[i] = node.last_error || null;
      this.error[i] = node.last_error ? 1 : 0;
      this.seen[i] = this.generation;
    }
    this.version++;
  }

  /** Start a full re-read: nodes not upserted before `endSync` are dropped. */
  beginSync() {
    this.generation++;
  }

  /** Drop the nodes the re-read since `beginSync` did not see (deleted ones). */
  endSync() {
    let out = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.seen[i] !== this.generation) {
        this.index.delete(this.uuid[i]);
        continue;
      }
      if (out !== i) {
        this.uuid[out] = this.uuid[i];
        this.name[out] = this.name[i];
        this.haystack[out] = this.haystack[i];
        this.lastError[out] = this.lastError[i];
        this.state[out] = this.state[i];
        this.power[out] = this.power[i];
        this.rclass[out] = this.rclass[i];
        this.maint[out] = this.maint[i];
        this.error[out] = this.error[i];
        this.seen[out] = this.seen[i];
        this.index.set(this.uuid[out], out);
      }
      out++;
    }
    if (out !== this.size) {
      this.uuid.length = this.name.length = this.haystack.length = this.lastError.length = out;
      this.size = out;
      this.version++;
    }
  }

  /** Forget one node (deleted). */
  remove(/** @type {string} */ uuid) {
    if (!this.index.has(uuid)) return;
    this.generation++;
    for (let i = 0; i < this.size; i++) this.seen[i] = this.generation;
    this.seen[/** @type {number} */ (this.index.get(uuid))] = 0;
    this.endSync();
  }

  /**
   * The node in slot `i`, as the API named its fields.
   * @param {number} i
   * @returns {Required<NodeRow>}
   */
  row(i) {
    const power = this.powers.name(this.power[i]);
    return {
      uuid: this.uuid[i],
      name: this.name[i] || null,
      provision_state: this.states.name(this.state[i]) || null,
      power_state: power === NONE ? null : power,
      maintenance: this.maint[i] === 1,
      resource_class: this.classes.name(this.rclass[i]) || null,
      last_error: this.lastError[i],
    };
  }

  /** @returns {Counts} */
  counts() {
    const byState = new Uint32Array(this.states.names.length);
    const byPower = new Uint32Array(this.powers.names.length);
    let maintenance = 0;
    let errors = 0;
    for (let i = 0; i < this.size; i++) {
      byState[this.state[i]]++;
      byPower[this.power[i]]++;
      maintenance += this.maint[i];
      errors += this.error[i];
    }
    /** @param {Interner} interner @param {Uint32Array} counts */
    const named = (interner, counts) => {
      /** @type {Map<string, number>} */
      const out = new Map();
      const order = [...counts.keys()].filter((c) => counts[c] > 0)
        .sort((a, b) => counts[b] - counts[a] || interner.name(a).localeCompare(interner.name(b)));
      for (const c of order) out.set(interner.name(c) || NONE, counts[c]);
      return out;
    };
    return {
      total: this.size,
      provision: named(this.states, byState),
      power: named(this.powers, byPower),
      maintenance,
      errors,
    };
  }

  /**
   * The slots of the nodes the filter keeps, in the order they were read.
   * @param {Filter} filter
   * @returns {Int32Array}
   */
  filter(filter) {
    const state = filter.state ? (filter.state === NONE ? 0 : this.states.find(filter.state)) : -2;
    const power = filter.power ? this.powers.find(filter.power) : -2;
    const maint = filter.maintenance == null ? -1 : filter.maintenance ? 1 : 0;
    const error = filter.error == null ? -1 : filter.error ? 1 : 0;
    const words = (filter.text ?? "").toLowerCase().split(/\s+/).filter(Boolean);
    const out = new Int32Array(this.size);
    let n = 0;
    if ((filter.state && state === -1) || (filter.power && power === -1)) return out.subarray(0, 0);
    const stateCodes = this.state;
    const powerCodes = this.power;
    const maints = this.maint;
    const errors = this.error;
    const hay = this.haystack;
    next: for (let i = 0; i < this.size; i++) {
      if (state !== -2 && stateCodes[i] !== state) continue;
      if (power !== -2 && powerCodes[i] !== power) continue;
      if (maint !== -1 && maints[i] !== maint) continue;
      if (error !== -1 && errors[i] !== error) continue;
      for (const word of words) if (!hay[i].includes(word)) continue next;
      out[n++] = i;
    }
    return out.subarray(0, n);
  }
}

/**
 * A filter from the hash's query (`#/fleet?state=active&power=power+on&maintenance=1&error=1&q=lab`).
 * @param {URLSearchParams} query
 * @returns {Filter}
 */
export function filterFromQuery(query) {
  /** @param {string} key */
  const flag = (key) => {
    const value = query.get(key);
    return value === "1" || value === "true" ? true : value === "0" || value === "false" ? false : null;
  };
  return {
    state: query.get("state") || null,
    power: query.get("power") || null,
    maintenance: flag("maintenance"),
    error: flag("error"),
    text: query.get("q") || null,
  };
}

/**
 * The hash query of a filter (empty fields left out), the inverse of `filterFromQuery`.
 * @param {Filter} filter
 * @returns {string}
 */
export function filterToQuery(filter) {
  const query = new URLSearchParams();
  if (filter.state) query.set("state", filter.state);
  if (filter.power) query.set("power", filter.power);
  if (filter.maintenance != null) query.set("maintenance", filter.maintenance ? "1" : "0");
  if (filter.error != null) query.set("error", filter.error ? "1" : "0");
  if (filter.text) query.set("q", filter.text);
  return query.toString();
}

/**
 * Run `work` over `items` with at most `limit` in flight; the result per item
 * (its error, or null when it worked), in the items' order.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<unknown>} work
 * @param {(done: number) => void} [progress]
 * @returns {Promise<(unknown | null)[]>}
 */
export async function inFlight(items, limit, work, progress) {
  /** @type {(unknown | null)[]} */
  const results = new Array(items.length).fill(null);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await work(items[i]);
      } catch (e) {
        results[i] = e ?? new Error("failed");
      }
      progress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
