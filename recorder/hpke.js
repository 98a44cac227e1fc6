// HPKE (RFC 9180), base mode, single suite:
//   KEM  DHKEM(X25519, HKDF-SHA256)  kem_id  0x0020
//   KDF  HKDF-SHA256                 kdf_id  0x0001
//   AEAD AES-256-GCM                 aead_id 0x0002
// Dependency-free ES module on WebCrypto. Browser globals are read at call time
// (`subtle()`), so the module can be imported in a page or in a worker.
// Wire format of `seal`: enc (32 bytes) || ciphertext, the same layout as
// Python cryptography's `hpke.Suite(...).encrypt(pt, public_key, info=...)`.

const NSECRET = 32; // KEM shared secret length
const NENC = 32; // serialized X25519 public key length (Npk = Nenc)
const NSK = 32; // X25519 private key length
const NH = 32; // HKDF-SHA256 output length
const NK = 32; // AES-256-GCM key length
const NN = 12; // AES-GCM nonce length
const NT = 16; // AES-GCM tag length
const MODE_BASE = 0x00;

const te = new TextEncoder();
const KEM_SUITE_ID = concat(te.encode('KEM'), i2osp(0x0020, 2));
const HPKE_SUITE_ID = concat(te.encode('HPKE'), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0002, 2));
const HPKE_V1 = te.encode('HPKE-v1');
// PKCS#8 PrivateKeyInfo header for an X25519 key (OID 1.3.101.110); the 32 raw bytes follow.
const PKCS8_X25519_PREFIX = hex('302e020100300506032b656e04220420');

/** @returns {SubtleCrypto} */
function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw new Error('hpke: WebCrypto (crypto.subtle) is not available; a secure context is required');
  return s;
}

// ---------------------------------------------------------------- byte helpers

/** @param {string} h @returns {Uint8Array} */
function hex(h) {
  return Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
}

/** @param {...Uint8Array} parts @returns {Uint8Array} */
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** I2OSP(n, w): big-endian, w bytes (RFC 8017). @param {number} n @param {number} w */
function i2osp(n, w) {
  const out = new Uint8Array(w);
  for (let i = w - 1; i >= 0 && n > 0; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
  return out;
}

/** @param {BufferSource} b @returns {Uint8Array} */
function bytes(b) {
  if (b instanceof Uint8Array) return b;
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  throw new TypeError('hpke: expected a Uint8Array, ArrayBuffer or typed array');
}

/** @param {string} s base64url without padding @returns {Uint8Array} */
function fromBase64Url(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// ------------------------------------------------------------ HKDF-SHA256 (RFC 5869)

/** HMAC-SHA256(key, data). @param {Uint8Array} key @param {Uint8Array} data */
async function hmac(key, data) {
  const k = await subtle().importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', k, data));
}

/** Extract(salt, ikm); an empty salt means Nh zero bytes (same HMAC, and WebCrypto rejects empty keys). */
function extract(salt, ikm) {
  return hmac(salt.length ? salt : new Uint8Array(NH), ikm);
}

/** Expand(prk, info, L): T(i) = HMAC(prk, T(i-1) || info || i). */
async function expand(prk, info, L) {
  if (L > 255 * NH) throw new Error('hpke: expand length too large');
  const out = new Uint8Array(L);
  let t = new Uint8Array(0);
  for (let i = 1, off = 0; off < L; i++) {
    t = await hmac(prk, concat(t, info, Uint8Array.of(i)));
    out.set(t.subarray(0, Math.min(NH, L - off)), off);
    off += NH;
  }
  return out;
}

/** LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm) (RFC 9180 §4). */
function labeledExtract(suiteId, salt, label, ikm) {
  return extract(salt, concat(HPKE_V1, suiteId, te.encode(label), ikm));
}

/** LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L) (§4). */
function labeledExpand(suiteId, prk, label, info, L) {
  return expand(prk, concat(i2osp(L, 2), HPKE_V1, suiteId, te.encode(label), info), L);
}

// ------------------------------------------------------------------- X25519

const isCryptoKey = (k) => typeof CryptoKey !== 'undefined' && k instanceof CryptoKey;

/** @param {Uint8Array} skRaw 32 bytes @returns {Promise<CryptoKey>} */
function importPrivate(skRaw, extractable = false) {
  if (skRaw.length !== NSK) throw new Error(`hpke: X25519 private key must be ${NSK} bytes, got ${skRaw.length}`);
  return subtle().importKey('pkcs8', concat(PKCS8_X25519_PREFIX, skRaw), { name: 'X25519' }, extractable, ['deriveBits']);
}

/** DeserializePublicKey. @param {Uint8Array} pkRaw 32 bytes @returns {Promise<CryptoKey>} */
function importPublic(pkRaw) {
  if (pkRaw.length !== NENC) throw new Error(`hpke: X25519 public key must be ${NENC} bytes, got ${pkRaw.length}`);
  return subtle().importKey('raw', pkRaw, { name: 'X25519' }, true, []);
}

/** pk(sk): the raw public key of a raw private key (via the JWK export's `x`). */
export async function publicFromPrivate(skRaw) {
  const jwk = await subtle().exportKey('jwk', await importPrivate(skRaw, true));
  return fromBase64Url(/** @type {string} */ (jwk.x));
}

/** DH(sk, pk): X25519; an all-zero output (small-order pk) is an error (RFC 9180 §7.1.4).
 * `sk` is raw bytes or an X25519 private CryptoKey (which may be non-extractable). */
async function dh(sk, pkRaw) {
  let z;
  try {
    const key = isCryptoKey(sk) ? sk : await importPrivate(sk);
    z = new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: await importPublic(pkRaw) }, key, 256));
  } catch (e) {
    throw new Error(`hpke: X25519 failed (invalid or small-order public key?): ${e && e.message ? e.message : e}`);
  }
  if (z.every((b) => b === 0)) throw new Error('hpke: X25519 produced the all-zero shared secret');
  return z;
}

/**
 * Fresh random key pair (raw X25519 bytes).
 * @returns {Promise<{publicKey: Uint8Array, privateKey: Uint8Array}>}
 */
export async function generateKeyPair() {
  const kp = /** @type {CryptoKeyPair} */ (await subtle().generateKey({ name: 'X25519' }, true, ['deriveBits']));
  const jwk = await subtle().exportKey('jwk', kp.privateKey);
  return { publicKey: fromBase64Url(/** @type {string} */ (jwk.x)), privateKey: fromBase64Url(/** @type {string} */ (jwk.d)) };
}

/**
 * DeriveKeyPair(ikm) for X25519 (RFC 9180 §7.1.3).
 * @param {BufferSource} ikm at least Nsk bytes of input keying material
 * @returns {Promise<{publicKey: Uint8Array, privateKey: Uint8Array}>}
 */
export async function deriveKeyPair(ikm) {
  // dkp_prk = LabeledExtract("", "dkp_prk", ikm)
  const dkpPrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), 'dkp_prk', bytes(ikm));
  // sk = LabeledExpand(dkp_prk, "sk", "", Nsk)   (clamping happens inside X25519)
  const sk = await labeledExpand(KEM_SUITE_ID, dkpPrk, 'sk', new Uint8Array(0), NSK);
  return { publicKey: await publicFromPrivate(sk), privateKey: sk };
}

// ------------------------------------------------------- DHKEM (RFC 9180 §4.1)

/** ExtractAndExpand(dh, kem_context) -> shared_secret. */
async function extractAndExpand(dhOut, kemContext) {
  const eaePrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), 'eae_prk', dhOut);
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, NSECRET);
}

/**
 * Encap(pkR): ephemeral key pair (from ikmE if given, for test vectors), returns shared_secret and enc.
 * @param {BufferSource} pkR raw recipient public key
 * @param {BufferSource} [ikmE] deterministic ephemeral IKM (tests only)
 * @returns {Promise<{sharedSecret: Uint8Array, enc: Uint8Array}>}
 */
export async function encap(pkR, ikmE) {
  const pkRm = bytes(pkR);
  // skE, pkE = GenerateKeyPair()  (or DeriveKeyPair(ikmE))
  const eph = ikmE === undefined ? await generateKeyPair() : await deriveKeyPair(ikmE);
  // dh = DH(skE, pkR)
  const dhOut = await dh(eph.privateKey, pkRm);
  // enc = SerializePublicKey(pkE); kem_context = enc || pkRm
  const enc = eph.publicKey;
  return { sharedSecret: await extractAndExpand(dhOut, concat(enc, pkRm)), enc };
}

/**
 * Decap(enc, skR) -> shared_secret.
 * @param {BufferSource} enc
 * @param {BufferSource|CryptoKey} skR raw recipient private key, or an X25519 private CryptoKey
 * @param {BufferSource} [pkR] the recipient's raw public key: required with a CryptoKey
 *   (a non-extractable key cannot give it back), else derived from skR
 * @returns {Promise<Uint8Array>}
 */
export async function decap(enc, skR, pkR = undefined) {
  const encB = bytes(enc);
  if (isCryptoKey(skR) && pkR === undefined) throw new Error('hpke: decap with a CryptoKey needs its public key');
  const skRm = isCryptoKey(skR) ? skR : bytes(skR);
  // pkE = DeserializePublicKey(enc); dh = DH(skR, pkE)
  const dhOut = await dh(skRm, encB);
  // kem_context = enc || SerializePublicKey(pk(skR))
  const pkRm = pkR !== undefined ? bytes(pkR) : await publicFromPrivate(skRm);
  return extractAndExpand(dhOut, concat(encB, pkRm));
}

// -------------------------------------------- key schedule and context (§5.1, §5.2)

/**
 * @typedef {Object} Context
 * @property {Uint8Array} baseNonce
 * @property {number} seq next sequence number
 * @property {(aad: BufferSource, pt: BufferSource) => Promise<Uint8Array>} seal
 * @property {(aad: BufferSource, ct: BufferSource) => Promise<Uint8Array>} open
 * @property {(exporterContext: BufferSource, L: number) => Promise<Uint8Array>} export
 */

/** KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "") -> Context. */
async function keySchedule(sharedSecret, info) {
  const empty = new Uint8Array(0);
  // psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id); info_hash = LabeledExtract("", "info_hash", info)
  const pskIdHash = await labeledExtract(HPKE_SUITE_ID, empty, 'psk_id_hash', empty);
  const infoHash = await labeledExtract(HPKE_SUITE_ID, empty, 'info_hash', bytes(info));
  // key_schedule_context = mode || psk_id_hash || info_hash
  const ksc = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  // secret = LabeledExtract(shared_secret, "secret", psk)
  const secret = await labeledExtract(HPKE_SUITE_ID, sharedSecret, 'secret', empty);
  // key, base_nonce, exporter_secret = LabeledExpand(secret, "key" | "base_nonce" | "exp", ksc, Nk | Nn | Nh)
  const keyRaw = await labeledExpand(HPKE_SUITE_ID, secret, 'key', ksc, NK);
  const baseNonce = await labeledExpand(HPKE_SUITE_ID, secret, 'base_nonce', ksc, NN);
  const exporterSecret = await labeledExpand(HPKE_SUITE_ID, secret, 'exp', ksc, NH);
  const key = await subtle().importKey('raw', keyRaw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);

  /** @type {Context} */
  const ctx = {
    baseNonce,
    seq: 0,
    // ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn); then IncrementSeq
    async seal(aad, pt) {
      const iv = nextNonce(ctx);
      const ct = await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: bytes(aad), tagLength: NT * 8 }, key, bytes(pt));
      return new Uint8Array(ct);
    },
    async open(aad, ct) {
      const ctB = bytes(ct);
      if (ctB.length < NT) throw new Error(`hpke: ciphertext too short (${ctB.length} bytes, tag alone is ${NT})`);
      const iv = computeNonce(ctx);
      let pt;
      try {
        pt = await subtle().decrypt({ name: 'AES-GCM', iv, additionalData: bytes(aad), tagLength: NT * 8 }, key, ctB);
      } catch (e) {
        throw new Error('hpke: open failed: AES-256-GCM authentication failed (wrong key, info or aad, or tampered enc/ciphertext)');
      }
      ctx.seq += 1; // the sequence number only advances on success (§5.2)
      return new Uint8Array(pt);
    },
    // Context.Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec", exporter_context, L)
    export(exporterContext, L) {
      return labeledExpand(HPKE_SUITE_ID, exporterSecret, 'sec', bytes(exporterContext), L);
    },
  };
  return ctx;
}

/** base_nonce XOR I2OSP(seq, Nn). @param {Context} ctx */
function computeNonce(ctx) {
  if (ctx.seq >= Number.MAX_SAFE_INTEGER) throw new Error('hpke: message limit reached');
  const seqBytes = i2osp(ctx.seq, NN);
  return ctx.baseNonce.map((b, i) => b ^ seqBytes[i]);
}

/** ComputeNonce then IncrementSeq (sealing side: the nonce is spent even if encryption fails). */
function nextNonce(ctx) {
  const iv = computeNonce(ctx);
  ctx.seq += 1;
  return iv;
}

/**
 * SetupBaseS(pkR, info) (§5.1.1).
 * @param {BufferSource} pkR raw recipient public key (32 bytes)
 * @param {BufferSource} [info]
 * @param {BufferSource} [ikmE] deterministic ephemeral IKM, for test vectors only
 * @returns {Promise<{enc: Uint8Array, ctx: Context}>}
 */
export async function setupBaseS(pkR, info = new Uint8Array(0), ikmE = undefined) {
  const { sharedSecret, enc } = await encap(pkR, ikmE);
  return { enc, ctx: await keySchedule(sharedSecret, info) };
}

/**
 * SetupBaseR(enc, skR, info) (§5.1.1).
 * @param {BufferSource} enc @param {BufferSource|CryptoKey} skR raw recipient private key (32 bytes) or CryptoKey
 * @param {BufferSource} [info] @param {BufferSource} [pkR] raw public key (required with a CryptoKey)
 * @returns {Promise<Context>}
 */
export async function setupBaseR(enc, skR, info = new Uint8Array(0), pkR = undefined) {
  return keySchedule(await decap(enc, skR, pkR), info);
}

// ------------------------------------------------------- single-shot API (§6.1)

/**
 * Seal(pkR, info, aad, pt) -> enc || ct.
 * @param {BufferSource} publicKeyRaw 32-byte X25519 public key
 * @param {BufferSource} plaintext
 * @param {BufferSource} [info]
 * @param {BufferSource} [aad]
 * @returns {Promise<Uint8Array>}
 */
export async function seal(publicKeyRaw, plaintext, info = new Uint8Array(0), aad = new Uint8Array(0)) {
  const { enc, ctx } = await setupBaseS(publicKeyRaw, info);
  return concat(enc, await ctx.seal(aad, plaintext));
}

/**
 * Open(enc || ct, skR, info, aad) -> plaintext. Throws an Error on any failure.
 * @param {BufferSource|CryptoKey} privateKey 32-byte X25519 private key, or an X25519 private
 *   CryptoKey (non-extractable is fine: the viewer keeps keys that way)
 * @param {BufferSource} sealed enc (32 bytes) || ciphertext
 * @param {BufferSource} [info]
 * @param {BufferSource} [aad]
 * @param {BufferSource} [publicKeyRaw] the recipient's raw public key (required with a CryptoKey)
 * @returns {Promise<Uint8Array>}
 */
export async function open(privateKey, sealed, info = new Uint8Array(0), aad = new Uint8Array(0), publicKeyRaw = undefined) {
  const s = bytes(sealed);
  if (s.length < NENC + NT) {
    throw new Error(`hpke: sealed message too short (${s.length} bytes; need at least ${NENC + NT})`);
  }
  const ctx = await setupBaseR(s.subarray(0, NENC), privateKey, info, publicKeyRaw);
  return ctx.open(aad, s.subarray(NENC));
}
