// Sightline recorder shim: the only code that runs on the page's main thread.
// It serializes the DOM, observes changes and interactions, and posts batches to a
// module Web Worker, which persists, masks, analyses, seals and uploads them. It never
// waits for the worker. Byte-budgeted: 10,240 bytes gzipped (tests/test_shim.py).
// Event format: docs/events.md (mirrored by py_core/events.py).
//
// Script tag options (data-*): endpoint, key, consent; process (device|light|auto: where
// Python runs, docs/processing.md); sample (0..1, share of sessions recorded); buffer
// (seconds: keep only the last N..2N s in memory until an error or a rage click,
// docs/adr/0300); canvas (frames per second, opt-in); bodies (record network
// bodies, opt-in).

import { EventType as E, SKIP_TAGS, MASK_SELECTOR, BLOCK_SELECTOR, IGNORE_SELECTOR, UNMASK_SELECTOR } from './protocol.js';
import { signal, remembered, remember, forget, indicator, dropDatabase, visitor } from './consent.js';

const win = window;
const doc = document;
const script = doc.currentScript;
const cfg = (script && script.dataset) || {};
const now = Date.now;
const perf = () => performance.now();
const BATCH_MS = 1000; // post a batch to the worker at most once a second
const MOUSE_SAMPLE_MS = 50; // keep one mouse position per 50 ms
const SCROLL_MS = 100; // one scroll event per target per 100 ms
const MAX_TEXT = 10000; // text nodes longer than this are cut
const MAX_BODY = 2000; // console messages and (opt-in) network bodies are cut to this
const STORM = 100000; // mutation records in one frame beyond which a diff costs more than a snapshot (docs/adr/0301)
const STORM_MS = 1000; // after such a frame: no diffs for a second, then one full snapshot
const BUCKET = 20; // per node: frames with an attribute or text change recorded at once (docs/adr/0306)
const REFILL = 10; // ... and per second after that; a node beyond it is held and resynchronised each STORM_MS
const DEPTH = 100; // levels of one serialized tree; deeper subtrees follow as additions (docs/adr/0306)
const BUFFER_MS = cfg.buffer * 1000; // buffer mode's checkpoint interval (NaN: off)
const MO_OPTS = { childList: true, subtree: true, attributes: true, attributeOldValue: true, characterData: true };

/** @type {Array<[string, any[]]>} calls made before the shim loaded (a snippet's queue) */
const early = Array.isArray(win.Sightline) ? win.Sightline : (win.Sightline && win.Sightline.q) || [];

// ------------------------------------------------------------------ state
let recording = false;
let observing = false; // the page is loaded and observed (plugins are set up from then on)
let worker = null;
let buffer = []; // events not yet posted to the worker
let kept = []; // buffer mode: the events of the previous checkpoint interval
let buffering = BUFFER_MS > 0;
let seq = 0;
let timer = 0;
const unacked = new Map(); // seq -> batch posted but not yet in the worker's IndexedDB
const beacons = new Map(); // outbox key -> [url, sealed body] the worker has not delivered yet
let nextId = 1;
const ids = new WeakMap(); // DOM node or adopted stylesheet -> recorded id
const plugins = [];
const teardowns = [];
const sid = session();
const pid = rid();
const mo = new MutationObserver(onMutations);
let watched = new WeakSet(); // roots (document, shadow roots, iframe documents) observed by mo
let hooked = new WeakSet(); // roots with their own event listeners
const dirty = new WeakSet(); // stylesheets changed through the CSSOM
let sent = new WeakSet(); // adopted stylesheets whose text went out since the last snapshot
let later = []; // roots whose adopted stylesheets are emitted after the current event
let mode = ''; // 'device' or 'light' once recording (processing())

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

/**
 * Where Python runs, decided once per visit (docs/processing.md): data-process device or
 * light as given; auto (the default) is light on a device that cannot afford Python
 * (data saver, a network below 4g, under 4 GB of memory or 4 cores), else device.
 */
function processing() {
  const want = cfg.process;
  if (want === 'device' || want === 'light') return want;
  try {
    const m = (sessionStorage.getItem('sl-pm') || '').split(' ');
    if (m[0] === sid) return m[1]; // this visit's choice
  } catch (e) { /* storage blocked: decided again on each page */ }
  const n = navigator;
  const c = n.connection || {};
  const m = c.saveData || /2g|3g/.test(c.effectiveType) || n.deviceMemory < 4 || !(n.hardwareConcurrency >= 4) ? 'light' : 'device';
  try { sessionStorage.setItem('sl-pm', sid + ' ' + m); } catch (e) { /* ignore */ }
  return m;
}

function touch() {
  try { sessionStorage.setItem('sl-sid', JSON.stringify({ id: sid, at: now() })); } catch (e) { /* ignore */ }
}

/** Whether this session is in the data-sample share: a hash of the session id, so every page agrees. */
function sampled() {
  let h = 0;
  for (const c of sid) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return !(h / 2 ** 32 >= +(cfg.sample ?? 1));
}

// ------------------------------------------------------------------ emitting
function emit(t, data) {
  if (!recording) return;
  const ev = data || {};
  ev.t = t;
  ev.ts = ev.ts || now();
  buffer.push(ev);
  if (t === E.ERROR) {
    if (lastCp && !ev.cp && ev.ts - lastAt < 1000) ev.cp = lastCp;
    if (ev.l !== 'warn') persist();
  }
  if (!timer) timer = setTimeout(flush, BATCH_MS);
}

function flush() {
  clearTimeout(timer);
  timer = 0;
  if (mouse.length) emitMouse();
  if (!buffer.length || !worker || buffering) return;
  const batch = { op: 'batch', sid, pid, seq: seq++, events: buffer };
  unacked.set(batch.seq, batch);
  buffer = [];
  try {
    worker.postMessage(batch);
  } catch (e) {
    post(batch); // DataCloneError: the page gave an event something only JSON can carry
  }
  touch();
}

/** A batch posted as JSON text, which always clones: functions and symbols are left out,
 * BigInts become strings and a reference to an object already written becomes null. */
function post(b) {
  const seen = new WeakSet();
  const json = JSON.stringify(b.events, (k, v) => {
    if (typeof v === 'bigint') return String(v);
    if (v && typeof v === 'object') {
      if (seen.has(v)) return null;
      seen.add(v);
    }
    return v;
  });
  worker.postMessage({ op: 'batch', sid: b.sid, pid: b.pid, seq: b.seq, json });
}

/** Buffer mode: a new checkpoint (full snapshot); what came before the previous one is dropped. */
function checkpoint() {
  if (!buffering) return;
  processMutations();
  kept = buffer;
  buffer = [];
  snapshot('checkpoint');
}

/** Buffer mode ends: what is kept goes to the worker, and recording goes on normally. */
function persist() {
  if (!buffering) return;
  buffering = false;
  // One META per page in what is persisted: the latest checkpoint's only when it is the first.
  buffer = kept.length ? kept.concat(buffer.filter((e) => e.t !== E.META)) : buffer;
  kept = [];
  flush();
}

// A page that unloads may take its worker down before the last batches reach IndexedDB:
// carry them over in sessionStorage (synchronous) to the next page of this tab, whose
// worker stores them. Batch ids (pid, seq) make the second copy harmless.
const CARRY = 'sl-carry';

function carry() {
  if (!unacked.size) return;
  try {
    const old = JSON.parse(sessionStorage.getItem(CARRY) || '[]');
    sessionStorage.setItem(CARRY, JSON.stringify(old.concat([...unacked.values()])));
  } catch (e) { /* storage full or blocked: those events are lost */ }
}

function carried() {
  try {
    const old = JSON.parse(sessionStorage.getItem(CARRY) || '[]');
    sessionStorage.removeItem(CARRY);
    for (const b of old) worker.postMessage(b);
  } catch (e) { /* ignore */ }
}

// ------------------------------------------------------------------ DOM serialization
const id = (n) => ids.get(n);
const matches = (el, sel) => el.closest && el.closest(sel);
const par = (n) => n.parentNode || n.host; // a shadow root's "parent" is its host
const target = (e) => e.composedPath()[0]; // the real target, also inside shadow roots

function mask(text) {
  return text.replace(/\S/g, '*');
}

/** Text typed by the visitor (contenteditable, textarea) is masked unless data-sl-unmask. */
// Selectors, not isContentEditable: that property forces a style recalculation per call.
const EDITABLE = '[contenteditable]:not([contenteditable=false]),textarea';
const MASKING = MASK_SELECTOR + ',' + EDITABLE;

/** Whether an element starts masked text: checks the element only (ser() carries the state down). */
const masks = (el) => el.matches(MASKING) && (el.matches(MASK_SELECTOR) || !matches(el, UNMASK_SELECTOR));

function empty(o) {
  for (const k in o) return false;
  return true;
}

const rules = (sh) => Array.from(sh.cssRules, (r) => r.cssText).join('\n');

const SERIAL = { 1: 1, 3: 1, 8: 1, 9: 1, 10: 1, 11: 1 }; // node types recorded
let last = NaN; // id of the node ser() wrote just before, in this tree
let deep = []; // [element, masked, masked children] cut at DEPTH, serialized by spill()

/** Serialize a node and its subtree (shadow roots and same-origin iframes included), down
 * to DEPTH levels below the tree's root (`d`): deeper elements are written without their
 * content, which spill() sends after the tree. */
function ser(n, masked, d) {
  let i = ids.get(n);
  if (i == null) ids.set(n, (i = nextId++));
  const t = n.nodeType;
  if (!SERIAL[t]) return null;
  // An id that follows the previous node's in this order is left out (docs/events.md).
  const o = i === last + 1 ? { t } : { i, t };
  last = i;
  if (t === 3) {
    const x = n.data.length > MAX_TEXT ? n.data.slice(0, MAX_TEXT) : n.data;
    o.x = masked ? mask(x) : x;
    return o;
  }
  if (t === 1) {
    const tag = n.localName;
    o.n = tag;
    o.a = {};
    if (n.namespaceURI !== 'http://www.w3.org/1999/xhtml') o.s = 1; // SVG / MathML
    if (n.matches(BLOCK_SELECTOR)) {
      const r = n.getBoundingClientRect();
      o.a = { style: `width:${r.width}px;height:${r.height}px;background:#ccc` };
      o.b = 1;
      return o;
    }
    const a = o.a;
    for (const at of n.attributes) a[at.name] = attr(n, at.name, at.value);
    // Form state: the live value/checked/selected, not only what the markup said.
    if (n.type === 'checkbox' || n.type === 'radio') n.checked ? (a.checked = '') : delete a.checked;
    else if (tag === 'option') n.selected ? (a.selected = '') : delete a.selected;
    else if ((tag === 'input' || tag === 'textarea') && n.value) a.value = inputValue(n, n.value);
    if (empty(a)) delete o.a; // most elements have no attributes: leave the field out
    if (!masked && masks(n)) masked = true;
    if (SKIP_TAGS.test(tag)) return o;
    const sh = n.sheet;
    // Stylesheets: same-origin <link> rules inlined; CSSOM-built or -changed rules as text.
    if (sh && (tag === 'link' || dirty.has(sh) || !n.textContent.trim())) {
      try { o.css = rules(sh); } catch (e) { /* cross-origin: the replay loads the link */ }
    }
    if (d >= DEPTH) {
      deep.push([n, masked, masked && tag !== 'style']);
      return o;
    }
    o.c = kids(n, masked && tag !== 'style', d);
    if (n.shadowRoot) o.sr = ser(n.shadowRoot, masked, d + 1);
    const f = frameDoc(n);
    if (f) o.f = ser(f, false, d + 1);
    return o;
  }
  if (t === 9 || t === 11) {
    watch(n);
    if (n.adoptedStyleSheets && n.adoptedStyleSheets.length) later.push(n);
    o.c = kids(n, masked, d);
  }
  if (t === 10) o.n = n.name;
  return o;
}

/** Serialize a tree whose root always carries its id (then spill() what was cut). */
function tree(n, masked) {
  last = NaN;
  return ser(n, masked, 0);
}

function kids(n, masked, d) {
  const c = [];
  for (let k = n.firstChild; k; k = k.nextSibling) {
    const s = ser(k, masked, d + 1);
    if (s) c.push(s);
  }
  return c;
}

/** A same-origin iframe's document, if it has one. */
function frameDoc(n) {
  if (n.localName !== 'iframe') return null;
  try {
    const f = n.contentDocument;
    return f && f.documentElement ? f : null;
  } catch (e) {
    return null; // cross-origin: recorded as an empty frame
  }
}

/** The content of elements cut at DEPTH, as additions appended to `ad` in document order
 * (each a tree of its own, cut again if need be): any depth arrives in bounded pieces,
 * which structured cloning, the worker's Python and the replayer take without recursing
 * deeper than DEPTH. */
function spill(ad) {
  for (let k = 0; k < deep.length; k++) {
    const [n, m, mc] = deep[k];
    const p = id(n);
    for (let c = n.firstChild; c; c = c.nextSibling) {
      const s = tree(c, mc);
      if (s) ad.push([p, null, s]);
    }
    if (n.shadowRoot) ad.push([p, null, tree(n.shadowRoot, m)]);
    const f = frameDoc(n);
    if (f) ad.push([p, null, tree(f)]);
  }
  deep = [];
  return ad;
}

/** Observe a root's mutations, and its events that do not reach the top document. */
function watch(root) {
  if (watched.has(root)) return;
  watched.add(root);
  mo.observe(root, MO_OPTS);
  if (root === doc || hooked.has(root)) return;
  hooked.add(root);
  on(root, 'scroll', onScroll); // scroll is not composed: shadow roots and iframes need their own
  if (root.nodeType === 9) for (const k of ['input', 'change', 'click', 'focusin']) on(root, k, handlers[k]);
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

/** A full snapshot; `k` says why one is taken after the page's first ('storm', 'checkpoint'). */
function snapshot(k) {
  if (k !== 'storm') emit(E.META, { u: location.href, r: doc.referrer, ti: doc.title, w: innerWidth, h: innerHeight, pm: mode });
  sent = new WeakSet();
  held = new Map(); // the snapshot has their current values
  const ts = now();
  emit(E.SNAPSHOT, { n: tree(doc), sx: scrollX, sy: scrollY, k, ts });
  const ad = spill([]);
  if (ad.length) emit(E.MUTATION, { ad, ts }); // the rest of the snapshot, at its time
  adoptLater();
}

// ------------------------------------------------------------------ stylesheets
function adoptLater() {
  const roots = later;
  later = [];
  for (const r of roots) adopt(r);
}

/** Which stylesheets a document or shadow root has adopted; texts not sent since the last snapshot. */
function adopt(root) {
  const i = id(root);
  if (i == null) return;
  const css = {};
  const s = Array.from(root.adoptedStyleSheets, (sh) => {
    let j = id(sh);
    if (j == null) ids.set(sh, (j = nextId++));
    if (!sent.has(sh)) {
      sent.add(sh);
      try { css[j] = rules(sh); } catch (e) { /* unreadable */ }
    }
    return j;
  });
  emit(E.ADOPT, { i, s, css });
}

/** A CSSOM change to a sheet whose owner (element or adopted sheet) the replay knows. */
function sheetChanged(sh, d) {
  dirty.add(sh);
  const i = id(sh.ownerNode || sh);
  if (i != null) {
    d.i = i;
    emit(E.STYLE, d);
  }
}

// ------------------------------------------------------------------ mutations
let pending = [];
let frame = 0;
let storming = 0;
const tokens = new WeakMap(); // node -> [tokens, when]: its bucket of changes
const announced = new WeakSet(); // held nodes already named in a MUTATION's "hd"
let held = new Map(); // node -> names of the attributes ('' for its text) changed while held
let heldTimer = 0;

/** A text node's text as recorded, and an attribute's current value (null: removed). */
const text = (n) => (masked(n) ? mask(n.data) : n.data);
const attrNow = (n, k, v) => (v == null ? null : attr(n, k, v));

/** Whether a node may record one more frame's change (a token bucket per node). */
function spend(n, t) {
  const b = tokens.get(n);
  if (!b) return tokens.set(n, [BUCKET - 1, t]), true;
  b[0] = Math.min(BUCKET, b[0] + ((t - b[1]) * REFILL) / 1000) - 1;
  b[1] = t;
  return b[0] >= 0;
}

/** Stop recording a node's every change: a diff of its current values follows each STORM_MS. */
function hold(n, hd) {
  held.set(n, new Set());
  if (!announced.has(n)) announced.add(n), hd.push(id(n));
  if (!heldTimer) heldTimer = setTimeout(release, STORM_MS);
}

/** The held nodes' current values of what changed while they were held, as one diff. */
function release() {
  heldTimer = 0;
  const at = [];
  const tx = [];
  for (const [n, names] of held) {
    if (!names.size || id(n) == null || !n.isConnected) continue; // a removal was recorded
    if (n.nodeType === 3) {
      tx.push([id(n), text(n)]);
      continue;
    }
    const a = {};
    for (const k of names) a[k] = attrNow(n, k, n.getAttribute(k));
    at.push([id(n), a]);
  }
  held = new Map();
  const m = {};
  if (at.length) m.at = at;
  if (tx.length) m.tx = tx;
  if (!empty(m)) emit(E.MUTATION, m);
}

function onMutations(records) {
  if (storming) return;
  pending.push(...records);
  if (!frame) frame = (doc.hidden ? setTimeout : requestAnimationFrame)(processMutations);
}

/** Coalesce one frame's mutation records into one MUTATION event. */
function processMutations() {
  frame = 0;
  const records = pending;
  pending = [];
  if (records.length > STORM) return degrade();
  const added = new Set();
  const rm = [];
  const at = new Map();
  const tx = new Map();
  const cd = new Set(); // nodes whose text changed in place (characterData)
  for (const r of records) {
    const n = r.target;
    const ty = r.type;
    if (ty === 'childList') {
      const o = r.removedNodes[0];
      const c = r.addedNodes[0];
      // `el.textContent = s` swaps one text node for another: recorded as a text change of
      // the old node, whose id the new one takes (no remove, no add: a third of the bytes).
      if (r.removedNodes.length + r.addedNodes.length === 2 && o && c && o.nodeType === 3 && c.nodeType === 3
        && id(o) != null && id(c) == null && !o.isConnected && (c.parentNode === n || !c.parentNode)) {
        ids.set(c, id(o));
        tx.set(id(o), c);
        continue;
      }
      // A removal from a node no longer in the document is in the replay already: it
      // went with that node's own removal, or comes back with the node re-added whole.
      if (n.isConnected && id(n) != null) for (const c of r.removedNodes) if (id(c) != null) rm.push([id(n), id(c)]);
      for (const c of r.addedNodes) added.add(c);
    } else if (ty === 's') {
      added.add(n); // a shadow root attached after load
    } else if (id(n) == null) {
      continue;
    } else if (held.has(n)) {
      held.get(n).add(ty === 'attributes' ? r.attributeName : '');
    } else if (ty === 'attributes') {
      const a = at.get(n) || {};
      const k = r.attributeName;
      if (!(k in a)) a[k] = [r.oldValue]; // the value before this frame: an unchanged one is left out
      at.set(n, a);
    } else {
      tx.set(id(n), n);
      cd.add(n);
    }
  }
  const t = perf();
  const hd = [];
  const ch = [];
  for (const [n, a] of at) {
    for (const k in a) {
      const v = n.getAttribute(k);
      if (v === a[k][0]) delete a[k];
      else a[k] = attrNow(n, k, v);
    }
    if (empty(a)) continue;
    ch.push([id(n), a]);
    if (!spend(n, t)) hold(n, hd);
  }
  for (const n of cd) if (!held.has(n) && !spend(n, t)) hold(n, hd);
  for (const [i, n] of tx) tx.set(i, text(n));
  // Top-most added nodes still in the document, grouped by parent, each group last first,
  // so that each one's next sibling is already known when the replayer inserts it. (One
  // walk over a parent's children: compareDocumentPosition in a sort cost far more.)
  const groups = new Map();
  for (const n of added) {
    if (!n.isConnected) continue;
    let top = true;
    for (let p = par(n); p && top; p = par(p)) if (added.has(p)) top = false;
    const p = par(n);
    if (!top || id(p) == null) continue;
    if (!groups.has(p)) groups.set(p, []);
    groups.get(p).push(n);
  }
  const tops = [];
  for (const [p, list] of groups) {
    if (list.length < 2) { tops.push(...list); continue; }
    const mine = new Set(list);
    for (const n of list) if (n.nodeType === 11) tops.push(n); // a new shadow root: no siblings
    for (let c = p.lastChild; c; c = c.previousSibling) if (mine.has(c)) tops.push(c);
  }
  const ad = [];
  for (const n of tops) {
    const p = par(n);
    if (p.nodeType === 1 && matches(p, IGNORE_SELECTOR + ',' + BLOCK_SELECTOR) && n.nodeType !== 1) continue;
    const s = tree(n, masked(n));
    let next = n.nextSibling;
    while (next && id(next) == null) next = next.nextSibling;
    if (s) ad.push([id(p), next ? id(next) : null, s]);
  }
  spill(ad);
  // Empty lists are left out: a storm of text changes is mostly "tx".
  const m = {};
  if (rm.length) m.rm = rm;
  if (ad.length) m.ad = ad;
  if (ch.length) m.at = ch;
  if (tx.size) m.tx = [...tx];
  if (hd.length) m.hd = hd;
  if (!empty(m)) emit(E.MUTATION, m);
  adoptLater();
}

/** A storm: stop diffing (the page stays responsive), then resynchronise with a full snapshot. */
function degrade() {
  storming = 1;
  mo.disconnect();
  watched = new WeakSet();
  setTimeout(() => {
    storming = 0;
    pending = [];
    if (recording) snapshot('storm');
  }, STORM_MS);
}

/** Whether a node's text is masked: one ancestor walk, and a second only for typed text. */
function masked(n) {
  const el = n.nodeType === 1 ? n : n.parentElement;
  const m = el && matches(el, MASKING);
  return !!m && (masks(m) || !!matches(m.parentElement || m, MASK_SELECTOR));
}

// ------------------------------------------------------------------ interactions
let mouse = [];
let mouseStart = 0;
let lastMouse = 0;
const lastScroll = new WeakMap();
let clicks = []; // recent click times, for the rage-click signal of buffer mode

function on(el, type, fn, opts) {
  const o = Object.assign({ capture: true, passive: true }, opts);
  el.addEventListener(type, fn, o);
  teardowns.push(() => el.removeEventListener(type, fn, o));
}

function emitMouse() {
  const p = mouse;
  mouse = [];
  emit(E.MOUSE, { p });
  buffer[buffer.length - 1].ts = mouseStart;
}

function onInput(e) {
  const el = target(e);
  const i = id(el);
  if (i == null || matches(el, IGNORE_SELECTOR)) return;
  if (el.type === 'checkbox' || el.type === 'radio') emit(E.INPUT, cp({ i, c: el.checked }, el));
  else if (el.localName === 'select') emit(E.INPUT, cp({ i, s: el.selectedIndex }, el));
  else if (el.isContentEditable) emit(E.INPUT, cp({ i, v: inputValue(el, el.textContent) }, el));
  else if ('value' in el) emit(E.INPUT, cp({ i, v: inputValue(el, el.value) }, el));
}

// A plugin's `component(el)` (plugins/frameworks.js, docs/frameworks.md) names the
// component an action happened in: `cp` on CLICK and INPUT, and on ERROR that of the last.
let component = null;
let lastCp = null;
let lastAt = 0;
function cp(ev, el) {
  lastAt = now();
  let c = null;
  try { c = component && el ? component(el) : null; } catch (e) { /* a hostile page */ }
  lastCp = typeof c === 'string' && c ? c.slice(0, 80) : null;
  if (lastCp) ev.cp = lastCp;
  return ev;
}

function onScroll(e) {
  const el = e.target.nodeType === 9 ? e.target : target(e);
  const t = now();
  if (t - (lastScroll.get(el) || 0) < SCROLL_MS) return;
  lastScroll.set(el, t);
  // The trailing position matters most: record it again after the burst settles.
  setTimeout(() => scrolled(el), SCROLL_MS);
  scrolled(el);
}

function scrolled(el) {
  if (el === doc) emit(E.SCROLL, { i: 0, x: scrollX, y: scrollY });
  else if (id(el) != null) {
    const s = el.scrollingElement || el; // an iframe's document scrolls its root element
    emit(E.SCROLL, { i: id(el), x: s.scrollLeft, y: s.scrollTop });
  }
}

const handlers = {
  input: onInput,
  change: onInput,
  click(e) {
    const t = now();
    clicks = clicks.filter((c) => t - c < 1000).concat(t);
    if (clicks.length >= 3) persist(); // a rage click is a frustration signal
    const el = target(e);
    emit(E.CLICK, cp({ i: id(el) || 0, x: e.clientX, y: e.clientY }, el));
  },
  focusin(e) { emit(E.FOCUS, { i: id(target(e)) || 0 }); },
};

/** A URL as recorded for network events: absolute, every query value replaced by '*'. */
function qmask(u) {
  try {
    const x = new URL(u, location.href);
    const q = new URLSearchParams();
    for (const [k] of x.searchParams) q.append(k, '*');
    x.search = q;
    return x.href;
  } catch (e) {
    return '';
  }
}

const size = (b) => (b == null ? 0 : typeof b === 'string' ? b.length : b.size ?? b.byteLength);
const body = (b) => (cfg.bodies != null && typeof b === 'string' ? b.slice(0, MAX_BODY) : undefined);

function net(k, m, u, s, t0, more) {
  u = qmask(u);
  // Sightline's own uploads (the worker's, or beacons at pagehide) are not the page's traffic.
  if (u.startsWith(new URL('v1/ingest', new URL(cfg.endpoint || '/', location.href)).href)) return;
  emit(E.NETWORK, Object.assign({ k, m: String(m).toUpperCase(), u, s, d: Math.round(perf() - t0) }, more));
}

function str(x) {
  if (x instanceof Error) return x.message;
  try { return typeof x === 'object' ? JSON.stringify(x) : String(x); } catch (e) { return String(x); }
}

function observe() {
  watch(doc);
  for (const k in handlers) on(doc, k, handlers[k]);
  on(doc, 'mousemove', (e) => {
    const t = now();
    if (t - lastMouse < MOUSE_SAMPLE_MS) return;
    lastMouse = t;
    if (!mouse.length) mouseStart = t;
    mouse.push([e.clientX, e.clientY, t - mouseStart]);
    if (mouse.length >= 50) emitMouse();
  });
  on(doc, 'scroll', onScroll);
  on(doc, 'load', (e) => {
    // A same-origin iframe (re)loaded: its new document replaces the old one in the replay.
    const f = e.target;
    if (f.localName !== 'iframe' || id(f) == null) return;
    try {
      const d = f.contentDocument;
      if (d) emit(E.MUTATION, { ad: spill([[id(f), null, tree(d)]]) });
    } catch (err) { /* cross-origin */ }
    adoptLater();
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
  on(win, 'pagehide', () => {
    processMutations();
    flush();
    carry();
    // Sealed envelopes the worker could not deliver yet: the browser sends beacons even as
    // the page (and its worker) go; the worker's queue keeps them until acknowledged.
    for (const [u, b] of beacons.values()) try { navigator.sendBeacon(u, b); } catch (e) { /* ignore */ }
    worker && worker.postMessage({ op: 'pagehide' });
  });
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
  for (const l of ['error', 'warn']) patch(console, l, (orig) => function (...a) {
    const err = a.find((x) => x instanceof Error);
    emit(E.ERROR, { k: 'console', l, m: a.map(str).join(' ').slice(0, MAX_BODY), s: (err || new Error()).stack });
    return orig.apply(this, a);
  });

  // Shadow roots attached after load; CSSOM changes; adopted stylesheets.
  patch(Element.prototype, 'attachShadow', (orig) => function (o) {
    const r = orig.apply(this, arguments);
    if (o && o.mode === 'open') onMutations([{ type: 's', target: r }]);
    return r;
  });
  const SP = CSSStyleSheet.prototype;
  patch(SP, 'insertRule', (orig) => function (rule) {
    const x = orig.apply(this, arguments);
    sheetChanged(this, { ins: [rule, x] });
    return x;
  });
  patch(SP, 'deleteRule', (orig) => function (x) {
    orig.apply(this, arguments);
    sheetChanged(this, { del: x });
  });
  patch(SP, 'replaceSync', (orig) => function (c) {
    orig.apply(this, arguments);
    sheetChanged(this, { c });
  });
  patch(SP, 'replace', (orig) => function (c) {
    return orig.apply(this, arguments).then((r) => { sheetChanged(this, { c }); return r; });
  });
  for (const P of [Document.prototype, ShadowRoot.prototype]) {
    const d = Object.getOwnPropertyDescriptor(P, 'adoptedStyleSheets');
    if (!d || !d.set) continue;
    Object.defineProperty(P, 'adoptedStyleSheets', { ...d, set(v) { d.set.call(this, v); adopt(this); } });
    teardowns.push(() => Object.defineProperty(P, 'adoptedStyleSheets', d));
  }

  // Network metadata: method, URL (query values masked), status, timing, sizes.
  patch(win, 'fetch', (orig) => function (input, init) {
    const t0 = perf();
    const m = (init && init.method) || (input && input.method) || 'GET';
    const u = String((input && input.url) || input);
    const q = init && init.body;
    const p = orig.apply(this, arguments);
    p.then(async (r) => {
      const more = { q: size(q), r: +r.headers.get('content-length') || undefined, qb: body(q) };
      if (cfg.bodies != null) try { more.rb = body(await r.clone().text()); } catch (e) { /* unreadable */ }
      net('fetch', m, u, r.status, t0, more);
    }, (err) => net('fetch', m, u, 0, t0, { e: String(err) }));
    return p;
  });
  const XP = XMLHttpRequest.prototype;
  const xhrs = new WeakMap();
  patch(XP, 'open', (orig) => function (m, u) {
    xhrs.set(this, [m, u]);
    return orig.apply(this, arguments);
  });
  patch(XP, 'send', (orig) => function (q) {
    const x = xhrs.get(this);
    const t0 = perf();
    if (x) this.addEventListener('loadend', () => {
      const text = this.responseType ? undefined : this.responseText;
      net('xhr', x[0], x[1], this.status, t0, { q: size(q), r: size(text), qb: body(q), rb: body(text) });
    });
    return orig.apply(this, arguments);
  });
  patch(navigator, 'sendBeacon', (orig) => function (u, q) {
    const ok = orig.apply(this, arguments);
    net('beacon', 'POST', u, undefined, perf(), { q: size(q), e: ok ? undefined : 'refused' });
    return ok;
  });
  patch(win, 'WebSocket', (WS) => class extends WS {
    constructor(u, p) {
      super(u, p);
      const t0 = perf();
      this.n = [0, 0, 0, 0]; // messages in, out; bytes in, out
      let open = 0;
      this.addEventListener('open', () => { open = 1; net('ws', 'open', u, 101, t0); });
      this.addEventListener('message', (e) => { this.n[0]++; this.n[2] += size(e.data) || 0; });
      this.addEventListener('close', (e) => {
        const [i, o, r, q] = this.n;
        net('ws', 'close', u, open ? undefined : 0, t0, { c: e.code, i, o, r, q });
      });
    }

    send(d) {
      this.n[1]++;
      this.n[3] += size(d) || 0;
      return super.send(d);
    }
  });
}

/** Canvas (opt-in, data-canvas = frames per second): each changed canvas as a WebP frame. */
function canvas() {
  const last = new WeakMap();
  const tick = setInterval(() => {
    for (const c of doc.querySelectorAll('canvas')) {
      const i = id(c);
      if (i == null || matches(c, BLOCK_SELECTOR)) continue;
      try {
        const d = c.toDataURL('image/webp', 0.6);
        if (d !== last.get(c)) emit(E.CANVAS, { i, d });
        last.set(c, d);
      } catch (e) { /* tainted canvas */ }
    }
  }, 1000 / cfg.canvas);
  teardowns.push(() => clearInterval(tick));
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
  worker.onmessage = ({ data }) => {
    if (data.op === 'stored' && data.pid === pid) unacked.delete(data.seq);
    // A message the worker could not read: every batch it has not stored goes again, as JSON.
    else if (data.op === 'unreadable') for (const b of unacked.values()) post(b);
    else if (data.op === 'sealed') beacons.set(data.n, [data.url, data.body]);
    else if (data.op === 'sent') beacons.delete(data.n);
  };
  worker.postMessage({
    op: 'init',
    cfg: {
      endpoint: new URL(cfg.endpoint || '/', location.href).href,
      key: cfg.key,
      base: new URL('.', src).href,
      sid,
      pid,
      mode,
    },
  });
  carried();
  // Device mode: the worker fetches Python only after the load event and an idle moment,
  // never while the page is loading.
  const loaded = () => (win.requestIdleCallback || setTimeout)(() => worker && worker.postMessage({ op: 'loaded' }));
  if (doc.readyState === 'complete') loaded();
  else win.addEventListener('load', loaded, { once: true });
}

function start() {
  if (recording || !cfg.key || !sampled()) return;
  recording = true;
  touch();
  mode = processing();
  startWorker();
  const go = () => {
    observing = true;
    snapshot();
    observe();
    if (cfg.canvas > 0) canvas();
    if (buffering) {
      const c = setInterval(checkpoint, BUFFER_MS);
      teardowns.push(() => clearInterval(c));
    }
    for (const p of plugins) setup(p);
  };
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', go, { once: true });
  else go();
}

function stop() {
  if (!recording) return;
  processMutations();
  while (teardowns.length) teardowns.pop()(); // plugins may emit a last event here
  mo.disconnect();
  watched = new WeakSet();
  hooked = new WeakSet();
  flush();
  recording = observing = false;
}

function setup(p) {
  if (typeof p.component === 'function') component = p.component;
  try {
    const t = p.setup({ emit: (name, props) => emit(E.CUSTOM, { n: `${p.name}:${name}`, p: props || {} }), window: win });
    if (typeof t === 'function') teardowns.push(t);
  } catch (e) { /* a broken plugin must not break the page */ }
}

// ------------------------------------------------------------------ consent (recorder/consent.js, docs/privacy.md)
let unindicate = null;

/** Start if nothing forbids it; the indicator and the hybrid visitor id come with it. */
function begin() {
  if (signal()) return false; // Global Privacy Control / Do Not Track: a refusal
  start();
  if (recording && cfg.indicator != null && !unindicate) unindicate = indicator(cfg.indicator, () => api.optOut());
  if (recording && cfg.link != null) emit(E.IDENTIFY, { vid: visitor(rid) }); // hybrid mode, opt-in
  return recording;
}

function end() {
  stop();
  if (unindicate) unindicate();
  unindicate = null;
}

const api = {
  /** Give (true) or refuse (false) consent, remembered for this site. Returns whether it records. */
  consent(yes) {
    if (!yes || signal()) {
      if (!yes) remember('0');
      end();
      return false;
    }
    remember('1');
    return begin();
  },
  /** Stop at once and delete everything kept on this device; resolves once it is gone. */
  optOut() {
    end();
    remember('0');
    if (worker) worker.terminate(); // its IndexedDB connection closes with it
    worker = null;
    buffer = [];
    kept = [];
    unacked.clear();
    forget(['sl-sid', CARRY, 'sl-vid', 'sl-pm']);
    return dropDatabase();
  },
  identify(user) { emit(E.IDENTIFY, { u: String(user) }); },
  track(name, props) { emit(E.CUSTOM, { n: String(name), p: props || {} }); },
  use(plugin) {
    plugins.push(plugin);
    if (observing) setup(plugin);
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
  get session() { return { sid, pid, recording, mode }; },
  /** The visitor's decision ('1', '0' or null), the browser's refusal signal ('gpc', 'dnt' or null), and whether it records. */
  get privacy() { return { consent: remembered(), signal: signal(), recording }; },
};
win.Sightline = api;

const given = remembered();
if (given === '1' || (cfg.consent === 'granted' && given !== '0')) begin();
// A decision taken in another tab of the site applies here at once.
win.addEventListener('storage', (e) => {
  if (e.key !== 'sl-consent' || e.newValue !== '0') return;
  end();
  if (worker) worker.terminate(); // lets an opt-out's database deletion go through
  worker = null;
});
for (const [m, ...a] of early) if (typeof api[m] === 'function') api[m](...a);
