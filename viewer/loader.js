// The viewer's incremental loader: pages the collector's commit-ordered change feed
// (GET /v1/envelopes?since=, docs/collector.md) and keeps the cursor and every envelope it
// has opened in this origin's IndexedDB, so a reload fetches only what was stored since.
// Sealed at rest: each record is AES-256-GCM under a key generated in this browser as a
// non-extractable CryptoKey (kept in the same database; it can encrypt and decrypt here,
// no script can read it out). Forget deletes the whole database. Design: docs/viewer.md.
import { openEnvelope, loadedKids } from './decrypt.js';

const DB = 'sightline-cache';
const PAGE = 1000; // envelopes per /v1/envelopes request
const te = new TextEncoder();
const td = new TextDecoder();

/** scope -> Map(sid -> [{id, pid, seq, ts, received, p: payload JSON text} | {id, ..., err}]) */
let sessions = new Map();
/** What the last sync did, for the status line and the tests. */
let last = {};

function req(r) {
  return new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
}

function done(t) {
  return new Promise((resolve, reject) => {
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('IndexedDB transaction aborted'));
  });
}

function openDb() {
  const r = indexedDB.open(DB, 1);
  r.onupgradeneeded = () => {
    const d = r.result;
    d.createObjectStore('meta'); // 'key': the CryptoKey; 'cursor:<scope>': {cursor}
    d.createObjectStore('sessions', { keyPath: ['scope', 'sid'] }); // {scope, sid, iv, ct}
  };
  return req(r);
}

async function hex(text) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', te.encode(text)));
  return Array.from(h.slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The cache's own sealing key: made once, non-extractable, kept in IndexedDB. */
async function sealingKey(d) {
  let key = await req(d.transaction('meta').objectStore('meta').get('key'));
  if (!key) {
    key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    const t = d.transaction('meta', 'readwrite');
    t.objectStore('meta').put(key, 'key');
    await done(t);
  }
  return key;
}

async function seal(key, scope, sid, value) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ad = te.encode(`${scope}|${sid}`); // a record moved to another session or scope fails
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, key, te.encode(JSON.stringify(value)));
  return { scope, sid, iv, ct };
}

async function unseal(key, rec) {
  const ad = te.encode(`${rec.scope}|${rec.sid}`);
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv, additionalData: ad }, key, rec.ct);
  return JSON.parse(td.decode(pt));
}

async function getJson(base, token, path) {
  const resp = await fetch(base + path, { headers: { Authorization: `Bearer ${token}` } });
  if (!resp.ok) {
    const e = new Error(`${path}: HTTP ${resp.status} ${(await resp.text()).slice(0, 200)}`);
    e.status = resp.status;
    throw e;
  }
  return resp.json();
}

/**
 * Bring this page up to date with the collector at `base`: read what this browser keeps for
 * (collector, loaded keys), fetch /v1/envelopes after the kept cursor page by page, open
 * each new envelope, and keep each page's sessions and the new cursor in one IndexedDB
 * transaction (a reload in the middle resumes at the last kept page). Sessions the
 * collector no longer lists (erased, expired) are dropped from the cache. `onProgress(text)`
 * is called as it goes. With `persist` false nothing is read from or written to IndexedDB
 * (the analyst did not ask this browser to keep anything): the whole feed is fetched. Returns JSON {sids, cached, fetched, requests, dropped, ms}; then
 * `session(sid)` gives each session's envelopes. Throws with `.status` 404 on a collector
 * without the change feed.
 */
export async function sync(base, token, onProgress, persist = true) {
  const t0 = performance.now();
  const kids = loadedKids().sort();
  const scope = await hex(`${base || location.origin}|${kids.join(',')}`);
  const d = persist ? await openDb() : null;
  let requests = 0;
  try {
    const key = d && await sealingKey(d);
    const mine = new Map();
    const recs = d ? await req(d.transaction('sessions').objectStore('sessions').getAll(IDBKeyRange.bound([scope, ''], [scope, '\uffff']))) : [];
    for (const rec of recs) {
      try {
        mine.set(rec.sid, await unseal(key, rec));
      } catch (e) {
        console.warn('a cached session could not be unsealed; it is fetched again', e);
      }
    }
    let cursor = d ? (await req(d.transaction('meta').objectStore('meta').get(`cursor:${scope}`)))?.cursor || '' : '';
    if (mine.size !== recs.length) cursor = ''; // a record lost: read the feed again from the start
    const cached = [...mine.values()].reduce((n, l) => n + l.length, 0);
    let fetched = 0;
    for (;;) {
      const page = await getJson(base, token, `/v1/envelopes?since=${encodeURIComponent(cursor)}&limit=${PAGE}`);
      requests += 1;
      const touched = new Set();
      for (const env of page.envelopes) {
        const list = mine.get(env.sid) || [];
        if (list.some((x) => x.id === env.id)) continue; // read again after a lost record
        const { received, ...sealed } = env;
        const item = { id: env.id, pid: env.pid, seq: env.seq, ts: env.ts, received };
        try {
          item.p = await openEnvelope(JSON.stringify(sealed));
        } catch (e) {
          item.err = String(e.message || e).split(':')[0];
        }
        list.push(item);
        mine.set(env.sid, list);
        touched.add(env.sid);
      }
      fetched += page.envelopes.length;
      if (d) {
        const rows = await Promise.all([...touched].map((sid) => seal(key, scope, sid, mine.get(sid))));
        const t = d.transaction(['sessions', 'meta'], 'readwrite');
        for (const row of rows) t.objectStore('sessions').put(row);
        t.objectStore('meta').put({ cursor: page.next }, `cursor:${scope}`);
        await done(t);
      }
      cursor = page.next;
      if (onProgress) onProgress(`Fetched ${fetched} new envelope(s), ${cached} kept in this browser…`);
      if (!page.more) break;
    }
    // Erased or expired on the collector: drop here too (its session list is metadata only).
    const listed = new Set();
    for (let offset = 0; d && mine.size; offset += 10000) {
      const rows = (await getJson(base, token, `/v1/sessions?limit=10000&offset=${offset}`)).sessions;
      requests += 1;
      for (const r of rows) listed.add(r.sid);
      if (rows.length < 10000) break;
    }
    const gone = d ? [...mine.keys()].filter((sid) => !listed.has(sid)) : [];
    if (gone.length && d) {
      const t = d.transaction('sessions', 'readwrite');
      for (const sid of gone) t.objectStore('sessions').delete([scope, sid]);
      await done(t);
    }
    for (const sid of gone) mine.delete(sid);
    sessions = mine;
    last = { sids: [...mine.keys()], cached, fetched, requests, dropped: gone.length, ms: Math.round(performance.now() - t0) };
    return JSON.stringify(last);
  } finally {
    if (d) d.close();
  }
}

/** One synced session's envelopes as JSON: [{id, pid, seq, ts, received, p | err}]. */
export function session(sid) {
  return JSON.stringify(sessions.get(sid) || []);
}

/** What the last sync did (JSON), for the status line and tests. */
export function lastSync() {
  return JSON.stringify(last);
}

/** Delete everything this browser keeps of opened sessions (the viewer's Forget). */
export async function forget() {
  sessions = new Map();
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(DB);
    r.onsuccess = r.onerror = r.onblocked = () => resolve();
  });
}
