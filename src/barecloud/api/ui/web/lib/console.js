// @ts-check
/**
 * An interactive serial console in the page: xterm.js on a console websocket
 * (api/consoles.py). Binary frames carry the serial bytes both ways; what is
 * typed goes out as it is typed. `connect` asks the API for a URL (a Nova
 * remote console, an Ironic node's console), so each connection has a fresh
 * token. A close code of the service (4401 bad token, 4409 in use, 4503
 * unavailable) is said in words, with the service's own reason.
 */
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { closeMessage, socketUrl } from "./compute.js";
import { ErrorText } from "./ui.js";

/**
 * @typedef {"idle" | "connecting" | "open" | "closed"} ConsoleState
 */

/**
 * @param {{
 *   connect: () => Promise<string>,
 *   label?: string,
 *   autoConnect?: boolean,
 * }} props
 */
export function SerialConsole({ connect, label = "Serial console", autoConnect = false }) {
  const host = useRef(/** @type {HTMLDivElement | null} */ (null));
  const term = useRef(/** @type {Terminal | null} */ (null));
  const socket = useRef(/** @type {WebSocket | null} */ (null));
  const [state, setState] = useState(/** @type {ConsoleState} */ ("idle"));
  const [message, setMessage] = useState("");
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [byUser, setByUser] = useState(false);
  const connectRef = useRef(connect);
  connectRef.current = connect;

  useEffect(() => {
    const terminal = new Terminal({
      cursorBlink: true, convertEol: false, scrollback: 5000, fontSize: 14,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    const element = /** @type {HTMLDivElement} */ (host.current);
    terminal.open(element);
    term.current = terminal;
    const refit = () => {
      try {
        if (element.offsetWidth) fit.fit();
      } catch {
        // not laid out yet
      }
    };
    refit();
    const observer = new ResizeObserver(refit);
    observer.observe(element);
    const encoder = new TextEncoder();
    const typed = terminal.onData((data) => {
      const ws = socket.current;
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    const binary = terminal.onBinary((data) => {
      const ws = socket.current;
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
      }
    });
    if (autoConnect) open();
    return () => {
      observer.disconnect();
      typed.dispose();
      binary.dispose();
      const ws = socket.current;
      socket.current = null;
      ws?.close();
      terminal.dispose();
      term.current = null;
    };
  }, []);

  async function open() {
    setError(null);
    setMessage("");
    setByUser(false);
    setState("connecting");
    /** @type {string} */
    let url;
    try {
      url = socketUrl(await connectRef.current(), location);
    } catch (e) {
      setError(e);
      setState("closed");
      return;
    }
    const terminal = term.current;
    if (!terminal) return;
    const ws = new WebSocket(url, ["binary"]);
    ws.binaryType = "arraybuffer";
    socket.current = ws;
    ws.onopen = () => {
      if (socket.current !== ws) return;
      setState("open");
      terminal.focus();
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") terminal.write(event.data);
      else terminal.write(new Uint8Array(/** @type {ArrayBuffer} */ (event.data)));
    };
    ws.onclose = (event) => {
      if (socket.current !== ws) return;
      socket.current = null;
      setState("closed");
      setMessage(closeMessage(event.code, event.reason));
    };
  }

  function close() {
    const ws = socket.current;
    socket.current = null;
    ws?.close(1000);
    setByUser(true);
    setState("closed");
    setMessage("");
  }

  const connected = state === "open";
  return html`<section class="serial-console" aria-label=${label}>
    <div class="console-bar">
      <span class="console-state" role="status">${
        state === "idle" ? "Not connected." : state === "connecting" ? "Connecting…"
          : state === "open" ? "Connected: type in the terminal." : "Disconnected."}</span>
      ${connected
        ? html`<button type="button" onClick=${close}>Disconnect</button>`
        : html`<button type="button" class="primary" disabled=${state === "connecting"}
            onClick=${open}>${state === "closed" ? "Reconnect" : "Connect"}</button>`}
    </div>
    <${ErrorText} error=${error} />
    ${state === "closed" && message && !byUser && !error
      ? html`<p class="console-closed notice bad" role="alert">${message}</p>` : null}
    <div class="console-screen" ref=${host} data-state=${state}></div>
  </section>`;
}
