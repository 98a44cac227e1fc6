// Sightline's recorder worker: a module Web Worker, one per recorded page.
//
//   shim --batch--> IndexedDB "raw", sealed at rest (queue.js), acknowledged 'stored'
//   light mode:  mask to shape in JS (light.js) -> gzip -> HPKE seal -> "outbox" at once
//   device mode: each batch is also sealed in light form at once, as a standby that the
//                page beacons at pagehide if Python has not processed it by then; after
//                the page's load event, once the visitor is idle, Pyodide (restored from
//                a memory snapshot kept on the device when there is one) processes the
//                visit's whole backlog in one pass: masks every batch, analyses every
//                session as a whole (py_core.worker_api.process_visit), seals, and
//                decides the site's alerts from that whole-session verdict
//   outbox --POST /v1/ingest--> collector; an entry is deleted only on its answer.
//
// Every step resumes from IndexedDB, so a reload, a crash or going offline loses
// nothing: the next worker of the same site (any tab) carries on. A Web Lock keeps two
// tabs from working the same queue at once. Modes: docs/processing.md; envelope format:
// docs/envelope.md; queue guarantees: docs/queue.md.

import { seal } from './hpke.js';
import { maskLight } from './light.js';
import * as queue from './queue.js';
import { EventType as E } from './protocol.js';

// Where the runtime lives in the built site (content-hashed names, written in by build.py).
/* global __SIGHTLINE_RUNTIME__ */
const RT = typeof __SIGHTLINE_RUNTIME__ !== 'undefined' ? __SIGHTLINE_RUNTIME__
  : { pyodide: 'pyodide/', stdlib: '', lock: '', core: 'py_core.zip', build: '' };
const LOCK = 'sightline-queue';
const MAX_BACKOFF_MS = 60_000;
const MAX_FAILURES = 3; // tries to process one batch before it is dropped
const KEEPALIVE_MAX = 60_000; // keepalive requests share a 64 KiB in-flight budget
const IDLE_MS = 3_000; // no click, key, scroll or pointer move for this long: the visitor is idle
const PASS_GAP_MS = 10_000; // a booted interpreter runs again after this, doubling per pass up to 16x (unless flushed)
const VISIT_GAP_MS = 60_000; // a later page of the visit starts Python only this long after the visit's last pass
const CACHE = `sightline-runtime-${RT.build}`; // Cache Storage: the runtime and the snapshot
const SNAPSHOT = 'snapshot'; // its key in that cache (relative to the worker's base URL)
// What the visitor does, as opposed to what the page does by itself (mutations, timers).
const INPUTS = new Set([E.CLICK, E.INPUT, E.SCROLL, E.MOUSE, E.FOCUS]);

/** @type {{endpoint: string, key: string, base: string, sid: string, pid: string, mode: string}} */
let cfg;
let pyPromise;
const failures = new Map(); // 'pid|seq' -> failed masking attempts in this worker
let running = null; // the current pass over the queue, if any
let again = false;
let forced = false; // a flush asked for Python now, idle or not
let backoff = 0;
let retryTimer = 0;
let idleTimer = 0;
let offline = false; // an upload failed in this pass: do not try again until the next one
let hiding = false; // the page is going (pagehide): uploads from now on are keepalive requests
let loadedAt = 0; // when the page's load event (and an idle callback after it) came; 0: not yet
let lastInput = 0; // the newest visitor input seen in a batch
let lastPass = 0; // when the interpreter last finished a pass
let visitPass = 0; // when any page of this visit last finished a pass (IndexedDB 'pass:<sid>')
const standby = new Map(); // 'pid|seq' -> {body, events}: a raw batch sealed in light form
const lightPages = new Map(); // pid -> light.js's state for that page
const stats = { mode: null, bootMs: null, boots: 0, restores: 0, passes: 0, pythonMs: 0, light: 0,
  sent: 0, duplicates: 0, rejected: 0, unreadable: 0, lastError: null };

// For benches and tests (Playwright's worker.evaluate): this worker's counters, read
// without starting anything (a flush would force a Python pass).
self.sightlineStats = stats;

// ------------------------------------------------------------------ messages
// Messages are handled one after another, so a 'drain' sees every batch posted before it.
let inbox = Promise.resolve();
self.onmessage = (msg) => { inbox = inbox.then(() => handle(msg)); };
// A message that arrives unreadable (a failed structured clone) is never dropped in silence:
// the page is told, and sends every batch not yet stored again as JSON text.
self.onmessageerror = unreadable;

function unreadable() {
  stats.unreadable += 1;
  self.postMessage({ op: 'unreadable' });
}

async function handle({ data, ports }) {
  try {
    if (!data || typeof data.op !== 'string') {
      unreadable();
    } else if (data.op === 'init') {
      cfg = data.cfg;
      cfg.mode = cfg.mode === 'light' ? 'light' : 'device';
      stats.mode = cfg.mode;
      queue.prune().catch(() => {});
      queue.getMeta(`pass:${cfg.sid}`).then((t) => { visitPass = t || 0; }, () => {});
      forgetOldRuntimes();
      kick();
    } else if (data.op === 'batch') {
      const { sid, pid, seq } = data;
      const events = typeof data.json === 'string' ? JSON.parse(data.json) : data.events;
      if (!Array.isArray(events) || typeof pid !== 'string' || !Number.isInteger(seq)) return unreadable();
      for (const e of events) if (INPUTS.has(e.t) && e.ts > lastInput) lastInput = e.ts;
      // Acknowledged even when the batch had to be dropped on a full store: it is counted
      // (queue.js), and a copy carried to the next page would not fit either.
      await queue.addRaw({ sid, pid, seq, events, endpoint: cfg.endpoint, key: cfg.key });
      self.postMessage({ op: 'stored', pid, seq });
      kick();
    } else if (data.op === 'loaded') {
      loadedAt = Date.now();
      kick();
    } else if (data.op === 'pagehide') {
      // The page is going: what Python has not processed leaves in light form (its standby
      // envelopes, which the page has just sent as beacons, go to the outbox: the same
      // bytes again are a 200 duplicate), and uploads are tried now whatever the backoff.
      hiding = true;
      clearTimeout(retryTimer);
      backoff = 0;
      kick();
    } else if (data.op === 'drain') {
      forced = true;
      await kick();
      ports[0].postMessage(await status());
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
    } while (again);
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
  if (hiding && cfg.mode === 'device') {
    // The page is going: every batch Python has not processed is queued in light form
    // (the standby envelopes first: the page has just sent them as beacons, and the same
    // bytes again are a 200 duplicate). The raw batches stay, flagged `lit` (so a later
    // pass skips them), for Python on the visit's next page; if there is none, the light
    // form is what the team gets.
    const raws = await queue.allRaw();
    raws.sort((a, b) => standby.has(`${b.pid}|${b.seq}`) - standby.has(`${a.pid}|${a.seq}`));
    for (const raw of raws) {
      if (raw.lit) continue;
      const form = standby.get(`${raw.pid}|${raw.seq}`) || await lightForm(raw);
      await queue.queueLight(raw, form.body);
      stats.light++;
    }
  }
  // Already sealed envelopes first: at pagehide they are what can still leave. Then each
  // batch is sent as soon as it is sealed (the outbox keeps their order).
  await upload();
  if (cfg.mode === 'light') {
    await sealLight(await queue.allRaw());
  } else if (pythonDue()) {
    forced = false;
    await processDevice();
  } else {
    await prepareStandby(await queue.allRaw(Infinity, (pid, seq) => standby.has(`${pid}|${seq}`)));
    scheduleIdle();
  }
}

// ------------------------------------------------------------------ when Python runs
/** Device mode: Python runs on a flush, or after the load event once the visitor is idle. */
function pythonDue() {
  if (forced) return true;
  if (!loadedAt) return false;
  const now = Date.now();
  const quiet = now - Math.max(lastInput, loadedAt);
  return quiet >= IDLE_MS && now - lastPass >= passGap() && now - visitPass >= visitGap();
}

/** Python about once per visit: starting the interpreter on a later page (a snapshot
 * restore) waits until the visit's last pass is a minute old; what those pages record
 * leaves in light form meanwhile and is upgraded by the next pass. A booted one is cheap. */
const visitGap = () => (pyPromise ? 0 : VISIT_GAP_MS);

/** A page that keeps changing by itself (animations) while its visitor idles is analysed
 * less and less often: each pass re-reads the whole session. */
const passGap = () => (stats.passes ? PASS_GAP_MS * 2 ** Math.min(stats.passes - 1, 4) : 0);

function scheduleIdle() {
  if (!loadedAt) return;
  const now = Date.now();
  const wait = Math.max(IDLE_MS - (now - Math.max(lastInput, loadedAt)), passGap() - (now - lastPass),
    visitGap() - (now - visitPass), 50);
  clearTimeout(idleTimer);
  idleTimer = setTimeout(async () => {
    if ((await queue.counts()).raw) kick();
  }, wait);
}

// ------------------------------------------------------------------ light form
/** A batch masked to its shape (light.js), sealed: {body, events}. */
async function lightForm(raw) {
  // One state per page, fed its batches in order: light.js follows the tree (unmask
  // markers, style elements, the page's origin) across them. New event objects come back.
  if (!lightPages.has(raw.pid)) lightPages.set(raw.pid, {});
  const events = maskLight(raw.events, lightPages.get(raw.pid));
  const payload = { schema: 2, mode: 'light', events, sid: raw.sid, pid: raw.pid, seq: raw.seq };
  if (raw.dropped) payload.dropped = raw.dropped;
  return { body: JSON.stringify(await envelope(raw, await gzip(JSON.stringify(payload)), 'light')), events };
}

/** Light mode, or what is left at pagehide: seal every raw batch in light form and queue it. */
async function sealLight(raws, send = true) {
  for (const raw of raws) {
    const k = `${raw.pid}|${raw.seq}`;
    const form = standby.get(k) || await lightForm(raw);
    // Device mode (a batch Python cannot mask) keeps the light events in the analysis log:
    // a later pass analyses the session with them, as the viewer will.
    const n = await queue.commit(raw, form.body, cfg.mode === 'device' ? form.events : null);
    standby.delete(k);
    stats.light++;
    offer(n, raw.endpoint, form.body);
    if (send && !offline) await upload();
  }
}

/** Device mode, before Python: each raw batch sealed in light form, offered as a beacon. */
async function prepareStandby(raws) {
  for (const raw of raws) {
    const k = `${raw.pid}|${raw.seq}`;
    if (standby.has(k) || raw.lit) continue; // lit: its light form is queued already
    const form = await lightForm(raw);
    standby.set(k, form);
    offer(`s:${k}`, raw.endpoint, form.body);
  }
}

// ------------------------------------------------------------------ Python (device mode)
async function processDevice() {
  const raws = inTimeOrder(await queue.allRaw());
  if (!raws.length) return;
  const api = await boot();
  const t0 = performance.now();
  const sids = [...new Set(raws.map((r) => r.sid))];
  const history = {};
  const fired = {};
  for (const sid of sids) {
    history[sid] = await queue.history(sid);
    fired[sid] = (await queue.getMeta(`alerts:${sid}`)) || [];
  }
  const policy = await alertPolicy(raws[0].endpoint);
  const request = {
    batches: raws.map(({ sid, pid, seq, events, dropped }) => (dropped ? { sid, pid, seq, events, dropped } : { sid, pid, seq, events })),
    history, policy, fired,
  };
  const answer = JSON.parse(api.process_visit(JSON.stringify(request)));
  stats.pythonMs += Math.round(performance.now() - t0);
  stats.passes++;
  const byKey = new Map(raws.map((r) => [`${r.pid}|${r.seq}`, r]));
  for (const item of answer.batches) {
    const k = `${item.pid}|${item.seq}`;
    const raw = byKey.get(k);
    if (!raw) continue;
    if (item.error) {
      // A batch py_core cannot mask never leaves unmasked; after a few tries it goes in
      // light form (masked to its shape), so that it cannot block the queue behind it.
      stats.lastError = `process_visit: ${item.error}`;
      failures.set(k, (failures.get(k) || 0) + 1);
      if (failures.get(k) >= MAX_FAILURES) await sealLight([raw]);
      continue;
    }
    const body = JSON.stringify(await envelope(raw, await gzip(item.payload)));
    const n = await queue.commit(raw, body, JSON.parse(item.payload).events);
    if (standby.delete(k)) self.postMessage({ op: 'sent', n: `s:${k}` });
    offered.delete(`s:${k}`);
    offer(n, raw.endpoint, body);
    if (!offline) await upload();
  }
  for (const [sid, names] of Object.entries(answer.fired || {})) await queue.setMeta(`alerts:${sid}`, names);
  lastPass = visitPass = Date.now();
  for (const sid of sids) await queue.setMeta(`pass:${sid}`, lastPass);
  await sendAlerts(answer.alerts || [], raws[0].endpoint);
}

/** Raw batches page by page, pages in the order they began (keys are [pid, seq], and
 * pids are random): the last batch of a session, which carries the verdict, is its newest. */
function inTimeOrder(raws) {
  const first = new Map();
  for (const r of raws) {
    const ts = (r.events[0] && r.events[0].ts) || 0;
    if (!first.has(r.pid) || ts < first.get(r.pid)) first.set(r.pid, ts);
  }
  return raws.slice().sort((a, b) => (a.pid === b.pid ? a.seq - b.seq : first.get(a.pid) - first.get(b.pid)));
}

/** Pyodide with py_core, restored from this device's memory snapshot when it has one. */
function boot() {
  return (pyPromise ||= (async () => {
    const t0 = performance.now();
    const url = (p) => new URL(p, cfg.base).href;
    const { loadPyodide } = await import(url(RT.pyodide + 'pyodide.mjs'));
    const opts = { indexURL: url(RT.pyodide) };
    if (RT.stdlib) opts.stdLibURL = url(RT.stdlib);
    if (RT.lock) opts.lockFileURL = url(RT.lock);
    const core = await runtimeFile(url(RT.core));
    let py = null;
    const snap = await snapshot();
    if (snap) {
      try {
        py = await loadPyodide({ ...opts, _loadSnapshot: snap });
        py.unpackArchive(core, 'zip'); // for modules a pass may import lazily
        stats.restores++;
      } catch (err) {
        py = null;
        stats.lastError = `snapshot: ${err}`;
        forgetSnapshot();
      }
    }
    if (!py) {
      py = await loadPyodide({ ...opts, _makeSnapshot: !!RT.build });
      py.unpackArchive(core, 'zip');
      // Everything a pass needs is imported and run once on synthetic events, before any
      // visitor's data: the snapshot holds a ready interpreter and nothing personal.
      py.runPython('import py_core.worker_api as w\nw.warm()\ndel w');
      stats.boots++;
      if (RT.build) keepSnapshot(py).catch((err) => { stats.lastError = `snapshot: ${err}`; });
    }
    const api = py.pyimport('py_core.worker_api');
    stats.bootMs = Math.round(performance.now() - t0);
    return api;
  })().catch((err) => {
    pyPromise = null; // try again on the next pass; raw batches stay queued meanwhile
    throw err;
  }));
}

// ------------------------------------------------------------------ runtime cache
// The runtime's files have content-hashed names (RT.build), so a copy in Cache Storage is
// good for ever: a private window fetches them once per visit, not once per page. The
// memory snapshot sits beside them. Opt-out deletes both (consent.js).
const runtimeUrl = (u) => RT.build && [RT.pyodide, RT.stdlib, RT.core, RT.lock].some((p) => p && u.startsWith(new URL(p, cfg.base).href));
const realFetch = self.fetch.bind(self);

async function cached(u) {
  try {
    const c = await caches.open(CACHE);
    const hit = await c.match(u);
    if (hit) return hit;
    const res = await realFetch(u);
    if (res.ok) await c.put(u, res.clone()).catch(() => {}); // full storage: fetch again next time
    return res;
  } catch (err) {
    return realFetch(u);
  }
}

// Pyodide fetches its wasm, stdlib and lock file itself: through the cache.
self.fetch = (input, init) => {
  const u = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return cfg && runtimeUrl(u) && (!init || !init.method || init.method === 'GET') ? cached(u) : realFetch(input, init);
};

async function runtimeFile(u) {
  const res = await fetch(u);
  if (!res.ok) throw new Error(`${u}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

async function snapshot() {
  if (!RT.build) return null;
  try {
    const hit = await (await caches.open(CACHE)).match(new URL(SNAPSHOT, cfg.base).href);
    return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
  } catch (err) {
    return null;
  }
}

async function keepSnapshot(py) {
  const bytes = py.makeMemorySnapshot();
  await (await caches.open(CACHE)).put(new URL(SNAPSHOT, cfg.base).href,
    new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
}

function forgetSnapshot() {
  caches.open(CACHE).then((c) => c.delete(new URL(SNAPSHOT, cfg.base).href)).catch(() => {});
}

/** Caches of earlier builds go (a deploy changed the runtime's hash). */
function forgetOldRuntimes() {
  if (!RT.build || typeof caches === 'undefined') return;
  caches.keys().then((names) => Promise.all(names
    .filter((n) => n.startsWith('sightline-runtime-') && n !== CACHE).map((n) => caches.delete(n)))).catch(() => {});
}

// ------------------------------------------------------------------ alerts
// The site's alert rules are checked on the device, from the whole-session verdict
// (py_core.worker_api.process_visit): the collector cannot read sessions. Only the fields
// its policy allows leave, in clear, to POST /v1/alerts. A collector without a policy
// answers 404 and nothing is checked.
let policyText; // undefined: not fetched yet; null: none

async function alertPolicy(endpoint) {
  if (policyText === undefined) {
    try {
      const res = await fetch(new URL('v1/alerts/policy', endpoint));
      const text = await res.text();
      policyText = res.ok ? text : null;
    } catch (err) {
      return null; // offline: try again on the next pass
    }
  }
  return policyText ? JSON.parse(policyText) : null;
}

async function sendAlerts(alerts, endpoint) {
  for (const alert of alerts) {
    try {
      const res = await fetch(new URL('v1/alerts', endpoint), {
        method: 'POST', body: JSON.stringify(alert), headers: { 'content-type': 'application/json' }, keepalive: hiding,
      });
      await res.text(); // read, so that a keepalive request is not left charged
    } catch (err) {
      stats.lastError = `alerts: ${err}`;
    }
  }
}

async function envelope(raw, plaintext, form = 'device') {
  const pub = b64uDecode(raw.key);
  const kid = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', pub)).slice(0, 8));
  // The id is derived from the batch's identity and form: a batch sealed twice the same
  // way (after a crash, or carried over by the next page) is acknowledged by the
  // collector as already stored; its light form (pagehide, light mode) has an id of its
  // own, so that Python's form can follow it (readers keep one per batch, device first).
  const name = `${raw.sid}|${raw.pid}|${raw.seq}` + (form === 'light' ? '|light' : '');
  const idBytes = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(name));
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
  while ((item = await queue.nextOutbox())) {
    const { n, endpoint, body } = item;
    let res;
    try {
      res = await realFetch(new URL('v1/ingest', endpoint), {
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
// Device mode's standby envelopes (key 's:pid|seq') are offered the same way and
// withdrawn when Python's envelope replaces them.
const offered = new Map(); // outbox key or standby key -> body length
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
