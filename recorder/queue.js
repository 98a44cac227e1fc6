// Sightline's offline-first queue: IndexedDB (via idb), shared by every tab of a site.
//
//   raw     batches as the shim posted them, sealed at rest (AES-256-GCM under a
//           non-extractable WebCrypto key kept in `meta`), keyed by [pid, seq]
//   outbox  HPKE-sealed envelope bodies waiting for the collector, in sealing order
//   sent    [pid, seq] of every batch already moved to the outbox (a carried-over second
//           copy of it is dropped instead of sealed twice); pruned after a day
//   meta    'atRestKey' -> CryptoKey;  'dropped:<sid>' -> {batches, events} evicted;
//           'alerts:<sid>' -> names of the alert rules already fired for that session
//   log     [sid, pid, seq] -> the masked events of a batch already sealed, sealed at rest:
//           the session so far, which the device's Python analyses as a whole (device
//           mode); pruned after LOG_TTL_MS, evicted first when the store is full
//
// Writes never throw into the caller on a full store: the oldest pending batch (raw or
// outbox, whichever is older) is evicted and counted under its session, and the count
// travels in that session's next sealed payload (`dropped`), so the viewer can show it.
// Format and guarantees: docs/queue.md.

import { openDB } from 'idb';

export const DB_NAME = 'sightline';
export const DB_VERSION = 3;
const SENT_TTL_MS = 24 * 3600 * 1000; // how long a batch's identity is remembered after sealing
const LOG_TTL_MS = 6 * 3600 * 1000; // a session lapses after 30 idle minutes; its log goes after this
const MAX_EVICTIONS = 10_000; // a bound on one write's eviction loop (each evicts one batch)

const te = new TextEncoder();
const td = new TextDecoder();

let dbPromise = null;
let keyPromise = null;

/** @returns {Promise<import('idb').IDBPDatabase>} */
export function db() {
  return (dbPromise ||= openDB(DB_NAME, DB_VERSION, {
    upgrade(d, oldVersion) {
      if (oldVersion < 1) {
        d.createObjectStore('raw', { keyPath: ['pid', 'seq'] });
        d.createObjectStore('outbox', { keyPath: 'n', autoIncrement: true });
      }
      // v1 kept raw batches in clear; they stay readable (openRaw) and leave the device
      // sealed as usual. New records are sealed at rest.
      if (oldVersion < 2) {
        d.createObjectStore('sent', { keyPath: ['pid', 'seq'] }).createIndex('at', 'at');
        d.createObjectStore('meta');
      }
      if (oldVersion < 3) d.createObjectStore('log', { keyPath: ['sid', 'pid', 'seq'] }).createIndex('at', 'at');
    },
    blocking() {
      // A newer version elsewhere (another tab after a deploy): let it upgrade.
      dbPromise = null;
      keyPromise = null;
    },
  }).catch((err) => {
    dbPromise = null;
    throw err;
  }));
}

// ------------------------------------------------------------------ at-rest sealing
/**
 * The site's at-rest key: AES-256-GCM, generated in this browser, non-extractable, kept
 * in IndexedDB as a CryptoKey (structured clone keeps it non-extractable). The first
 * worker to store it wins; every tab then uses the same key.
 * @returns {Promise<CryptoKey>}
 */
export function atRestKey() {
  return (keyPromise ||= (async () => {
    const d = await db();
    const have = await d.get('meta', 'atRestKey');
    if (have) return have;
    const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    const tx = d.transaction('meta', 'readwrite');
    const existing = await tx.store.get('atRestKey');
    if (!existing) await tx.store.put(fresh, 'atRestKey');
    await tx.done;
    return existing || fresh;
  })().catch((err) => {
    keyPromise = null;
    throw err;
  }));
}

/** The AAD binds a sealed record to its store and identity, so records cannot be swapped. */
const aadOf = (pid, seq, store = 'raw') => te.encode(`sightline-${store}|${pid}|${seq}`);

async function sealEvents(events, pid, seq, store) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: aadOf(pid, seq, store) }, await atRestKey(), te.encode(JSON.stringify(events)));
  return { iv, data };
}

async function openEvents(rec, store) {
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: rec.iv, additionalData: aadOf(rec.pid, rec.seq, store) }, await atRestKey(), rec.data);
  return JSON.parse(td.decode(plain));
}

async function sealRaw(batch) {
  return { sid: batch.sid, pid: batch.pid, seq: batch.seq, n: batch.events.length, at: Date.now(),
    endpoint: batch.endpoint, key: batch.key, ...(await sealEvents(batch.events, batch.pid, batch.seq, 'raw')) };
}

async function openRaw(rec) {
  if (!rec.iv) return rec.events; // a v1 record, stored before at-rest sealing
  return openEvents(rec, 'raw');
}

// ------------------------------------------------------------------ quota
const isQuota = (err) => !!err && (err.name === 'QuotaExceededError'
  || (err.inner && err.inner.name === 'QuotaExceededError'));

/**
 * Run `write` (one IndexedDB transaction); while the store is full, evict the oldest
 * pending batch other than `keep` and try again. Returns false if nothing could make room.
 */
async function withRoom(write, keep, shed = null) {
  for (let i = 0; i < MAX_EVICTIONS; i++) {
    try {
      await write();
      return true;
    } catch (err) {
      if (!isQuota(err)) throw err;
      // `shed()` makes the write itself smaller first (true if it could), so that nothing
      // pending is evicted to make room for what is only nice to keep.
      if (shed && shed()) continue;
      if (!(await evictOldest(keep))) return false;
    }
  }
  return false;
}

/** The oldest pending batch (raw or outbox), excluding `keep` ([pid, seq]). */
async function oldest(d, keep) {
  const raws = await d.getAll('raw', null, 2);
  const raw = raws.find((r) => !keep || r.pid !== keep[0] || r.seq !== keep[1]);
  const out = (await d.getAll('outbox', null, 1))[0];
  if (raw && (!out || raw.at < out.at)) return { store: 'raw', key: [raw.pid, raw.seq], sid: raw.sid, b: 1, n: raw.n || 0 };
  // An evicted envelope's own `dropped` count is lost with it: count it again.
  const carried = (out && out.dropped) || { batches: 0, events: 0 };
  if (out) return { store: 'outbox', key: out.n, sid: out.sid, b: 1 + carried.batches, n: (out.events || 0) + carried.events };
  return null;
}

/** Evict the oldest pending batch and count it under its session. The analysis log goes
 * first: it holds copies of batches already sealed, so nothing undelivered is lost with it. */
async function evictOldest(keep) {
  const d = await db();
  const logged = await d.getKeyFromIndex('log', 'at', IDBKeyRange.lowerBound(0));
  if (logged) {
    await d.delete('log', logged);
    stats.unlogged += 1;
    return true;
  }
  // Light copies of batches still held raw (queueLight) go next, uncounted.
  for (let cur = await d.transaction('outbox').store.openCursor(); cur; cur = await cur.continue()) {
    if (cur.value.light) {
      await d.delete('outbox', cur.key);
      return true;
    }
  }
  const victim = await oldest(d, keep);
  if (!victim) return false;
  try {
    const tx = d.transaction([victim.store, 'meta'], 'readwrite');
    await Promise.all([
      tx.objectStore(victim.store).delete(victim.key),
      countDropped(tx.objectStore('meta'), victim.sid, victim.b, victim.n),
      tx.done,
    ]);
  } catch (err) {
    if (!isQuota(err)) throw err;
    // Not even the counter fits: delete alone, then count once there is room.
    await d.delete(victim.store, victim.key);
    await saveCount(d, victim.sid, victim.b, victim.n);
  }
  stats.evicted += 1;
  return true;
}

/** Add to a session's dropped count outside a transaction; while even that does not fit,
 * analysis copies go first (a count must not be lost: the viewer shows it). */
async function saveCount(d, sid, batches, events) {
  const k = `dropped:${sid}`;
  for (let i = 0; i < MAX_EVICTIONS; i++) {
    try {
      await d.put('meta', bump(await d.get('meta', k), batches, events), k);
      return;
    } catch (err) {
      if (!isQuota(err)) return;
      const logged = await d.getKeyFromIndex('log', 'at', IDBKeyRange.lowerBound(0));
      if (!logged) return;
      await d.delete('log', logged);
      stats.unlogged += 1;
    }
  }
}

const bump = (c, batches, events) => ({ batches: ((c && c.batches) || 0) + batches, events: ((c && c.events) || 0) + events });

async function countDropped(meta, sid, batches, events) {
  const k = `dropped:${sid}`;
  await meta.put(bump(await meta.get(k), batches, events), k);
}

/** What this queue evicted so far (this worker's share). */
export const stats = { evicted: 0, lost: 0, unlogged: 0 };

// ------------------------------------------------------------------ raw batches
/**
 * Store one batch from the shim, sealed at rest. A batch already sealed (its [pid, seq]
 * is in `sent`) is ignored. Never throws on a full store: returns false if the batch
 * itself had to be dropped (then it is counted as dropped for its session).
 */
export async function addRaw(batch) {
  const d = await db();
  if (await d.get('sent', [batch.pid, batch.seq])) return true;
  const rec = await sealRaw(batch);
  const ok = await withRoom(() => d.put('raw', rec), null);
  if (!ok) {
    stats.lost += 1;
    await saveCount(d, rec.sid, 1, rec.n);
  }
  return ok;
}

/**
 * The next raw batch in [pid, seq] order, opened: {sid, pid, seq, endpoint, key, events}
 * plus `dropped` ({batches, events}) when batches of its session were evicted, or null.
 * A record that cannot be opened (its at-rest key is gone) is discarded and counted.
 */
export async function nextRaw() {
  return (await allRaw(1))[0] || null;
}

/** Up to `limit` raw batches in [pid, seq] order, opened (as nextRaw); `skip(pid, seq)`
 * leaves a batch out before it is read and opened. */
export async function allRaw(limit = Infinity, skip = null) {
  const d = await db();
  const found = [];
  for (const key of await d.getAllKeys('raw')) {
    if (found.length >= limit) break;
    if (skip && skip(key[0], key[1])) continue;
    const rec = await d.get('raw', key);
    if (!rec) continue; // taken meanwhile
    const one = await openRec(d, rec);
    if (!one) continue;
    // A session's dropped count travels once, in its first batch sealed from here on.
    if (one.dropped && found.some((b) => b.sid === one.sid)) delete one.dropped;
    found.push(one);
  }
  return found;
}

/** Open one raw record; one that cannot be opened (its at-rest key is gone) is discarded and counted. */
async function openRec(d, rec) {
  let events;
  try {
    events = await openRaw(rec);
  } catch (err) {
    const tx = d.transaction(['raw', 'meta'], 'readwrite');
    await Promise.all([
      tx.objectStore('raw').delete([rec.pid, rec.seq]),
      countDropped(tx.objectStore('meta'), rec.sid, 1, rec.n || 0),
      tx.done,
    ]);
    stats.lost += 1;
    return null;
  }
  const dropped = await d.get('meta', `dropped:${rec.sid}`);
  const out = { sid: rec.sid, pid: rec.pid, seq: rec.seq, endpoint: rec.endpoint, key: rec.key, events, lit: !!rec.lit };
  if (dropped && dropped.batches) out.dropped = dropped;
  return out;
}

/**
 * Replace a raw batch by its sealed envelope, atomically: delete the raw record, add the
 * outbox entry, remember [pid, seq] as sent, and subtract the dropped count it carries.
 * A batch already sent (a second copy) is just deleted. Returns the outbox key, or null.
 * `logged` (device mode): the batch's masked events, kept in the session's analysis log
 * (sealed at rest) in the same transaction.
 */
export async function commit(raw, body, logged = null) {
  const d = await db();
  let n = null;
  let log = logged && { sid: raw.sid, pid: raw.pid, seq: raw.seq, at: Date.now(),
    ...(await sealEvents(logged, `${raw.sid}|${raw.pid}`, raw.seq, 'log')) };
  const write = async () => {
    const tx = d.transaction(['raw', 'outbox', 'sent', 'meta', 'log'], 'readwrite');
    const key = [raw.pid, raw.seq];
    const steps = [tx.done, tx.objectStore('raw').delete(key)];
    if (!(await tx.objectStore('sent').get(key))) {
      if (log) steps.push(tx.objectStore('log').put(log));
      steps.push(tx.objectStore('outbox').add({ endpoint: raw.endpoint, body, sid: raw.sid, pid: raw.pid,
        seq: raw.seq, events: raw.events.length, dropped: raw.dropped || null, at: Date.now() }).then((k) => { n = k; }));
      steps.push(tx.objectStore('sent').put({ pid: raw.pid, seq: raw.seq, at: Date.now() }));
      if (raw.dropped) {
        const meta = tx.objectStore('meta');
        const k = `dropped:${raw.sid}`;
        const c = bump(await meta.get(k), -raw.dropped.batches, -raw.dropped.events);
        steps.push(c.batches > 0 ? meta.put(c, k) : meta.delete(k));
      }
    }
    await Promise.all(steps);
  };
  // A full store keeps the envelope and goes without its analysis copy.
  const shed = () => !!log && ((log = null), stats.unlogged++, true);
  if (!(await withRoom(write, [raw.pid, raw.seq], shed))) {
    // Not even the sealed batch fits on its own: drop it, counted.
    stats.lost += 1;
    await d.delete('raw', [raw.pid, raw.seq]);
    await saveCount(d, raw.sid, 1, raw.events.length);
  }
  return n;
}

/**
 * Device mode at pagehide: queue a batch's light form (HPKE-sealed `body`, its own envelope
 * id) for upload and keep the raw batch, flagged `lit`, for Python on the visit's next
 * page, whose device form then supersedes it (docs/processing.md). A light copy is evicted
 * before anything else on a full store, uncounted: its batch is still here.
 */
export async function queueLight(raw, body) {
  const d = await db();
  await withRoom(async () => {
    const tx = d.transaction(['raw', 'outbox'], 'readwrite');
    const rec = await tx.objectStore('raw').get([raw.pid, raw.seq]);
    if (!rec || rec.lit) return tx.done; // processed meanwhile, or already queued
    await Promise.all([
      tx.objectStore('raw').put({ ...rec, lit: true }),
      tx.objectStore('outbox').add({ endpoint: raw.endpoint, body, sid: raw.sid, pid: raw.pid, seq: raw.seq,
        events: raw.events.length, dropped: null, light: true, at: Date.now() }),
      tx.done,
    ]);
  }, [raw.pid, raw.seq]);
}

// ------------------------------------------------------------------ outbox
/** The oldest outbox entry {n, endpoint, body, sid, pid, seq}, or null. */
export async function nextOutbox() {
  return (await (await db()).getAll('outbox', null, 1))[0] || null;
}

/** Forget a delivered (or refused for good) outbox entry. */
export async function done(n) {
  await (await db()).delete('outbox', n);
}

/** Forget `sent` marks older than a day (a carried copy never comes that late), and
 * analysis logs (and their sessions' alert marks) of sessions long over. */
export async function prune(now = Date.now()) {
  const d = await db();
  for (const [store, ttl] of [['sent', SENT_TTL_MS], ['log', LOG_TTL_MS]]) {
    const tx = d.transaction(store, 'readwrite');
    let cur = await tx.store.index('at').openCursor(IDBKeyRange.upperBound(now - ttl));
    while (cur) {
      cur.delete();
      cur = await cur.continue();
    }
    await tx.done;
  }
  const live = new Set((await d.getAll('log')).map((r) => r.sid));
  for (const k of await d.getAllKeys('meta')) {
    const sid = typeof k === 'string' && /^(alerts|pass):/.test(k) && k.slice(k.indexOf(':') + 1);
    if (sid && !live.has(sid)) await d.delete('meta', k);
  }
}

/** The masked events of a session's batches already sealed (device mode's analysis log),
 * in the order they were sealed. */
export async function history(sid) {
  const d = await db();
  const recs = await d.getAll('log', IDBKeyRange.bound([sid], [sid, []]));
  recs.sort((a, b) => a.at - b.at);
  const out = [];
  for (const r of recs) {
    try {
      for (const e of await openEvents({ ...r, pid: `${r.sid}|${r.pid}` }, 'log')) out.push(e);
    } catch (err) { /* its key is gone: the analysis goes without it */ }
  }
  return out;
}

/** A small value of this site's (alert marks); undefined when missing. */
export async function getMeta(k) {
  return (await db()).get('meta', k);
}

export async function setMeta(k, v) {
  await withRoom(async () => (await db()).put('meta', v, k), null);
}

/** Counts for status reports and tests. */
export async function counts() {
  const d = await db();
  return { raw: await d.count('raw'), outbox: await d.count('outbox'), logged: await d.count('log'),
    evicted: stats.evicted, lost: stats.lost };
}
