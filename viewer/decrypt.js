// Opening envelopes in the analyst's browser: HPKE (WebCrypto) and gunzip. The private
// keys never leave this page: each is imported once as a non-extractable X25519
// CryptoKey (usable for decryption, never readable back as bytes), and, only if the
// analyst asks, kept in this origin's IndexedDB until they click Forget. Format:
// docs/envelope.md; storage: docs/viewer.md.
import { open, publicFromPrivate, seal } from './hpke.js';

/** Largest plaintext a payload may inflate to (docs/envelope.md; py_core.envelope.MAX_PAYLOAD_BYTES). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** kid -> {key: non-extractable X25519 private CryptoKey, pub: raw public key}, for every key
 * the analyst loaded (old keys open old sessions). */
const keyring = new Map();

const te = new TextEncoder();

function fromB64u(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** An Error whose message starts with a stable code (docs/envelope.md's error codes). */
function fault(code, detail) {
  const e = new Error(`${code}: ${detail}`);
  e.code = code;
  return e;
}

/** The key id of a raw public key: the first 8 bytes of its SHA-256, in hex. */
export async function keyId(publicKey) {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', publicKey)).slice(0, 8));
}

/**
 * Load private keys (base64url, one per array item); returns their key ids. Each becomes a
 * non-extractable CryptoKey; the raw bytes are dropped here. With `replace`, the keys loaded
 * before are forgotten first (a new link, a new form).
 */
export async function loadKeys(privateKeys, replace = false) {
  const loaded = [];
  for (const text of privateKeys) {
    const raw = String(text).trim();
    let sk;
    try {
      sk = fromB64u(raw);
    } catch (e) {
      throw new Error('a private key is not base64url text');
    }
    if (sk.length !== 32) throw new Error(`a private key must be 32 bytes of base64url (43 characters), got ${sk.length} bytes`);
    const pub = await publicFromPrivate(sk);
    const key = await crypto.subtle.importKey(
      'jwk', { kty: 'OKP', crv: 'X25519', d: b64u(sk), x: b64u(pub) },
      { name: 'X25519' }, false, ['deriveBits']);
    sk.fill(0);
    loaded.push([await keyId(pub), { key, pub }]);
  }
  if (replace) keyring.clear();
  for (const [kid, entry] of loaded) keyring.set(kid, entry);
  return loaded.map(([kid]) => kid);
}

/** The key ids loaded in this page. */
export function loadedKids() {
  return [...keyring.keys()];
}

// Envelope v1 fields and their rules (docs/envelope.md); `received` is the collector's.
const FIELDS = {
  v: (x) => x === 1,
  id: (x) => typeof x === 'string' && /^[A-Za-z0-9_-]{16,64}$/.test(x),
  kid: (x) => typeof x === 'string' && /^[0-9a-f]{16}$/.test(x),
  sid: (x) => typeof x === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(x),
  pid: (x) => typeof x === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(x),
  seq: (x) => Number.isSafeInteger(x) && x >= 0 && x <= 2 ** 31 - 1,
  ts: (x) => Number.isSafeInteger(x) && x >= 0,
  ct: (x) => typeof x === 'string' && /^[A-Za-z0-9_-]+$/.test(x) && x.length % 4 !== 1,
};

/**
 * Check an envelope before opening it: exactly the v1 fields, each within its rule, and
 * `ct` in canonical base64url (a changed unused bit in its last character is tampering
 * too, though it decodes to the same bytes). Throws an Error naming the first fault.
 */
export function checkEnvelope(env) {
  if (!env || typeof env !== 'object' || Array.isArray(env)) throw new Error('envelope is not a JSON object');
  for (const k of Object.keys(env)) if (!(k in FIELDS) && k !== 'received') throw new Error(`envelope has an unknown field ${JSON.stringify(k)}`);
  for (const [k, ok] of Object.entries(FIELDS)) if (!ok(env[k])) throw new Error(`envelope field ${k} is missing or invalid`);
  if (b64u(fromB64u(env.ct)) !== env.ct) throw new Error('envelope ct is not canonical base64url');
}

/**
 * Decrypt one envelope (a JSON string); returns the payload's JSON text. Throws an Error whose
 * message starts with the reason: `bad_envelope`, `unknown_kid`, `tampered`, `too_large` (the
 * payload inflates beyond 64 MiB: stopped there, never held whole) or `bad_payload`.
 */
export async function openEnvelope(envelopeJson) {
  let env;
  try {
    env = JSON.parse(envelopeJson);
    checkEnvelope(env);
  } catch (e) {
    throw fault('bad_envelope', e.message);
  }
  const entry = keyring.get(env.kid);
  if (!entry) throw fault('unknown_kid', `no private key loaded for key id ${env.kid}`);
  const info = te.encode(`sightline/v1|${env.id}|${env.kid}|${env.sid}|${env.pid}|${env.seq}|${env.ts}`);
  let plain;
  try {
    plain = await open(entry.key, fromB64u(env.ct), info, new Uint8Array(0), entry.pub);
  } catch (e) {
    throw fault('tampered', `envelope ${env.id} failed authentication (tampered or wrong key): ${e.message}`);
  }
  return gunzipText(plain, MAX_PAYLOAD_BYTES, env.id);
}

/** Compressed bytes fed to the inflater at a time: deflate expands at most about 1032:1, so
 * one step makes at most about 2 MiB (a few ms of work) before this page can look at it. */
const INFLATE_STEP = 2048;

/** Output bytes between two pauses that let the page handle input and paint. */
const YIELD_EVERY = 1024 * 1024;

/** Resolves in a new task (a MessageChannel message: no 4 ms timer clamping). */
function nextTask() {
  return new Promise((resolve) => {
    const c = new MessageChannel();
    c.port1.onmessage = () => { c.port1.close(); resolve(); };
    c.port2.postMessage(0);
  });
}

/** `bytes` as a stream of INFLATE_STEP slices, pulled only as the inflater asks for more. */
function slices(bytes) {
  let off = 0;
  return new ReadableStream({
    pull(ctl) {
      if (off >= bytes.length) { ctl.close(); return; }
      ctl.enqueue(bytes.slice(off, off + INFLATE_STEP));
      off += INFLATE_STEP;
    },
  }, { highWaterMark: 1 });
}

/**
 * gunzip `bytes` to UTF-8 text, counting the bytes as they come out of the stream and
 * cancelling it as soon as they pass `limit`: a gzip bomb costs at most about `limit` bytes
 * of work and memory, and the page keeps answering (the input goes in small slices, so no
 * single step inflates more than a couple of MiB; one large slice would be inflated whole,
 * in one task, before anything could stop it).
 */
export async function gunzipText(bytes, limit = MAX_PAYLOAD_BYTES, what = 'payload') {
  const reader = slices(bytes).pipeThrough(new DecompressionStream('gzip')).getReader();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts = [];
  let total = 0;
  let paused = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        reader.cancel().catch(() => {});
        throw fault('too_large', `envelope ${what} inflates beyond ${limit / 1048576} MiB (the limit of docs/envelope.md); not opened`);
      }
      parts.push(decoder.decode(value, { stream: true })); // decoded as it comes: no second copy of the bytes
      // The stream runs on promises alone: without a real task boundary now and then, a long
      // payload would hold the page (input, painting, timers) until it is all inflated.
      if (total - paused >= YIELD_EVERY) { paused = total; await nextTask(); }
    }
    parts.push(decoder.decode());
  } catch (e) {
    if (e.code) throw e;
    if (e instanceof TypeError && /decode|encoded/i.test(e.message)) throw fault('bad_payload', `envelope ${what} is not UTF-8 text`);
    throw fault('bad_payload', `envelope ${what} is not gzip data: ${e.message}`);
  }
  return parts.join('');
}

function b64u(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Seal a team note about session `sid` for the first loaded key: an envelope exactly like a
 * batch's (pid "annotation"), so the collector stores a note it cannot read. Returns its JSON.
 * @param {string} sid
 * @param {string} noteJson  the note object as JSON ({kind, at_ms, text, author, created})
 */
export async function sealNote(sid, noteJson) {
  const [kid, entry] = keyring.entries().next().value || [];
  if (!entry) throw new Error('load a private key first');
  const { pub } = entry;
  const id = b64u(crypto.getRandomValues(new Uint8Array(16)));
  const ts = Date.now();
  const env = { v: 1, id, kid, sid, pid: 'annotation', seq: 0, ts };
  const info = te.encode(`sightline/v1|${id}|${kid}|${sid}|annotation|0|${ts}`);
  const gz = new Blob([noteJson]).stream().pipeThrough(new CompressionStream('gzip'));
  const plain = new Uint8Array(await new Response(gz).arrayBuffer());
  env.ct = b64u(await seal(pub, plain, info));
  return JSON.stringify(env);
}

// ------------------------------------------------------------------ kept in this browser
// Only when the analyst asks: one IndexedDB database of this origin, one object store.
// "keys": [{kid, key: the non-extractable CryptoKey, pub}] (IndexedDB stores a CryptoKey as
// is, still non-extractable: it can decrypt, it cannot be read back); "token" and
// "collector": the read token and collector URL as text (the token has to be sent as is).
const DB = 'sightline-viewer';
const STORE = 'kept';

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, work) {
  const d = await db();
  try {
    return await new Promise((resolve, reject) => {
      const t = d.transaction(STORE, mode);
      const out = work(t.objectStore(STORE));
      t.oncomplete = () => resolve(out && 'result' in out ? out.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error('IndexedDB transaction aborted'));
    });
  } finally {
    d.close();
  }
}

/** Keep the loaded keys (as non-extractable CryptoKeys), the token and the collector URL here. */
export async function keep(token, collector) {
  if (!keyring.size) throw new Error('load a private key first');
  const keys = [...keyring.entries()].map(([kid, { key, pub }]) => ({ kid, key, pub }));
  await tx('readwrite', (s) => {
    s.put(keys, 'keys');
    s.put(String(token || ''), 'token');
    s.put(String(collector || ''), 'collector');
  });
  return keys.map((k) => k.kid);
}

/**
 * Load what was kept into this page: returns JSON {kids, token, collector}, or "" when
 * nothing is kept (or this browser gives no IndexedDB, e.g. some private windows).
 */
export async function restore() {
  let keys, token, collector;
  try {
    [keys, token, collector] = await Promise.all(['keys', 'token', 'collector'].map(
      (name) => tx('readonly', (s) => s.get(name))));
  } catch (e) {
    return '';
  }
  if (!Array.isArray(keys) || !keys.length) return '';
  for (const { kid, key, pub } of keys) if (key && pub) keyring.set(kid, { key, pub: new Uint8Array(pub) });
  return JSON.stringify({ kids: keys.map((k) => k.kid), token: token || '', collector: collector || '' });
}

/** Whether anything is kept in this browser. */
export async function isKept() {
  try {
    const keys = await tx('readonly', (s) => s.get('keys'));
    return Array.isArray(keys) && keys.length > 0;
  } catch (e) {
    return false;
  }
}

/** Delete what was kept and drop the keys from this page. */
export async function forget() {
  keyring.clear();
  await tx('readwrite', (s) => s.clear());
}
