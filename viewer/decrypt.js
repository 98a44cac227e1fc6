// Opening envelopes in the analyst's browser: HPKE (WebCrypto) and gunzip. The private
// keys never leave this page. Format: docs/envelope.md.
import { open, publicFromPrivate } from './hpke.js';

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

/** Decrypt one envelope (a JSON string); returns the payload's JSON text. Throws on tampering. */
export async function openEnvelope(envelopeJson) {
  const env = JSON.parse(envelopeJson);
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
