// @ts-check
/**
 * The shell: the login page, then the navigation, the project switcher and
 * the current view. A session lives in this tab's sessionStorage until its
 * token expires, the user logs out, or an API answers 401.
 */
import { html } from "htm/preact";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import * as apiModule from "./lib/api.js";
import { currentPath, match, navigate } from "./lib/router.js";
import { ErrorText, Field, Notices } from "./lib/ui.js";
import { ROUTES, home } from "./views/registry.js";

const { isAdmin, login, logout, myProjects, onExpired, remember, restore, switchProject } = apiModule;

/** @typedef {import("./lib/api.js").Session} Session */

/** @param {{onLogin: (s: Session) => void, reason: string}} props */
function Login({ onLogin, reason }) {
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = "Log in · barecloud";
  }, []);
  const submit = async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.currentTarget));
    setBusy(true);
    setError(null);
    try {
      const session = await login(
        String(form.get("username")),
        String(form.get("password")),
        String(form.get("domain") || "Default"),
        String(form.get("project") || "") || undefined,
      );
      onLogin(session);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form class="card" onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title">barecloud</h1>
      ${reason ? html`<p class="notice bad" role="alert">${reason}</p>` : null}
      <${Field} label="User name"><input name="username" autocomplete="username" required autofocus /></${Field}>
      <${Field} label="Password"><input name="password" type="password" autocomplete="current-password" required /></${Field}>
      <details><summary>More</summary>
        <${Field} label="Domain"><input name="domain" value="Default" /></${Field}>
        <${Field} label="Project" hint="Empty: your first project"><input name="project" /></${Field}>
      </details>
      <${ErrorText} error=${error} />
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Logging in…" : "Log in"}</button>
    </form>
  </main>`;
}

/**
 * @param {{session: Session, onSwitch: (s: Session) => void, onLogout: () => void,
 *          menu: boolean, setMenu: (open: boolean) => void}} props
 */
function Header({ session, onSwitch, onLogout, menu, setMenu }) {
  const [projects, setProjects] = useState(/** @type {import("./lib/api.js").Ref[]} */ ([]));
  useEffect(() => {
    myProjects(session.token).then(setProjects, () => setProjects([]));
  }, [session.token]);
  const change = async (/** @type {Event} */ event) => {
    const id = /** @type {HTMLSelectElement} */ (event.currentTarget).value;
    if (id !== session.project.id) onSwitch(await switchProject(session, id));
  };
  return html`<header class="top">
    <button type="button" class="icon menu-toggle" aria-label="Menu" aria-expanded=${menu}
      onClick=${() => setMenu(!menu)}>☰</button>
    <a class="brand" href="#/">barecloud</a>
    <label class="project"><span class="sr-only">Project</span>
      <select aria-label="Project" onChange=${change} value=${session.project.id}>
        ${(projects.length ? projects : [session.project]).map(
          (p) => html`<option value=${p.id} selected=${p.id === session.project.id}>${p.name}</option>`,
        )}
      </select></label>
    <span class="who">${session.user.name}${isAdmin(session) ? " (admin)" : ""}</span>
    <button type="button" onClick=${onLogout}>Log out</button>
  </header>`;
}

/** @param {{session: Session, open: boolean, onPick: () => void}} props */
function Nav({ session, open, onPick }) {
  const path = currentPath().split("?")[0];
  /** @param {"project" | "admin"} section */
  const links = (section) =>
    ROUTES.filter((r) => r.nav === section).map(
      (r) => html`<li><a href=${"#" + r.path} onClick=${onPick}
        aria-current=${path === r.path || path.startsWith(r.path + "/") ? "page" : undefined}>${r.title}</a></li>`,
    );
  return html`<nav class=${open ? "side open" : "side"} aria-label="Main">
    <h2>Project</h2><ul>${links("project")}</ul>
    ${isAdmin(session) ? html`<h2>Operator</h2><ul>${links("admin")}</ul>` : null}
  </nav>`;
}

/** @param {{session: Session, path: string}} props */
function Content({ session, path }) {
  const found = match(ROUTES, path);
  const [view, setView] = useState(/** @type {{path: string, component: any} | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const route = found?.route;
  useEffect(() => {
    if (!route || (route.admin && !isAdmin(session))) return;
    let alive = true;
    setError(null);
    route.load().then(
      (module) => alive && setView({ path: route.path, component: module.default }),
      (e) => alive && setError(e),
    );
    return () => {
      alive = false;
    };
  }, [route]);
  if (!found || (found.route.admin && !isAdmin(session))) {
    return html`<section class="page"><h1>Not found</h1><p>No page here for you.
      <a href=${"#" + home(isAdmin(session))}>Go home</a>.</p></section>`;
  }
  if (error) return html`<${ErrorText} error=${error} />`;
  if (!view || view.path !== found.route.path) return html`<p class="muted" role="status">Loading…</p>`;
  const View = view.component;
  return html`<${View} key=${session.project.id} session=${session} params=${found.params} />`;
}

function App() {
  const [session, setSession] = useState(restore);
  const [reason, setReason] = useState("");
  const [path, setPath] = useState(currentPath);
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    const moved = () => setPath(currentPath());
    addEventListener("hashchange", moved);
    onExpired((message) => {
      apiModule.forget();
      setSession(null);
      setReason(`Your session ended: ${message}`);
    });
    return () => removeEventListener("hashchange", moved);
  }, []);
  useEffect(() => {
    if (!session) return;
    const left = session.expiresAt - Date.now();
    const timer = setTimeout(() => {
      apiModule.forget();
      setSession(null);
      setReason("Your session expired. Log in again.");
    }, Math.max(0, Math.min(left, 2 ** 31 - 1)));
    return () => clearTimeout(timer);
  }, [session]);
  const start = (/** @type {Session} */ s) => {
    remember(s);
    setReason("");
    setSession(s);
    if (currentPath() === "/" || !match(ROUTES, currentPath())) navigate(home(isAdmin(s)));
  };
  if (!session) return html`<${Login} onLogin=${start} reason=${reason} /><${Notices} />`;
  const shown = path === "/" ? home(isAdmin(session)) : path;
  return html`<div class="shell">
    <${Header} session=${session} onSwitch=${start} menu=${menu} setMenu=${setMenu}
      onLogout=${() => { logout(session); setSession(null); setReason("You logged out."); }} />
    <${Nav} session=${session} open=${menu} onPick=${() => setMenu(false)} />
    <main id="main"><${Content} session=${session} path=${shown} /></main>
    <${Notices} />
  </div>`;
}

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
root.textContent = "";
render(html`<${App} />`, root);
