// @ts-check
/**
 * Hash routes (`#/servers/<id>`): the page stays /ui/, so a reload or a shared
 * link lands on the same view, and the server needs no route of its own.
 */

/**
 * @typedef {{
 *   path: string,
 *   title: string,
 *   nav?: "project" | "admin",
 *   admin?: boolean,
 *   load: () => Promise<{default: import("preact").FunctionComponent<any>}>,
 * }} Route
 */

/**
 * The route a path matches, and its `:name` parameters.
 * @param {Route[]} routes
 * @param {string} path
 * @returns {{route: Route, params: Record<string, string>} | null}
 */
export function match(routes, path) {
  const parts = path.split("?")[0].split("/").filter(Boolean);
  for (const route of routes) {
    const want = route.path.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    /** @type {Record<string, string>} */
    const params = {};
    let ok = true;
    want.forEach((segment, i) => {
      if (segment.startsWith(":")) params[segment.slice(1)] = decodeURIComponent(parts[i]);
      else if (segment !== parts[i]) ok = false;
    });
    if (ok) return { route, params };
  }
  return null;
}

/** The query of the current hash (`#/fleet?state=active` gives state=active). */
export function hashQuery(/** @type {string} */ hash = location.hash) {
  const at = hash.indexOf("?");
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "");
}

/** The current path, without the leading `#`. */
export function currentPath() {
  return location.hash.replace(/^#/, "") || "/";
}

export function navigate(/** @type {string} */ path) {
  location.hash = path;
}
