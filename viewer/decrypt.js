// Opening envelopes in the analyst's browser: HPKE (WebCrypto) and gunzip. The private
// keys never leave this page. Format: docs/envelope.md.
import { open, publicFromPrivate, seal } from './hpke.js';

/** kid -> raw private key, for every key the analyst loaded (old keys open old sessions). */
const keyring = new Map();

const te = new TextEncoder();

function fromB64u(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The key id of a raw public key: the first 8 bytes of its SHA-256, in hex. */
export async function keyId(publicKey) {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', publicKey)).slice(0, 8));
}

/** Load private keys (base64url, one per array item); returns their key ids. */
export async function loadKeys(privateKeys) {
  const kids = [];
  for (const text of privateKeys) {
    const sk = fromB64u(String(text).trim());
    const kid = await keyId(await publicFromPrivate(sk));
    keyring.set(kid, sk);
    kids.push(kid);
  }
  return kids;
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

/** Decrypt one envelope (a JSON string); returns the payload's JSON text. Throws on tampering. */
export async function openEnvelope(envelopeJson) {
  const env = JSON.parse(envelopeJson);
  checkEnvelope(env);
  const sk = keyring.get(env.kid);
  if (!sk) throw new Error(`no private key loaded for key id ${env.kid}`);
  const info = te.encode(`sightline/v1|${env.id}|${env.kid}|${env.sid}|${env.pid}|${env.seq}|${env.ts}`);
  let plain;
  try {
    plain = await open(sk, fromB64u(env.ct), info);
  } catch (e) {
    throw new Error(`envelope ${env.id} failed authentication (tampered or wrong key): ${e.message}`);
  }
  const stream = new Blob([plain]).stream().pipeThrough(new DecompressionStream('gzip'));
  return await new Response(stream).text();
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
  const [kid, sk] = keyring.entries().next().value || [];
  if (!sk) throw new Error('load a private key first');
  const pub = await publicFromPrivate(sk);
  const id = b64u(crypto.getRandomValues(new Uint8Array(16)));
  const ts = Date.now();
  const env = { v: 1, id, kid, sid, pid: 'annotation', seq: 0, ts };
  const info = te.encode(`sightline/v1|${id}|${kid}|${sid}|annotation|0|${ts}`);
  const gz = new Blob([noteJson]).stream().pipeThrough(new CompressionStream('gzip'));
  const plain = new Uint8Array(await new Response(gz).arrayBuffer());
  env.ct = b64u(await seal(pub, plain, info));
  return JSON.stringify(env);
}
