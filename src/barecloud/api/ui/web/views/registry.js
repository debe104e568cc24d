// @ts-check
/**
 * Every view of the UI and where it sits in the navigation. Views load on
 * first use (their modules are fetched then), so the first page costs only
 * the shell and that one view.
 */

/** @type {import("../lib/router.js").Route[]} */
export const ROUTES = [
  { path: "/overview", title: "Overview", nav: "project", load: () => import("./overview.js") },
  { path: "/servers", title: "Servers", nav: "project", load: () => import("./servers.js") },
  { path: "/servers/:id", title: "Server", load: () => import("./server.js") },
  { path: "/networks", title: "Networks", nav: "project", load: () => import("./networks.js") },
  { path: "/networks/:id", title: "Network", load: () => import("./network.js") },
  { path: "/images", title: "Images", nav: "project", load: () => import("./images.js") },
  { path: "/keypairs", title: "Key pairs", nav: "project", load: () => import("./keypairs.js") },
  { path: "/leases", title: "Leases", nav: "project", load: () => import("./leases.js") },
  { path: "/fleet", title: "Fleet", nav: "admin", admin: true, load: () => import("./fleet.js") },
  { path: "/nodes/:id", title: "Node", admin: true, load: () => import("./node.js") },
  { path: "/hypervisors", title: "Hypervisors", nav: "admin", admin: true, load: () => import("./hypervisors.js") },
  { path: "/batches", title: "Deploy batches", nav: "admin", admin: true, load: () => import("./batches.js") },
  { path: "/traffic", title: "Top talkers", nav: "admin", admin: true, load: () => import("./traffic.js") },
  { path: "/calendar", title: "Lease calendar", nav: "admin", admin: true, load: () => import("./calendar.js") },
  { path: "/switches", title: "Switches", nav: "admin", admin: true, load: () => import("./switches.js") },
];

/** Where a user lands: operators on the fleet, tenants on their servers. */
export function home(/** @type {boolean} */ admin) {
  return admin ? "/fleet" : "/servers";
}
