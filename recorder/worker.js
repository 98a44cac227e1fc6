// Sightline's recorder worker: a module Web Worker, one per recorded page.
//
//   shim --batch--> IndexedDB "raw", sealed at rest (queue.js), acknowledged 'stored'
//        --Pyodide: py_core.worker_api.process_batch (mask, analyse)-->
//        gzip -> HPKE seal -> IndexedDB "outbox" (same transaction deletes the raw batch)
//        --POST /v1/ingest--> collector; the outbox entry is deleted only on its answer.
//
// Every step resumes from IndexedDB, so a reload, a crash or going offline loses
// nothing: the next worker of the same site (any tab) carries on. A Web Lock keeps two
// tabs from working the same queue at once. Envelope format: docs/envelope.md; queue
// guarantees: docs/queue.md.

import { seal } from './hpke.js';
import * as queue from './queue.js';

const LOCK = 'sightline-queue';
const MAX_BACKOFF_MS = 60_000;
const MAX_FAILURES = 3; // tries to process one batch before it is dropped
const KEEPALIVE_MAX = 60_000; // keepalive requests share a 64 KiB in-flight budget

/** @type {{endpoint: string, key: string, base: string, sid: string, pid: string}} */
let cfg;
let pyPromise;
const failures = new Map(); // 'pid|seq' -> failed process_batch calls in this worker
let running = null; // the current pass over the queue, if any
let again = false;
let backoff = 0;
let retryTimer = 0;
let stopped = false;
let offline = false; // an upload failed in this pass: do not try again until the next one
let hiding = false; // the page is going (pagehide): uploads from now on are keepalive requests
const stats = { bootMs: null, sent: 0, duplicates: 0, rejected: 0, lastError: null };

// ------------------------------------------------------------------ messages
// Messages are handled one after another, so a 'drain' sees every batch posted before it.
let inbox = Promise.resolve();
self.onmessage = (msg) => { inbox = inbox.then(() => handle(msg)); };

async function handle({ data, ports }) {
  try {
    if (data.op === 'init') {
      cfg = data.cfg;
      queue.prune().catch(() => {});
      kick();
    } else if (data.op === 'batch' && !stopped) {
      const { sid, pid, seq, events } = data;
      // Acknowledged even when the batch had to be dropped on a full store: it is counted
      // (queue.js), and a copy carried to the next page would not fit either.
      await queue.addRaw({ sid, pid, seq, events, endpoint: cfg.endpoint, key: cfg.key });
      self.postMessage({ op: 'stored', pid, seq });
      kick();
    } else if (data.op === 'pagehide') {
      // The page is going: try now whatever the backoff said (keepalive requests outlive it).
      hiding = true;
      clearTimeout(retryTimer);
      backoff = 0;
      kick();
    } else if (data.op === 'drain') {
      await kick();
      ports[0].postMessage(await status());
    } else if (data.op === 'purge') {
      stopped = true;
      await queue.purge();
    }
  } catch (err) {
    stats.lastError = String(err);
  }
}
self.addEventListener('online', () => {
  backoff = 0;
  kick();
});

async function status() {
  return { ...(await queue.counts()), ...stats };
}

/** Run passes over the queue until nothing new arrived; one pass at a time. */
function kick() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    do {
      again = false;
      await navigator.locks.request(LOCK, pass);
    } while (again && !stopped);
  })()
    .catch((err) => {
      // Pyodide could not load (offline?) or IndexedDB failed: everything stays queued.
      retryLater(String(err));
    })
    .finally(() => { running = null; });
  return running;
}

async function pass() {
  offline = false;
  // Already sealed envelopes first: at pagehide they are what can still leave. Then each
  // batch is sent as soon as it is sealed (the outbox keeps their order).
  await upload();
  await processRaw();
}

// ------------------------------------------------------------------ process + seal
function boot() {
  return (pyPromise ||= (async () => {
    const t0 = performance.now();
    const { loadPyodide } = await import(cfg.base + 'pyodide/pyodide.mjs');
    const py = await loadPyodide({ indexURL: cfg.base + 'pyodide/' });
    await py.loadPackage('numpy'); // py_core's insights score sessions with numpy (no scikit-learn here)
    const zip = await fetch(cfg.base + 'py_core.zip');
    if (!zip.ok) throw new Error(`py_core.zip: HTTP ${zip.status}`);
    py.unpackArchive(await zip.arrayBuffer(), 'zip');
    const api = py.pyimport('py_core.worker_api');
    alertsApi = py.pyimport('py_core.alerts');
    stats.bootMs = Math.round(performance.now() - t0);
    return api;
  })().catch((err) => {
    pyPromise = null; // try again on the next pass; raw batches stay queued meanwhile
    throw err;
  }));
}

async function processRaw() {
  let raw;
  while (!stopped && (raw = await queue.nextRaw())) {
    const api = await boot();
    const input = { events: raw.events, sid: raw.sid, pid: raw.pid, seq: raw.seq };
    if (raw.dropped) input.dropped = raw.dropped; // evicted on a full store: the viewer shows it
    let payload;
    try {
      payload = api.process_batch(JSON.stringify(input));
    } catch (err) {
      // A batch py_core cannot mask must never leave unmasked; after a few tries it is
      // dropped (and counted) so that it cannot block the queue behind it.
      stats.lastError = `process_batch: ${err}`;
      const k = `${raw.pid}|${raw.seq}`;
      failures.set(k, (failures.get(k) || 0) + 1);
      if (failures.get(k) < MAX_FAILURES) throw err;
      await queue.discard(raw);
      continue;
    }
    const body = JSON.stringify(await envelope(raw, await gzip(payload)));
    offer(await queue.commit(raw, body), raw.endpoint, body);
    checkAlerts(payload, raw.endpoint).catch((err) => { stats.lastError = `alerts: ${err}`; });
    if (!offline) await upload();
  }
}

// ------------------------------------------------------------------ alerts
// The site's alert rules are checked here, on the device (py_core.alerts.device_check):
// the collector cannot read sessions. Only the fields its policy allows leave, in clear,
// to POST /v1/alerts. A collector without a policy answers 404 and nothing is checked.
let alertsApi = null;
let alertPolicy; // undefined: not fetched yet; null: none; else the public policy JSON
let alertState = '{}';

async function checkAlerts(payload, endpoint) {
  if (alertPolicy === undefined) {
    const res = await fetch(new URL('v1/alerts/policy', endpoint));
    const text = await res.text();
    alertPolicy = res.ok ? text : null;
  }
  if (!alertPolicy || !alertsApi) return;
  const out = JSON.parse(alertsApi.device_check(alertState, payload, alertPolicy));
  alertState = JSON.stringify(out.state);
  for (const alert of out.alerts) {
    const res = await fetch(new URL('v1/alerts', endpoint), {
      method: 'POST', body: JSON.stringify(alert), headers: { 'content-type': 'application/json' }, keepalive: hiding,
    });
    await res.text(); // read, so that a keepalive request is not left charged
  }
}

async function envelope(raw, plaintext) {
  const pub = b64uDecode(raw.key);
  const kid = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', pub)).slice(0, 8));
  // The id is derived from the batch's identity: a batch sealed twice (after a crash, or
  // carried over by the next page) is acknowledged by the collector as already stored.
  const idBytes = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${raw.sid}|${raw.pid}|${raw.seq}`));
  const id = b64u(new Uint8Array(idBytes).slice(0, 16));
  const ts = Date.now();
  const info = new TextEncoder().encode(`sightline/v1|${id}|${kid}|${raw.sid}|${raw.pid}|${raw.seq}|${ts}`);
  const ct = b64u(await seal(pub, plaintext, info));
  return { v: 1, id, kid, sid: raw.sid, pid: raw.pid, seq: raw.seq, ts, ct };
}

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ------------------------------------------------------------------ upload
async function upload() {
  let item;
  while (!stopped && (item = await queue.nextOutbox())) {
    const { n, endpoint, body } = item;
    let res;
    try {
      res = await fetch(new URL('v1/ingest', endpoint), {
        method: 'POST',
        body,
        // text/plain: a "simple" request, no CORS preflight round trip (docs/envelope.md)
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        // keepalive only while the page goes: those requests share a 64 KiB budget per renderer
        keepalive: hiding && body.length < KEEPALIVE_MAX,
      });
      // Every answer is read: an unread response keeps its request charged against that
      // budget, and after 64 KiB of them every keepalive request fails before leaving.
      res.detail = await res.text();
    } catch (err) {
      offline = true;
      offer(n, endpoint, body);
      return retryLater(String(err));
    }
    if (res.ok) {
      stats.sent++;
      if (res.status === 200) stats.duplicates++; // already stored: not stored twice
    } else if (res.status === 409) {
      // id_conflict: this batch was sealed twice (ids come from (sid, pid, seq)) and the
      // first copy is stored. Delivered.
      stats.duplicates++;
    } else if (res.status >= 500 || res.status === 429 || res.status === 408) {
      offline = true;
      offer(n, endpoint, body);
      return retryLater(`HTTP ${res.status}`, Number(res.headers.get('retry-after')) * 1000);
    } else {
      // The collector refused this envelope for good (4xx): retrying cannot help.
      stats.rejected++;
      stats.lastError = `HTTP ${res.status}: ${res.detail}`;
    }
    await queue.done(n);
    if (offered.delete(n)) self.postMessage({ op: 'sent', n });
    backoff = 0;
  }
}

// Sealed envelopes not yet delivered are offered to the page, which sends them with
// navigator.sendBeacon at pagehide: this worker may be ended before it can. The outbox
// keeps them until a worker gets an answer, so a beacon that also arrives is answered
// 200 duplicate (same bytes), never stored twice. sendBeacon has a 64 KiB budget.
const offered = new Map(); // outbox key -> body length
const BEACON_BUDGET = 64_000;

function offer(n, endpoint, body) {
  if (n == null || offered.has(n)) return;
  let used = 0;
  for (const len of offered.values()) used += len;
  if (used + body.length > BEACON_BUDGET) return;
  offered.set(n, body.length);
  self.postMessage({ op: 'sealed', n, url: new URL('v1/ingest', endpoint).href, body });
}

/** Try again later: exponential backoff with jitter (1 s .. 60 s), or the server's Retry-After. */
function retryLater(reason, after = 0) {
  stats.lastError = reason;
  backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 1000);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(kick, Math.max(after || 0, backoff * (0.5 + Math.random() / 2)));
}

// ------------------------------------------------------------------ bytes
function b64u(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64uDecode(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
