// Sightline's recorder worker: a module Web Worker, one per recorded page.
//
//   shim --batch--> IndexedDB "raw" (at once)
//        --Pyodide: py_core.worker_api.process_batch (mask, analyse)-->
//        gzip -> HPKE seal -> IndexedDB "outbox" (same transaction deletes the raw batch)
//        --POST /v1/ingest--> collector; the outbox entry is deleted only on its 2xx.
//
// Every step resumes from IndexedDB, so a reload, a crash or going offline loses
// nothing: the next worker of the same site (any tab) carries on. A Web Lock keeps two
// tabs from working the same queue at once. Envelope format: docs/envelope.md.

import { openDB } from 'idb';
import { seal } from './hpke.js';

const DB_NAME = 'sightline';
const DB_VERSION = 1;
const LOCK = 'sightline-queue';
const MAX_BACKOFF_MS = 60_000;

/** @type {{endpoint: string, key: string, base: string, sid: string, pid: string}} */
let cfg;
let dbPromise;
let pyPromise;
let running = null; // the current pass over the queue, if any
let again = false;
let backoff = 0;
let retryTimer = 0;
let stopped = false;
const stats = { bootMs: null, sent: 0, rejected: 0, lastError: null };

const db = () =>
  (dbPromise ||= openDB(DB_NAME, DB_VERSION, {
    upgrade(d) {
      // A batch's key is its identity, so a carried-over second copy replaces the first.
      d.createObjectStore('raw', { keyPath: ['pid', 'seq'] });
      d.createObjectStore('outbox', { keyPath: 'n', autoIncrement: true });
    },
  }));

// ------------------------------------------------------------------ messages
// Messages are handled one after another, so a 'drain' sees every batch posted before it.
let inbox = Promise.resolve();
self.onmessage = (msg) => { inbox = inbox.then(() => handle(msg)); };

async function handle({ data, ports }) {
  try {
    if (data.op === 'init') {
      cfg = data.cfg;
      kick();
    } else if (data.op === 'batch' && !stopped) {
      const { sid, pid, seq, events } = data;
      await (await db()).put('raw', { sid, pid, seq, events, endpoint: cfg.endpoint, key: cfg.key });
      self.postMessage({ op: 'stored', pid, seq });
      kick();
    } else if (data.op === 'drain') {
      await kick();
      ports[0].postMessage(await status());
    } else if (data.op === 'purge') {
      stopped = true;
      const d = await db();
      await Promise.all([d.clear('raw'), d.clear('outbox')]);
    }
  } catch (err) {
    stats.lastError = String(err);
  }
}
self.addEventListener('online', () => kick());

async function status() {
  const d = await db();
  return { raw: await d.count('raw'), outbox: await d.count('outbox'), ...stats };
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
    .catch((err) => { stats.lastError = String(err); })
    .finally(() => { running = null; });
  return running;
}

async function pass() {
  await processRaw();
  await upload();
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
  const d = await db();
  let batch;
  while ((batch = await d.getAll('raw', null, 1)).length && !stopped) {
    const raw = batch[0];
    const api = await boot();
    const payload = api.process_batch(JSON.stringify({ events: raw.events, sid: raw.sid, pid: raw.pid, seq: raw.seq }));
    const body = JSON.stringify(await envelope(raw, await gzip(payload)));
    const tx = d.transaction(['raw', 'outbox'], 'readwrite');
    await Promise.all([
      tx.objectStore('raw').delete([raw.pid, raw.seq]),
      tx.objectStore('outbox').add({ endpoint: raw.endpoint, body }),
      tx.done,
    ]);
    checkAlerts(payload, raw.endpoint).catch((err) => { stats.lastError = `alerts: ${err}`; });
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
    alertPolicy = res.ok ? await res.text() : null;
  }
  if (!alertPolicy || !alertsApi) return;
  const out = JSON.parse(alertsApi.device_check(alertState, payload, alertPolicy));
  alertState = JSON.stringify(out.state);
  for (const alert of out.alerts) {
    await fetch(new URL('v1/alerts', endpoint), {
      method: 'POST', body: JSON.stringify(alert), headers: { 'content-type': 'application/json' }, keepalive: true,
    });
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
  const d = await db();
  let item;
  while ((item = await d.getAll('outbox', null, 1)).length && !stopped) {
    const { n, endpoint, body } = item[0];
    let res;
    try {
      res = await fetch(new URL('v1/ingest', endpoint), {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        keepalive: body.length < 60_000,
      });
    } catch (err) {
      return retryLater(String(err));
    }
    if (res.ok || res.status === 409) {
      // 409: an envelope with this id (the same batch, sealed before) is already stored.
      stats.sent++;
    } else if (res.status >= 500 || res.status === 429 || res.status === 408) {
      return retryLater(`HTTP ${res.status}`);
    } else {
      // The collector refused this envelope for good (4xx): retrying cannot help.
      stats.rejected++;
      stats.lastError = `HTTP ${res.status}: ${await res.text()}`;
    }
    await d.delete('outbox', n);
    backoff = 0;
  }
}

function retryLater(reason) {
  stats.lastError = reason;
  backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 1000);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(kick, backoff * (0.5 + Math.random() / 2));
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
