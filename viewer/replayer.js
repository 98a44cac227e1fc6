// The replayer: rebuilds a recorded page inside a sandboxed iframe (no scripts run) and
// plays the session's events on a timeline. Recorded scripts are rebuilt as inert data
// blocks, and event-handler attributes, javascript: URLs and meta refreshes are left out,
// so the sandbox has nothing to block (and logs nothing). The viewer's Python hands it the decrypted,
// masked events as JSON; the format is docs/events.md.

const E = {
  META: 0, SNAPSHOT: 1, MUTATION: 2, CLICK: 3, INPUT: 4, SCROLL: 5, MOUSE: 6,
  VIEWPORT: 7, NAVIGATION: 8, ERROR: 9, NETWORK: 10, CUSTOM: 11, VISIBILITY: 12,
  IDENTIFY: 13, STYLE: 14, ADOPT: 15, FOCUS: 16, CANVAS: 17,
};
const POINT = -1; // one mouse position, expanded from a MOUSE event at load time
const XHTML = 'http://www.w3.org/1999/xhtml';
const SVG = 'http://www.w3.org/2000/svg';
const MATHML = 'http://www.w3.org/1998/Math/MathML';
const XLINK = 'http://www.w3.org/1999/xlink';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/**
 * Build a player in `root` for the events in `eventsJson`.
 * @param {HTMLElement} root
 * @param {string} eventsJson
 * @param {{fitHeight?: boolean}} [options]  fitHeight (default true): scale the recorded
 *   viewport down to fit the window's height as well as the stage's width, so a phone-sized
 *   or tall viewport is seen whole; the heatmap and click measuring turn it off
 */
export function createReplayer(root, eventsJson, options = {}) {
  const fitHeight = options.fitHeight !== false;
  const events = expand(JSON.parse(eventsJson));
  const t0 = events.length ? events[0].ts : 0;
  const duration = events.length ? events[events.length - 1].ts - t0 : 0;

  root.innerHTML = `
    <div class="replay-url" data-role="url"></div>
    <div class="replay-stage" data-role="stage">
      <div class="replay-scaler" data-role="scaler">
        <iframe data-role="frame" id="replay-frame" sandbox="allow-same-origin" title="Replay"></iframe>
        <div class="replay-cursor" data-role="cursor"></div>
      </div>
    </div>
    <div class="replay-controls">
      <button data-role="play" aria-label="Play">▶</button>
      <div class="replay-track" data-role="track">
        <input type="range" min="0" max="${duration}" value="0" step="1" data-role="seek" aria-label="Seek">
      </div>
      <span data-role="clock">0:00 / ${clock(duration)}</span>
      <select data-role="speed" aria-label="Speed"><option>1</option><option>2</option><option>4</option><option>8</option></select>
    </div>`;
  const $ = (role) => root.querySelector(`[data-role="${role}"]`);
  const frame = $('frame');
  const cursor = $('cursor');
  const seekBar = $('seek');
  const playBtn = $('play');

  let nodes = new Map(); // recorded id -> node in the iframe (or document, shadow root)
  let sheets = new Map(); // recorded id of an adopted stylesheet -> its CSS text
  let after = []; // iframes to fill once they are in a document
  let index = 0; // next event to apply
  let time = 0; // ms since t0 shown now
  let playing = false;
  let wall = 0;
  let raf = 0;
  let size = { w: 1280, h: 800 };

  markers($('track'), events, t0, duration);

  // ---------------------------------------------------------------- applying events
  function apply(ev) {
    switch (ev.t) {
      case E.META:
        $('url').textContent = ev.u || '';
        resize(ev.w, ev.h);
        break;
      case E.SNAPSHOT:
        rebuild(ev);
        break;
      case E.MUTATION:
        mutate(ev);
        break;
      case E.INPUT: {
        const el = nodes.get(ev.i);
        if (!el) break;
        if ('c' in ev) el.checked = ev.c;
        if ('s' in ev) el.selectedIndex = ev.s;
        if ('v' in ev && 'value' in el) el.value = ev.v ?? '';
        break;
      }
      case E.SCROLL: {
        if (ev.i === 0) frame.contentWindow && frame.contentWindow.scrollTo(ev.x, ev.y);
        else { const el = nodes.get(ev.i); if (el) { el.scrollLeft = ev.x; el.scrollTop = ev.y; } }
        break;
      }
      case E.VIEWPORT:
        resize(ev.w, ev.h);
        break;
      case POINT:
        move(ev.x, ev.y);
        break;
      case E.CLICK:
        move(ev.x, ev.y);
        if (playing) ripple(ev.x, ev.y);
        break;
      case E.NAVIGATION:
        $('url').textContent = ev.u || '';
        break;
      case E.STYLE:
        restyle(ev);
        break;
      case E.ADOPT:
        adopt(ev);
        break;
      case E.CANVAS:
        paint(ev);
        break;
      default:
        break;
    }
  }

  function rebuild(ev) {
    let doc = frame.contentDocument;
    nodes = new Map();
    sheets = new Map();
    // The rendering mode comes from parsing, not from a doctype node added later: parse
    // one first, so a standards-mode page is not laid out in quirks mode.
    const standards = (ev.n.c || []).some((c) => c.t === 10);
    if (standards !== (doc.compatMode === 'CSS1Compat')) {
      doc.open();
      doc.write(standards ? '<!DOCTYPE html>' : '');
      doc.close();
      doc = frame.contentDocument;
    }
    fill(doc, ev.n);
    const meta = lastBefore(events, E.META, events.indexOf(ev));
    if (meta && meta.u && doc.head) {
      const base = doc.createElement('base');
      base.href = meta.u;
      doc.head.prepend(base);
    }
    frame.contentWindow.scrollTo(ev.sx || 0, ev.sy || 0);
  }

  /** Replace a document's (or shadow root's) children with a recorded node's children. */
  function fill(target, o) {
    const doc = target.ownerDocument || target;
    nodes.set(o.i, target);
    if (target.adoptedStyleSheets) target.adoptedStyleSheets = [];
    target.replaceChildren();
    for (const c of o.c || []) {
      const n = build(c, doc, null);
      if (n) {
        try { target.appendChild(n); } catch (e) { /* a structure the DOM refuses */ }
      }
    }
    settle();
  }

  /** Fill the iframes built so far, now that they are in a document (nested ones too). */
  function settle() {
    while (after.length) {
      const [el, o] = after.shift();
      if (el.contentDocument) fill(el.contentDocument, o);
    }
  }

  function build(o, doc, parentNs) {
    let n;
    if (o.t === 3) n = doc.createTextNode(o.x || '');
    else if (o.t === 8) n = doc.createComment('');
    else if (o.t === 10) n = doc.implementation.createDocumentType(o.n || 'html', '', '');
    else if (o.t === 1) {
      const ns = o.s ? (parentNs && parentNs !== XHTML ? parentNs : o.n === 'math' ? MATHML : SVG) : XHTML;
      // A same-origin stylesheet inlined by the recorder becomes a <style>: the replay
      // never fetches it from the recorded site.
      // A canvas in a frame without scripts shows its fallback content, not its bitmap:
      // the replay shows recorded canvas frames in an <img> of the same size instead.
      const tag = o.n === 'link' && o.css != null ? 'style' : o.n === 'canvas' && !o.s ? 'img' : o.n;
      try {
        n = ns === XHTML ? doc.createElement(tag) : doc.createElementNS(ns, tag);
      } catch (e) {
        n = doc.createElement('span');
      }
      const frameEl = o.n === 'iframe';
      if (tag === 'script') n.setAttribute('type', INERT_SCRIPT); // kept in the tree, never run
      for (const [k, v] of Object.entries(o.a || {})) {
        if (v == null || inert(tag, k, v) || (frameEl && /^(src|srcdoc|sandbox)$/.test(k))) continue;
        if (tag === 'style' && /^(rel|href)$/.test(k)) continue;
        try { attr(n, k, v); } catch (e) { /* invalid attribute name */ }
      }
      for (const c of o.c || []) {
        const child = build(c, doc, ns);
        if (child) n.appendChild(child);
      }
      if (o.css != null) n.textContent = o.css;
      if (o.a && 'value' in o.a && 'value' in n && o.a.value != null) n.value = o.a.value;
      if (o.sr) shadow(n, o.sr);
      if (o.f) after.push([n, o.f]);
    } else return null;
    nodes.set(o.i, n);
    return n;
  }

  /** Set an attribute as recorded; `xlink:*` and `xml:*` in their namespaces (an SVG
   * `<use xlink:href>` draws nothing without it). */
  function attr(el, k, v) {
    const ns = k.startsWith('xlink:') ? XLINK : k.startsWith('xml:') ? XML_NS : null;
    if (ns) el.setAttributeNS(ns, k, v);
    else el.setAttribute(k, v);
  }

  /** Give an element an open shadow root built from a recorded one. */
  function shadow(host, o) {
    let root = host.shadowRoot;
    try {
      root = root || host.attachShadow({ mode: 'open' });
    } catch (e) {
      return; // an element that cannot host a shadow root
    }
    fill(root, o);
  }

  function mutate(ev) {
    const doc = frame.contentDocument;
    for (const [, i] of ev.rm || []) {
      const n = nodes.get(i);
      if (n && n.parentNode) n.parentNode.removeChild(n);
    }
    for (const [p, next, o] of ev.ad || []) {
      const parent = nodes.get(p);
      if (!parent) continue;
      if (o.t === 11) { shadow(parent, o); continue; } // a shadow root attached after load
      if (o.t === 9) { // a same-origin iframe loaded a new document
        if (parent.contentDocument) fill(parent.contentDocument, o);
        continue;
      }
      const n = build(o, parent.ownerDocument || doc, parent.namespaceURI);
      if (!n) continue;
      const ref = next == null ? null : nodes.get(next);
      try {
        parent.insertBefore(n, ref && ref.parentNode === parent ? ref : null);
      } catch (e) { /* a structure the DOM refuses (e.g. two <html>): skip it */ }
      settle();
    }
    for (const [i, attrs] of ev.at || []) {
      const el = nodes.get(i);
      if (!el || !el.setAttribute) continue;
      for (const [k, v] of Object.entries(attrs)) {
        if (inert(el.localName, k, v) || (el.localName === 'iframe' && /^(src|srcdoc|sandbox)$/.test(k))) continue;
        try {
          if (v == null) el.removeAttribute(k);
          else attr(el, k, v);
          if (k === 'value' && 'value' in el) el.value = v ?? '';
          if (k === 'checked') el.checked = v != null;
          if (k === 'selected') el.selected = v != null;
        } catch (e) { /* invalid attribute name */ }
      }
    }
    for (const [i, x] of ev.tx || []) {
      const n = nodes.get(i);
      if (n) n.data = x;
    }
  }

  /** A CSSOM change: to a <style>/<link> element's sheet, or to an adopted stylesheet. */
  function restyle(ev) {
    const owner = nodes.get(ev.i);
    const sheet = owner ? owner.sheet : null;
    try {
      if (sheet) {
        if (ev.ins) sheet.insertRule(ev.ins[0], ev.ins[1]);
        if (ev.del != null) sheet.deleteRule(ev.del);
        if (ev.c != null) owner.textContent = ev.c;
      } else if (sheets.has(ev.i) && ev.c != null) {
        sheets.get(ev.i).text = ev.c;
        for (const s of sheets.get(ev.i).made.values()) s.replaceSync(ev.c);
      } else if (sheets.has(ev.i)) {
        for (const s of sheets.get(ev.i).made.values()) {
          if (ev.ins) s.insertRule(ev.ins[0], ev.ins[1]);
          if (ev.del != null) s.deleteRule(ev.del);
        }
      }
    } catch (e) { /* a rule this browser refuses */ }
  }

  /** A document or shadow root adopted stylesheets: one constructed sheet per window. */
  function adopt(ev) {
    for (const [k, text] of Object.entries(ev.css || {})) sheets.set(Number(k), { text, made: new Map() });
    const root = nodes.get(ev.i);
    if (!root) return;
    const view = (root.ownerDocument || root).defaultView;
    if (!view) return;
    const list = [];
    for (const k of ev.s || []) {
      const s = sheets.get(k);
      if (!s) continue;
      if (!s.made.has(view)) {
        const sheet = new view.CSSStyleSheet();
        try { sheet.replaceSync(s.text); } catch (e) { /* unparsable */ }
        s.made.set(view, sheet);
      }
      list.push(s.made.get(view));
    }
    try { root.adoptedStyleSheets = list; } catch (e) { /* not adoptable here */ }
  }

  /** One recorded canvas frame (opt-in on the site), shown by the canvas's stand-in <img>. */
  function paint(ev) {
    const el = nodes.get(ev.i);
    if (el && el.localName === 'img' && /^data:image\//.test(ev.d || '')) el.src = ev.d;
  }

  // ---------------------------------------------------------------- presentation
  function resize(w, h) {
    if (!w || !h) return;
    size = { w, h };
    frame.style.width = `${w}px`;
    frame.style.height = `${h}px`;
    fit();
  }

  /** Scale the recorded viewport into the stage (never up), centred; refitted when the stage
   * changes size (a player built while its view was hidden is refitted once shown). */
  function fit() {
    const stage = $('stage');
    if (!stage) return;
    const avail = stage.clientWidth || size.w;
    const tall = fitHeight ? Math.max(320, innerHeight - 140) : Infinity;
    const scale = Math.min(1, avail / size.w, tall / size.h);
    const scaler = $('scaler');
    scaler.style.transform = `scale(${scale})`;
    scaler.style.left = `${Math.max(0, Math.floor((avail - size.w * scale) / 2))}px`;
    stage.style.height = `${Math.ceil(size.h * scale)}px`;
    root.dataset.scale = scale.toFixed(3);
  }

  function move(x, y) {
    cursor.style.transform = `translate(${x}px, ${y}px)`;
    cursor.style.display = 'block';
  }

  function ripple(x, y) {
    const r = document.createElement('div');
    r.className = 'replay-ripple';
    r.style.left = `${x}px`;
    r.style.top = `${y}px`;
    $('scaler').appendChild(r);
    setTimeout(() => r.remove(), 600);
  }

  function show() {
    seekBar.value = String(time);
    $('clock').textContent = `${clock(time)} / ${clock(duration)}`;
    root.dataset.time = String(Math.round(time));
  }

  // ---------------------------------------------------------------- time
  /** Show the page as it was `ms` after the session's start. */
  function seek(ms) {
    time = Math.max(0, Math.min(duration, ms));
    let start = -1;
    for (let k = 0; k < events.length && events[k].ts - t0 <= time; k++) {
      if (events[k].t === E.SNAPSHOT) start = k;
    }
    // Before the first snapshot's moment, show the first page as it loaded.
    if (start < 0) start = events.findIndex((ev) => ev.t === E.SNAPSHOT);
    index = 0;
    if (start >= 0) {
      const meta = lastBefore(events, E.META, start);
      if (meta) apply(meta);
      apply(events[start]);
      index = start + 1;
    }
    advance(time);
    show();
  }

  function advance(until) {
    while (index < events.length && events[index].ts - t0 <= until) apply(events[index++]);
  }

  function tick() {
    const speed = Number($('speed').value) || 1;
    const t = time + (performance.now() - wall) * speed;
    wall = performance.now();
    time = Math.min(duration, t);
    advance(time);
    show();
    if (time >= duration) return pause();
    raf = requestAnimationFrame(tick);
  }

  function play() {
    if (playing) return;
    if (time >= duration) seek(0);
    playing = true;
    wall = performance.now();
    playBtn.textContent = '❚❚';
    playBtn.setAttribute('aria-label', 'Pause');
    raf = requestAnimationFrame(tick);
  }

  function pause() {
    playing = false;
    cancelAnimationFrame(raf);
    playBtn.textContent = '▶';
    playBtn.setAttribute('aria-label', 'Play');
  }

  playBtn.onclick = () => (playing ? pause() : play());
  seekBar.oninput = () => seek(Number(seekBar.value));
  root.tabIndex = 0;
  root.onkeydown = (e) => {
    if (e.key === ' ') { e.preventDefault(); playing ? pause() : play(); }
    if (e.key === 'ArrowRight') seek(time + 5000);
    if (e.key === 'ArrowLeft') seek(time - 5000);
  };
  addEventListener('resize', fit);
  let width = -1; // the stage's width last fitted to: only a change of width refits (the heatmap sets its own height)
  const watcher = typeof ResizeObserver === 'function' ? new ResizeObserver(() => {
    const stage = $('stage');
    if (stage && stage.clientWidth !== width) { width = stage.clientWidth; fit(); }
  }) : null;
  if (watcher) watcher.observe($('stage'));
  seek(0);

  return {
    play, pause, seek,
    get time() { return time; },
    get playing() { return playing; },
    duration,
    frame,
    destroy() { pause(); removeEventListener('resize', fit); if (watcher) watcher.disconnect(); root.innerHTML = ''; },
  };
}

/** The type a recorded <script> gets in the replay: a data block, which no browser runs or fetches. */
const INERT_SCRIPT = 'text/x-sightline-inert';

/**
 * True for an attribute the replay never sets: event handlers (on*), any value that is a
 * javascript: URL (as the URL parser reads it: tabs and newlines dropped, leading controls
 * and spaces trimmed), a script's own source and type, and a meta refresh.
 */
export function inert(tag, name, value) {
  if (/^on/i.test(name)) return true;
  if (typeof value === 'string' && /^javascript:/i.test(value.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+/, ''))) return true;
  if (tag === 'script' && /^(src|type|nonce|integrity|async|defer|nomodule)$/i.test(name)) return true;
  if (tag === 'meta' && /^http-equiv$/i.test(name) && typeof value === 'string' && /refresh/i.test(value)) return true;
  return false;
}

/** Events in time order, each MOUSE event expanded into timed POINTs. */
function expand(events) {
  const out = [];
  for (const ev of events) {
    if (ev.t === E.MOUSE) for (const [x, y, dt] of ev.p || []) out.push({ t: POINT, ts: ev.ts + dt, x, y });
    else out.push(ev);
    if (ev.t === E.SNAPSHOT && ev.n) expandIds(ev.n);
    if (ev.t === E.MUTATION) for (const a of ev.ad || []) if (Array.isArray(a)) expandIds(a[2]);
  }
  return out.sort((a, b) => a.ts - b.ts);
}

/**
 * Fill in the node ids a serialized tree leaves out (docs/events.md): a node without `i`
 * has the id of the node before it plus one, in the order the recorder serialized them
 * (node, children, shadow root, iframe document). py_core.events.expand_ids is the same.
 */
export function expandIds(tree) {
  let last = null;
  const stack = [tree];
  while (stack.length) {
    const n = stack.pop();
    if (!n || typeof n !== 'object' || Array.isArray(n)) continue;
    if (n.i == null && last != null) n.i = last + 1;
    last = Number.isInteger(n.i) ? n.i : null;
    for (const x of [n.f, n.sr]) if (x && typeof x === 'object') stack.push(x);
    if (Array.isArray(n.c)) for (let k = n.c.length - 1; k >= 0; k--) stack.push(n.c[k]);
  }
  return tree;
}

function lastBefore(events, type, k) {
  for (let j = k; j >= 0; j--) if (events[j].t === type) return events[j];
  return null;
}

/** Marks on the timeline: clicks, errors and failed requests, page changes. */
function markers(track, events, t0, duration) {
  if (!duration) return;
  for (const ev of events) {
    let kind = null;
    if (ev.t === E.CLICK) kind = 'click';
    else if (ev.t === E.ERROR || (ev.t === E.NETWORK && (ev.s === 0 || ev.s >= 400))) kind = 'error';
    else if (ev.t === E.META || ev.t === E.NAVIGATION) kind = 'page';
    if (!kind) continue;
    const m = document.createElement('span');
    m.className = `replay-marker ${kind}`;
    m.style.left = `${((ev.ts - t0) / duration) * 100}%`;
    m.title = kind;
    track.appendChild(m);
  }
}

export function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
