// @ts-check
/**
 * The user's key pairs: import a public key, or have one generated (Nova
 * generates only before microversion 2.92, so that call asks for 2.91, as the
 * openstack client does); a generated private key is shown once, with a
 * download link. Delete asks first.
 */
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { Dialog, ErrorText, Field, Page, Table, notify, useAction, usePoll } from "../lib/ui.js";

/** @typedef {import("../lib/api.js").Session} Session */
/** @typedef {{name: string, type?: string, fingerprint: string, public_key: string}} KeyPair */

/** The microversion that still generates key pairs. */
const GENERATES = { "OpenStack-API-Version": "compute 2.91" };

/**
 * @param {{session: Session, onClose: () => void, onCreated: (k: KeyPair & {private_key?: string}) => void}} props
 */
function CreateKeyPair({ session, onClose, onCreated }) {
  const [mode, setMode] = useState(/** @type {"import" | "generate"} */ ("import"));
  const create = useAction(async (/** @type {string} */ name, /** @type {string} */ publicKey) => {
    const body = mode === "import"
      ? await api(session, "compute", "POST", "/os-keypairs", {
        body: { keypair: { name, public_key: publicKey, type: "ssh" } },
      })
      : await api(session, "compute", "POST", "/os-keypairs", {
        body: { keypair: { name, type: "ssh" } }, headers: GENERATES,
      });
    notify(`Key pair ${name} created`);
    onCreated(body.keypair);
  });
  const submit = (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (event.currentTarget));
    create.run(String(data.get("name") ?? ""), String(data.get("public_key") ?? ""));
  };
  const pick = (/** @type {Event} */ e) =>
    setMode(/** @type {"import" | "generate"} */ (/** @type {HTMLInputElement} */ (e.currentTarget).value));
  return html`<${Dialog} title="Create key pair" onClose=${onClose}>
    <form onSubmit=${submit}>
      <${Field} label="Name"><input name="name" required autofocus autocomplete="off" /></${Field}>
      <fieldset class="choice">
        <legend class="field-label">Key</legend>
        <label><input type="radio" name="mode" value="import" checked=${mode === "import"} onChange=${pick} />
          Paste a public key</label>
        <label><input type="radio" name="mode" value="generate" checked=${mode === "generate"} onChange=${pick} />
          Generate a new key (its private key is shown once)</label>
      </fieldset>
      ${mode === "import" ? html`<${Field} label="Public key" hint="One line, as in ~/.ssh/id_ed25519.pub">
        <textarea name="public_key" required spellcheck="false" placeholder="ssh-ed25519 AAAA… you@host"></textarea>
      </${Field}>` : null}
      <${ErrorText} error=${create.error} />
      <div class="form-actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${create.busy}>${create.busy ? "Creating…" : "Create"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

/**
 * The private key of a generated pair, once: copy it or download it now.
 * @param {{keypair: KeyPair & {private_key: string}, onClose: () => void}} props
 */
function PrivateKey({ keypair, onClose }) {
  const [href, setHref] = useState("");
  useEffect(() => {
    const url = URL.createObjectURL(new Blob([keypair.private_key], { type: "application/x-pem-file" }));
    setHref(url);
    return () => URL.revokeObjectURL(url);
  }, [keypair.private_key]);
  return html`<${Dialog} title=${`Private key of ${keypair.name}`} onClose=${onClose} wide>
    <p class="notice bad">This is the only time the private key is shown: barecloud does not keep it.
      Save it now.</p>
    <pre class="private-key" tabindex="0" aria-label="Private key">${keypair.private_key}</pre>
    <div class="form-actions">
      <a class="button primary" href=${href} download=${`${keypair.name}.pem`}>Download ${keypair.name}.pem</a>
      <button type="button" onClick=${onClose}>I saved it</button>
    </div>
  </${Dialog}>`;
}

/** @param {{session: Session, keypair: KeyPair, onDone: () => void}} props */
function DeleteKeyPair({ session, keypair, onDone }) {
  const [asking, setAsking] = useState(false);
  const remove = useAction(async () => {
    await api(session, "compute", "DELETE", `/os-keypairs/${encodeURIComponent(keypair.name)}`);
    notify(`Key pair ${keypair.name} deleted`);
    setAsking(false);
    onDone();
  });
  const close = () => {
    setAsking(false);
    remove.clear();
  };
  return html`<button type="button" class="danger" aria-label=${`Delete ${keypair.name}`}
      onClick=${() => setAsking(true)}>Delete</button>
    ${asking ? html`<${Dialog} title=${`Delete key pair ${keypair.name}?`} onClose=${close}>
      <p>Servers created with it keep the key; new servers cannot use it.</p>
      <${ErrorText} error=${remove.error} />
      <div class="form-actions">
        <button type="button" onClick=${close}>Cancel</button>
        <button type="button" class="danger" disabled=${remove.busy} onClick=${() => remove.run()}>Delete</button>
      </div>
    </${Dialog}>` : null}`;
}

/** @param {{session: Session}} props */
export default function KeyPairs({ session }) {
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState(/** @type {(KeyPair & {private_key: string}) | null} */ (null));
  const list = usePoll(
    () => api(session, "compute", "GET", "/os-keypairs").then(
      (b) => /** @type {KeyPair[]} */ (b.keypairs.map((/** @type {{keypair: KeyPair}} */ k) => k.keypair))),
    [session.token],
  );
  /** @type {import("../lib/ui.js").Column<KeyPair>[]} */
  const columns = [
    { key: "name", label: "Name" },
    { key: "type", label: "Type", render: (k) => k.type ?? "ssh" },
    { key: "fingerprint", label: "Fingerprint", className: "mono" },
    {
      key: "public_key", label: "Public key", className: "public-key",
      render: (k) => html`<code title=${k.public_key}>${k.public_key.slice(0, 48)}…</code>`,
    },
    {
      key: "actions", label: "Actions",
      render: (k) => html`<${DeleteKeyPair} session=${session} keypair=${k} onDone=${list.reload} />`,
    },
  ];
  return html`<${Page} title="Key pairs" actions=${html`
      <button type="button" class="primary" onClick=${() => setCreating(true)}>Create key pair</button>`}>
    <${ErrorText} error=${list.error} />
    <${Table} label="Key pairs" columns=${columns} rows=${list.error && !list.data ? [] : list.data}
      rowKey=${(/** @type {KeyPair} */ k) => k.name} empty="No key pairs yet." />
    ${creating ? html`<${CreateKeyPair} session=${session} onClose=${() => setCreating(false)}
      onCreated=${(/** @type {KeyPair & {private_key?: string}} */ k) => {
        setCreating(false);
        list.reload();
        if (k.private_key) setSecret(/** @type {KeyPair & {private_key: string}} */ (k));
      }} />` : null}
    ${secret ? html`<${PrivateKey} keypair=${secret} onClose=${() => setSecret(null)} />` : null}
  </${Page}>`;
}
