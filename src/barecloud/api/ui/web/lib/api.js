// @ts-check
/**
 * The OpenStack APIs, called with the user's own token: the UI is just another
 * client (docs/design/web-ui.md). Nothing here knows a view; views call
 * `api(session, service, ...)` and show `ApiError.message`, which is the
 * service's own words taken out of its error format.
 */

/** Where each service lives on this origin (the catalog's paths, services/identity/catalog.py). */
export const PATHS = {
  identity: "/identity/v3",
  compute: "/compute/v2.1",
  baremetal: "/baremetal/v1",
  image: "/image/v2",
  network: "/network/v2.0",
  reservation: "/reservation/v1",
};

/** @typedef {keyof typeof PATHS} Service */

/** The microversion each call asks for: the newest this barecloud serves. */
const VERSION_HEADERS = /** @type {Record<Service, Record<string, string>>} */ ({
  identity: {},
  compute: { "OpenStack-API-Version": "compute 2.96" },
  baremetal: { "X-OpenStack-Ironic-API-Version": "1.78" },
  image: {},
  network: {},
  reservation: {},
});

/**
 * @typedef {{id: string, name: string}} Ref
 * @typedef {{
 *   token: string,
 *   expiresAt: number,
 *   user: Ref,
 *   project: Ref,
 *   domain: string,
 *   roles: string[],
 * }} Session
 */

const STORE_KEY = "barecloud.session";

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {unknown} [body]
   */
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

/** @type {(reason: string) => void} */
let expiredHandler = () => {};

/** Who is told when the token stops working (the app goes back to its login page). */
export function onExpired(/** @type {(reason: string) => void} */ handler) {
  expiredHandler = handler;
}

/** Tell the app the token stopped working (a call outside `api()` was answered 401). */
export function expired(/** @type {string} */ reason) {
  expiredHandler(reason);
}

/**
 * The message an OpenStack error body carries, in each service's format:
 * Nova `{"itemNotFound": {"message"}}`, Keystone `{"error": {"message"}}`,
 * Ironic `{"error_message": "<json with faultstring>"}`, Neutron
 * `{"NeutronError": {"message"}}`, Blazar `{"error_message": "..."}`,
 * Glance's plain text or HTML.
 * @param {number} status
 * @param {string} text
 * @returns {string}
 */
export function errorMessage(status, text) {
  /** @type {unknown} */
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    const plain = text.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
    return plain ? plain.slice(0, 500) : `HTTP ${status}`;
  }
  const found = messageIn(body, 0);
  return found ?? `HTTP ${status}`;
}

/**
 * @param {unknown} body
 * @param {number} depth
 * @returns {string | null}
 */
function messageIn(body, depth) {
  if (typeof body === "string") {
    if (depth < 2 && body.startsWith("{")) {
      try {
        return messageIn(JSON.parse(body), depth + 1) ?? body;
      } catch {
        return body;
      }
    }
    return body || null;
  }
  if (!body || typeof body !== "object" || depth > 3) return null;
  const record = /** @type {Record<string, unknown>} */ (body);
  for (const key of ["faultstring", "message", "error_message", "detail", "title"]) {
    const value = record[key];
    if (typeof value === "string" && value) return messageIn(value, depth + 1);
  }
  for (const value of Object.values(record)) {
    if (value && typeof value === "object") {
      const inner = messageIn(value, depth + 1);
      if (inner) return inner;
    }
  }
  return null;
}

/**
 * Call one service.
 * @param {Session | null} session  null: no token (the login itself)
 * @param {Service} service
 * @param {string} method
 * @param {string} path  relative to the service's root, with its query
 * @param {{body?: unknown, headers?: Record<string, string>, raw?: boolean}} [options]
 * @returns {Promise<any>}  the parsed JSON (null for an empty body), or the Response when raw
 */
export async function api(session, service, method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json", ...VERSION_HEADERS[service], ...options.headers };
  /** @type {BodyInit | undefined} */
  let body;
  if (options.body !== undefined) {
    if (options.body instanceof Blob || options.body instanceof ArrayBuffer) {
      body = options.body;
    } else {
      body = JSON.stringify(options.body);
      headers["Content-Type"] ??= "application/json";
    }
  }
  if (session) headers["X-Auth-Token"] = session.token;
  const response = await fetch(PATHS[service] + path, { method, headers, body });
  if (!response.ok) {
    const message = errorMessage(response.status, await response.text());
    if (response.status === 401 && headers["X-Auth-Token"]) expiredHandler(message);
    throw new ApiError(response.status, message);
  }
  if (options.raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Every item of a paged list, following the service's own next links.
 * @param {Session} session
 * @param {Service} service
 * @param {string} path
 * @param {string} key  the list's key in the body ("servers", "nodes", ...)
 * @param {(items: any[]) => void} [onPage]  called with each page as it comes
 * @returns {Promise<any[]>}
 */
export async function listAll(session, service, path, key, onPage) {
  /** @type {any[]} */
  const all = [];
  /** @type {string | null} */
  let next = path;
  while (next) {
    const body = await api(session, service, "GET", next);
    const items = body[key] ?? [];
    all.push(...items);
    onPage?.(items);
    next = items.length ? nextPath(service, body, key) : null;
  }
  return all;
}

/**
 * @param {Service} service
 * @param {any} body
 * @param {string} key
 * @returns {string | null}
 */
function nextPath(service, body, key) {
  /** @type {string | undefined} */
  let href;
  if (typeof body.next === "string") href = body.next; // Ironic (absolute), Glance (relative to /image)
  for (const link of body[`${key}_links`] ?? []) {
    if (link.rel === "next") href = link.href; // Nova, Neutron
  }
  if (!href) return null;
  const url = new URL(href, location.origin + "/image/");
  const root = PATHS[service];
  const at = url.pathname.indexOf(root);
  if (at >= 0) return url.pathname.slice(at + root.length) + url.search;
  // Glance's next is "/v2/images?marker=...": the path under /image.
  return url.pathname.replace(/^\/(image\/)?v2/, "") + url.search;
}

/**
 * Log in with a password, scoped to a project (by name, or the user's first).
 * @param {string} username
 * @param {string} password
 * @param {string} [domain]
 * @param {string} [projectName]
 * @returns {Promise<Session>}
 */
export async function login(username, password, domain = "Default", projectName) {
  const identity = {
    methods: ["password"],
    password: { user: { name: username, domain: { name: domain }, password } },
  };
  const unscoped = await issue({ identity });
  const projects = await myProjects(unscoped.token);
  const project = projectName ? projects.find((p) => p.name === projectName) : projects[0];
  if (!project) {
    throw new ApiError(401, projectName ? `You have no role on project ${projectName}.` : "You have no role on any project.");
  }
  return scoped(unscoped.token, project.id, domain);
}

/**
 * The same user, on another of their projects (a token for a token).
 * @param {Session} session
 * @param {string} projectId
 * @returns {Promise<Session>}
 */
export async function switchProject(session, projectId) {
  return scoped(session.token, projectId, session.domain);
}

/**
 * @param {string} token
 * @param {string} projectId
 * @param {string} domain
 * @returns {Promise<Session>}
 */
async function scoped(token, projectId, domain) {
  const session = await issue({
    identity: { methods: ["token"], token: { id: token } },
    scope: { project: { id: projectId } },
  });
  return { ...session, domain };
}

/**
 * @param {object} auth
 * @returns {Promise<Session>}
 */
async function issue(auth) {
  const response = await api(null, "identity", "POST", "/auth/tokens", { body: { auth }, raw: true });
  const token = response.headers.get("X-Subject-Token") ?? "";
  const body = (await response.json()).token;
  return {
    token,
    expiresAt: Date.parse(body.expires_at),
    user: { id: body.user.id, name: body.user.name },
    project: body.project ? { id: body.project.id, name: body.project.name } : { id: "", name: "" },
    domain: body.user.domain?.name ?? "Default",
    roles: (body.roles ?? []).map((/** @type {Ref} */ r) => r.name),
  };
}

/**
 * The projects this token's user has a role on.
 * @param {string} token
 * @returns {Promise<Ref[]>}
 */
export async function myProjects(token) {
  const body = await api(null, "identity", "GET", "/auth/projects", { headers: { "X-Auth-Token": token } });
  return body.projects.map((/** @type {Ref} */ p) => ({ id: p.id, name: p.name }));
}

/** Revoke the token (best effort: the session is forgotten either way). */
export async function logout(/** @type {Session} */ session) {
  forget();
  try {
    await api(session, "identity", "DELETE", "/auth/tokens", { headers: { "X-Subject-Token": session.token } });
  } catch {
    // already expired or revoked: nothing more to do
  }
}

/** Is this an operator (admin role on its project)? */
export function isAdmin(/** @type {Session} */ session) {
  return session.roles.includes("admin");
}

/** @returns {Session | null} the session of this browser tab, unless expired */
export function restore() {
  const text = sessionStorage.getItem(STORE_KEY);
  if (!text) return null;
  try {
    const session = /** @type {Session} */ (JSON.parse(text));
    return session.expiresAt > Date.now() ? session : null;
  } catch {
    return null;
  }
}

export function remember(/** @type {Session} */ session) {
  sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
}

export function forget() {
  sessionStorage.removeItem(STORE_KEY);
}
