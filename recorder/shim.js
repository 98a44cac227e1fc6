// Sightline recorder shim: the only code that runs on the page's main thread.
// It serializes the DOM, observes changes and interactions, and posts batches to a
// module Web Worker, which persists, masks, analyses, seals and uploads them. It never
// waits for the worker. Byte-budgeted: 10,240 bytes gzipped (tests/test_shim.py).
// Event format: docs/events.md (mirrored by py_core/events.py).

import { EventType as E, SKIP_TAGS, MASK_SELECTOR, BLOCK_SELECTOR, IGNORE_SELECTOR, UNMASK_SELECTOR } from './protocol.js';

const win = window;
const doc = document;
const script = doc.currentScript;
const cfg = (script && script.dataset) || {};
const now = Date.now;
const BATCH_MS = 1000; // post a batch to the worker at most once a second
const MOUSE_SAMPLE_MS = 50; // keep one mouse position per 50 ms
const SCROLL_MS = 100; // one scroll event per target per 100 ms
const MAX_TEXT = 10000; // text nodes longer than this are cut

/** @type {Array<[string, any[]]>} calls made before the shim loaded (a snippet's queue) */
const early = Array.isArray(win.Sightline) ? win.Sightline : (win.Sightline && win.Sightline.q) || [];

// ------------------------------------------------------------------ state
let recording = false;
let worker = null;
let buffer = []; // events not yet posted to the worker
let seq = 0;
let timer = 0;
const unacked = new Map(); // seq -> batch posted but not yet in the worker's IndexedDB
let nextId = 1;
const ids = new WeakMap(); // DOM node -> recorded id
const plugins = [];
const teardowns = [];
const sid = session();
const pid = rid();

function rid() {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_');
}

/** The session id lives in sessionStorage (one tab, no cookies) and lapses after 30 idle minutes. */
function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem('sl-sid') || 'null');
    if (s && now() - s.at < 18e5) return s.id;
  } catch (e) { /* storage blocked: memory only */ }
  return rid();
}

function touch() {
  try { sessionStorage.setItem('sl-sid', JSON.stringify({ id: sid, at: now() })); } catch (e) { /* ignore */ }
}

// ------------------------------------------------------------------ emitting
function emit(t, data) {
  if (!recording) return;
  const ev = data || {};
  ev.t = t;
  ev.ts = now();
  buffer.push(ev);
  if (!timer) timer = setTimeout(flush, BATCH_MS);
}

function flush() {
  clearTimeout(timer);
  timer = 0;
  if (mouse.length) emitMouse();
  if (!buffer.length || !worker) return;
  const batch = { op: 'batch', sid, pid, seq: seq++, events: buffer };
  unacked.set(batch.seq, batch);
  worker.postMessage(batch);
  buffer = [];
  touch();
}

// A page that unloads may take its worker down before the last batches reach IndexedDB:
// carry them over in sessionStorage (synchronous) to the next page of this tab, whose
// worker stores them. Batch ids (pid, seq) make the second copy harmless.
const CARRY = 'sl-carry';

function carry() {
  if (!unacked.size) return;
  try {
    const kept = JSON.parse(sessionStorage.getItem(CARRY) || '[]');
    sessionStorage.setItem(CARRY, JSON.stringify(kept.concat([...unacked.values()])));
  } catch (e) { /* storage full or blocked: those events are lost */ }
}

function carried() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(CARRY) || '[]');
    sessionStorage.removeItem(CARRY);
    for (const b of kept) worker.postMessage(b);
  } catch (e) { /* ignore */ }
}

// ------------------------------------------------------------------ DOM serialization
const id = (n) => ids.get(n);
const matches = (el, sel) => el.closest && el.closest(sel);

function mask(text) {
  return text.replace(/\S/g, '*');
}

/** Serialize a node and its subtree; masked/blocked per the privacy markup. */
function ser(n, masked) {
  let i = ids.get(n);
  if (i == null) ids.set(n, (i = nextId++));
  const t = n.nodeType;
  if (t === 3) {
    let x = n.data.length > MAX_TEXT ? n.data.slice(0, MAX_TEXT) : n.data;
    return { i, t, x: masked ? mask(x) : x };
  }
  if (t === 1) {
    const tag = n.localName;
    const o = { i, t, n: tag, a: {} };
    if (n.namespaceURI !== 'http://www.w3.org/1999/xhtml') o.s = 1; // SVG / MathML
    if (n.matches(BLOCK_SELECTOR)) {
      const r = n.getBoundingClientRect();
      o.a = { style: `width:${r.width}px;height:${r.height}px;background:#ccc` };
      o.b = 1;
      return o;
    }
    for (const at of n.attributes) o.a[at.name] = attr(n, at.name, at.value);
    if (!masked && n.matches(MASK_SELECTOR)) masked = true;
    if (SKIP_TAGS.test(tag)) return o;
    if (tag === 'style' && n.sheet && !n.textContent.trim()) {
      // CSSOM-only rules (CSS-in-JS): record the rules, not the empty text
      try { o.css = Array.from(n.sheet.cssRules, (r) => r.cssText).join('\n'); } catch (e) { /* cross-origin */ }
    }
    o.c = [];
    for (let c = n.firstChild; c; c = c.nextSibling) {
      const s = ser(c, masked && tag !== 'style');
      if (s) o.c.push(s);
    }
    return o;
  }
  if (t === 9) return { i, t, c: Array.from(n.childNodes, (c) => ser(c)).filter(Boolean) };
  if (t === 10) return { i, t, n: n.name };
  if (t === 8) return { i, t };
  return null;
}

/** An attribute's value as recorded: input values masked, event handlers dropped. */
function attr(el, name, value) {
  if (name === 'value' && /^(input|textarea|select|option)$/.test(el.localName)) return inputValue(el, value);
  if (/^on/i.test(name)) return '';
  return value;
}

function inputValue(el, value) {
  if (el.type === 'password') return null; // never read
  return matches(el, UNMASK_SELECTOR) ? value : mask(value);
}

function snapshot() {
  emit(E.META, { u: location.href, r: doc.referrer, ti: doc.title, w: innerWidth, h: innerHeight });
  emit(E.SNAPSHOT, { n: ser(doc), sx: scrollX, sy: scrollY });
}

// ------------------------------------------------------------------ mutations
let pending = [];
let frame = 0;

function onMutations(records) {
  pending.push(...records);
  if (!frame) frame = (doc.hidden ? setTimeout : requestAnimationFrame)(processMutations);
}

/** Coalesce one frame's mutation records into one MUTATION event. */
function processMutations() {
  frame = 0;
  const records = pending;
  pending = [];
  const added = new Set();
  const rm = [];
  const at = new Map();
  const tx = new Map();
  for (const r of records) {
    if (r.type === 'childList') {
      for (const n of r.removedNodes) if (id(n) != null && id(r.target) != null) rm.push([id(r.target), id(n)]);
      for (const n of r.addedNodes) added.add(n);
    } else if (r.type === 'attributes') {
      const i = id(r.target);
      if (i == null) continue;
      const a = at.get(i) || {};
      const v = r.target.getAttribute(r.attributeName);
      a[r.attributeName] = v == null ? null : attr(r.target, r.attributeName, v);
      at.set(i, a);
    } else if (id(r.target) != null) {
      tx.set(id(r.target), masked(r.target) ? mask(r.target.data) : r.target.data);
    }
  }
  // Top-most added nodes still in the document, last first, so that each one's next
  // sibling is already known when the replayer inserts it.
  const tops = [...added].filter((n) => {
    if (!n.isConnected) return false;
    for (let p = n.parentNode; p; p = p.parentNode) if (added.has(p)) return false;
    return id(n.parentNode) != null;
  });
  tops.sort((a, b) => (a.compareDocumentPosition(b) & 4 ? 1 : -1));
  const ad = [];
  for (const n of tops) {
    if (n.parentNode && matches(n.parentNode, IGNORE_SELECTOR + ',' + BLOCK_SELECTOR) && n.nodeType !== 1) continue;
    const s = ser(n, masked(n));
    let next = n.nextSibling;
    while (next && id(next) == null) next = next.nextSibling;
    if (s) ad.push([id(n.parentNode), next ? id(next) : null, s]);
  }
  if (rm.length || ad.length || at.size || tx.size) {
    emit(E.MUTATION, { rm, ad, at: [...at], tx: [...tx] });
  }
}

function masked(n) {
  const el = n.nodeType === 1 ? n : n.parentElement;
  return !!(el && matches(el, MASK_SELECTOR));
}

// ------------------------------------------------------------------ interactions
let mouse = [];
let mouseStart = 0;
let lastMouse = 0;
const lastScroll = new WeakMap();

function on(target, type, fn, opts) {
  const o = Object.assign({ capture: true, passive: true }, opts);
  target.addEventListener(type, fn, o);
  teardowns.push(() => target.removeEventListener(type, fn, o));
}

function emitMouse() {
  const p = mouse;
  mouse = [];
  emit(E.MOUSE, { p });
  buffer[buffer.length - 1].ts = mouseStart;
}

function observe() {
  const mo = new MutationObserver(onMutations);
  mo.observe(doc, { childList: true, subtree: true, attributes: true, characterData: true });
  teardowns.push(() => mo.disconnect());

  on(doc, 'click', (e) => emit(E.CLICK, { i: id(e.target) || 0, x: e.clientX, y: e.clientY }));
  on(doc, 'mousemove', (e) => {
    const t = now();
    if (t - lastMouse < MOUSE_SAMPLE_MS) return;
    lastMouse = t;
    if (!mouse.length) mouseStart = t;
    mouse.push([e.clientX, e.clientY, t - mouseStart]);
    if (mouse.length >= 50) emitMouse();
  });
  const onInput = (e) => {
    const el = e.target;
    const i = id(el);
    if (i == null || matches(el, IGNORE_SELECTOR)) return;
    if (el.type === 'checkbox' || el.type === 'radio') emit(E.INPUT, { i, c: el.checked });
    else if (el.localName === 'select') emit(E.INPUT, { i, s: el.selectedIndex });
    else if (el.isContentEditable) emit(E.INPUT, { i, v: inputValue(el, el.textContent) });
    else if ('value' in el) emit(E.INPUT, { i, v: inputValue(el, el.value) });
  };
  on(doc, 'input', onInput);
  on(doc, 'change', onInput);
  on(doc, 'scroll', (e) => {
    const el = e.target === doc ? doc : e.target;
    const t = now();
    if (t - (lastScroll.get(el) || 0) < SCROLL_MS) return;
    lastScroll.set(el, t);
    // The trailing position matters most: record it again after the burst settles.
    setTimeout(() => scrolled(el), SCROLL_MS);
    scrolled(el);
  });
  let resize = 0;
  on(win, 'resize', () => {
    clearTimeout(resize);
    resize = setTimeout(() => emit(E.VIEWPORT, { w: innerWidth, h: innerHeight }), 200);
  });
  on(doc, 'visibilitychange', () => {
    emit(E.VISIBILITY, { v: doc.visibilityState });
    if (doc.hidden) flush();
  });
  on(win, 'pagehide', () => { processMutations(); flush(); carry(); });
  on(win, 'popstate', () => emit(E.NAVIGATION, { u: location.href, k: 'pop' }));
  on(win, 'hashchange', () => emit(E.NAVIGATION, { u: location.href, k: 'hash' }));
  on(win, 'error', (e) => emit(E.ERROR, { m: String(e.message), s: (e.error && e.error.stack) || '', k: 'error' }));
  on(win, 'unhandledrejection', (e) => {
    const r = e.reason;
    emit(E.ERROR, { m: String((r && r.message) || r), s: (r && r.stack) || '', k: 'rejection' });
  });
  for (const k of ['pushState', 'replaceState']) patch(history, k, (orig) => function (...a) {
    const r = orig.apply(this, a);
    emit(E.NAVIGATION, { u: location.href, k: k === 'pushState' ? 'push' : 'replace' });
    return r;
  });
  patch(win, 'fetch', (orig) => function (input, init) {
    const t0 = performance.now();
    const m = ((init && init.method) || (input && input.method) || 'GET').toUpperCase();
    let u = String((input && input.url) || input);
    try { u = new URL(u, location.href).href; } catch (e) { /* keep it as given */ }
    const done = (s, e) => emit(E.NETWORK, { k: 'fetch', m, u, s, d: Math.round(performance.now() - t0), e });
    const p = orig.apply(this, arguments);
    p.then((r) => done(r.status), (err) => done(0, String(err)));
    return p;
  });
}

function scrolled(el) {
  if (el === doc) emit(E.SCROLL, { i: 0, x: scrollX, y: scrollY });
  else if (id(el) != null) emit(E.SCROLL, { i: id(el), x: el.scrollLeft, y: el.scrollTop });
}

function patch(obj, name, wrap) {
  const orig = obj[name];
  if (typeof orig !== 'function') return;
  obj[name] = wrap(orig);
  teardowns.push(() => { obj[name] = orig; });
}

// ------------------------------------------------------------------ lifecycle
function startWorker() {
  const src = new URL('sightline-worker.js', script ? script.src : location.href).href;
  const url = new URL(src).origin === location.origin
    ? src
    : URL.createObjectURL(new Blob([`import ${JSON.stringify(src)}`], { type: 'text/javascript' }));
  worker = new Worker(url, { type: 'module' });
  worker.onmessage = ({ data }) => { if (data.op === 'stored' && data.pid === pid) unacked.delete(data.seq); };
  worker.postMessage({
    op: 'init',
    cfg: {
      endpoint: new URL(cfg.endpoint || '/', location.href).href,
      key: cfg.key,
      base: new URL('.', src).href,
      sid,
      pid,
    },
  });
  carried();
}

function start() {
  if (recording || !cfg.key) return;
  recording = true;
  touch();
  startWorker();
  const go = () => {
    snapshot();
    observe();
    for (const p of plugins) setup(p);
  };
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', go, { once: true });
  else go();
}

function stop() {
  if (!recording) return;
  processMutations();
  flush();
  recording = false;
  while (teardowns.length) teardowns.pop()();
}

function setup(p) {
  try {
    const t = p.setup({ emit: (name, props) => emit(E.CUSTOM, { n: `${p.name}:${name}`, p: props }), window: win });
    if (typeof t === 'function') teardowns.push(t);
  } catch (e) { /* a broken plugin must not break the page */ }
}

function consentGiven() {
  try { return localStorage.getItem('sl-consent'); } catch (e) { return null; }
}

const api = {
  /** Give (true) or refuse (false) consent; remembered for this site. */
  consent(yes) {
    try { localStorage.setItem('sl-consent', yes ? '1' : '0'); } catch (e) { /* ignore */ }
    yes ? start() : stop();
  },
  /** Stop at once and delete everything kept on this device. */
  optOut() {
    stop();
    try { localStorage.setItem('sl-consent', '0'); sessionStorage.removeItem('sl-sid'); } catch (e) { /* ignore */ }
    if (worker) worker.postMessage({ op: 'purge' });
  },
  identify(user) { emit(E.IDENTIFY, { u: String(user) }); },
  track(name, props) { emit(E.CUSTOM, { n: String(name), p: props || {} }); },
  use(plugin) {
    plugins.push(plugin);
    if (recording) setup(plugin);
  },
  stop,
  /** Post what is buffered; resolves when the worker has sent everything it holds. */
  flush() {
    processMutations();
    flush();
    if (!worker) return Promise.resolve({ pending: 0 });
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = (e) => resolve(e.data);
      worker.postMessage({ op: 'drain' }, [ch.port2]);
    });
  },
  get session() { return { sid, pid, recording }; },
};
win.Sightline = api;

const mode = cfg.consent || 'required';
if (consentGiven() === '1' || (mode === 'granted' && consentGiven() !== '0')) start();
for (const [m, ...a] of early) if (typeof api[m] === 'function') api[m](...a);
