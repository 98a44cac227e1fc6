// Sightline's light mode: a batch of events masked to its shape in the worker, no Python.
// Every text node, attribute value, input value and free-text field becomes '*' per
// character, whitespace kept (the replay's layout does not move). Kept: what replay and
// analysis need and a visitor cannot have typed: tag and attribute names, structural
// attributes (class, id, type, role, ...), CSS rules, URL origins and path shapes,
// numbers, enumerations. Text inside data-sl-unmask is kept (minus anything that looks
// like data). Rules and reasons: docs/adr/0206-light-mode-masks-to-shape.md,
// docs/privacy.md. Event format: docs/events.md (numbers below are its wire values).
//
// Built from an allow-list: every field is rebuilt from what this file knows; anything
// else (unknown event types, fields, node kinds, wrong types) is dropped. It never throws
// on malformed input and never recurses (trees may be thousands of levels deep).

// Wide (CJK, full-width) characters become a full-width mask so masked text keeps its width
// (as py_core.masking.shape_mask, ADR 0207).
const WIDE = /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA960-\uA97F\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]|[\u{20000}-\u{3FFFD}]/u;
const shape = (s) => s.replace(/\S/gu, (c) => (WIDE.test(c) ? '\uFF0A' : '*'));
const COMPONENT = /^[A-Za-z_$][\w$.:<>-]{0,79}$/; // a component name (docs/frameworks.md): code, not data
const str = (v) => typeof v === 'string';
const num = (v) => typeof v === 'number' && Number.isFinite(v);
const obj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

// Pieces that look like data even in text a site opted in (data-sl-unmask) or markup it
// wrote: emails (also %40), IPv6 addresses, 8+ digits in one run of digits and separators
// (cards, phones, IBANs, SSNs, IPv4), runs of letters and digits mixed that are `long` or
// hold 8+ digits (keys, tokens, session ids, IBANs). Linear time on any input: every
// alternative starts only where a run starts, and nothing scans ahead.
const DATA = new RegExp([
  /((?<![\w.%+-])[\w.%+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+)/, // 1 email
  /((?<![\w:])(?=[\da-f:]*::|(?:[\da-f]{1,4}:){7})(?:[\da-f]{0,4}:){2,7}[\da-f]{0,4}(?![\w:]))/, // 2 IPv6
  /((?<![\w.-])\+?\d[\d\s().\/-]*\d)/, // 3 digits
  /(?<![\w-])[\w-]{8,}/,
].map((r) => r.source).join('|'), 'gi');
const digits = (s) => s.replace(/\D/g, '').length;
const mixed = (w) => /\d/.test(w) && /[A-Za-z]/.test(w);
// In CSS, numbers are everywhere (rgb(255 255 255 / 0.5), z-index: 2147483647): a run of
// digits counts there only when grouped like phones, cards and IPs: a leading '+', a group
// of 4+ digits, groups of 1-2 digits only (01 23 45 67 89), or a dotted quad.
const grouped = (m) => /\D/.test(m)
  && (/^\+|\d{4}/.test(m) || !/\d{3}/.test(m) || /^\d{1,3}(\.\d{1,3}){3}$/.test(m));

/** `s` with the pieces that look like data masked; `long`: the shortest token masked;
 * `css`: the text is CSS. */
const unmasked = (s, long = 16, css = false) => s.replace(DATA, (m, email, ip, num) => {
  const data = num ? digits(m) >= 8 && (!css || grouped(m))
    : email || ip || (mixed(m) && (m.length >= long || digits(m) >= 8));
  return data ? shape(m) : m;
});
// Markup (class names, ids, names of things) must also hold no run of 5+ digits.
const dataless = (s) => !/\d{5}/.test(s) && unmasked(s, 32) === s;

// ------------------------------------------------------------------ URLs
const URL_RE = /^([a-z][a-z\d+.-]*:)?(\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#[\s\S]*)?$/i;
const IDENT = /^[A-Za-z_:-][\w:.-]{0,99}$/; // an id (also a #fragment that names one)
const ident = (s) => IDENT.test(s) && /[A-Za-z]/.test(s) && dataless(s);

/** Path segments are kept only when made of letters and . _ ~ - (no digits, '@', '%', '=' ...). */
const segment = (s) => (/^[A-Za-z._~-]{0,64}$/.test(s) && !/^(?=.*[a-z])(?=.*[A-Z])[A-Za-z]{16,}$/.test(s) ? s : shape(s));
const path = (p) => p.split('/').map(segment).join('/');

/** Query: parameter names kept when they are plain names, every value masked. */
const query = (q) => q.replace(/[^?&;=]+(=?)([^&;]*)/g, (m, eq, v) => {
  const name = m.slice(0, m.length - eq.length - v.length);
  return eq && /^[A-Za-z_][\w.[\]-]{0,39}$/.test(name) && dataless(name) ? name + eq + shape(v) : shape(m);
});

/** A URL's shape: scheme and host kept (unless the host is an IP address other than the
 * page's own, or there is user info), path segments with digits or symbols masked, query
 * values and fragments masked (a #name without digits is kept, a #/route as a path). */
function url(u, page) {
  const m = URL_RE.exec(u);
  if (!m) return shape(u);
  const [, scheme = '', auth = '', p = '', q = '', frag = ''] = m;
  const s = scheme.toLowerCase();
  if (s === 'data:') { // the media type only: pixels and payloads are not kept
    const d = /^data:[\w.+-]+\/[\w.+-]+(;[\w-]+(=[\w.-]+)?)*,/i.exec(u);
    return d && dataless(d[0]) ? d[0] : 'data:';
  }
  if (s && !auth && !/^(https?|wss?|ftp|file):$/.test(s)) return scheme + shape(u.slice(scheme.length));
  // The page's own origin is kept even when it is an IP address: it is the site's.
  const plain = /^\/\/[\w.:-]*$/.test(auth) && (auth === page.origin || !/^\/\/[\d.]+(:|$)/.test(auth));
  const host = !auth || (plain && (auth === page.origin || unmasked(auth) === auth)) ? auth : '//' + shape(auth.slice(2));
  let f = frag.slice(1);
  if (frag && !(ident(f) && !/\d/.test(f))) { // an anchor name without digits is kept
    const r = /^(!?\/[^?]*)(\?[\s\S]*)?$/.exec(f); // a hash route: "#/cart", "#!/item?x=1"
    f = r ? path(r[1]) + query(r[2] || '') : shape(f);
  }
  return scheme + host + path(p) + query(q) + (frag ? '#' + f : '');
}

const srcset = (v, page) => v.split(',').map((c) => c.replace(/^(\s*)(\S*)([\s\S]*)$/, (m, sp, u, d) =>
  sp + url(u, page) + (/^\s*(\d+(\.\d+)?[wx])?\s*$/.test(d) ? d : shape(d)))).join(',');

// ------------------------------------------------------------------ CSS
// Comments go; url(...) is masked as a URL; strings are kept unless they look like data
// (or are URLs); the rest (selectors, properties, values) is kept except what looks like
// data (custom property values are free text).
const CSS_RE = new RegExp([
  /(\/\*[\s\S]*?(?:\*\/|$))/, // 1 comment
  /(url\(\s*)("(?:[^"\\]|\\[\s\S])*"?|'(?:[^'\\]|\\[\s\S])*'?|[^)]*)/, // 2, 3 url(
  /("(?:[^"\\]|\\[\s\S])*"?|'(?:[^'\\]|\\[\s\S])*'?)/, // 4 string
].map((r) => r.source).join('|'), 'gi');

function css(text, page) {
  return unmasked(text.replace(CSS_RE, (m, comment, open, target, string) => {
    if (comment) return '';
    if (open) {
      const q = /^["']/.test(target) ? target[0] : '';
      const end = q && target.length > 1 && target.endsWith(q) ? q : '';
      return open + q + url(target.slice(q.length, target.length - end.length), page) + end;
    }
    if (string) {
      const body = string.slice(1, string.length > 1 && string.endsWith(string[0]) ? -1 : undefined);
      const kept = /^([a-z][\w+.-]*:|\.{0,2}\/)|[?#]/i.test(body) ? url(body, page) : unmasked(body);
      return string[0] + kept + string.slice(1 + body.length);
    }
    return m;
  }), 32, true);
}

// ------------------------------------------------------------------ attributes
const set = (words) => new Set(words.split(' '));
const URLS = set('href src xlink:href action formaction poster background cite data');
// Values the page's author picks from a fixed vocabulary, or small numbers.
const WORDS = set('type rel role dir lang media sizes charset as crossorigin loading decoding target method '
  + 'enctype autocomplete inputmode spellcheck draggable hidden tabindex contenteditable translate align valign '
  + 'scope shape wrap frameborder scrolling sandbox referrerpolicy http-equiv colspan rowspan span cols rows '
  + 'size width height border cellpadding cellspacing maxlength minlength min max step start kind srclang xmlns '
  + 'xmlns:xlink version aria-hidden aria-expanded aria-selected aria-checked aria-pressed aria-disabled '
  + 'aria-current aria-haspopup aria-modal aria-busy aria-invalid aria-live aria-orientation aria-sort '
  + 'aria-level aria-readonly aria-required aria-atomic aria-autocomplete popover slot part');
// SVG geometry and presentation: numbers, path commands, colours, url(#id).
const SVG = set('viewBox d points transform x y x1 x2 y1 y2 cx cy r rx ry dx dy fill stroke stroke-width '
  + 'stroke-linecap stroke-linejoin stroke-dasharray stroke-dashoffset stroke-miterlimit stroke-opacity '
  + 'fill-opacity fill-rule clip-rule clip-path mask opacity offset stop-color stop-opacity gradientUnits '
  + 'gradientTransform patternUnits preserveAspectRatio text-anchor dominant-baseline font-size font-weight '
  + 'vector-effect marker-start marker-mid marker-end filter transform-origin pathLength');
// Any attribute but `value` may keep one of these state words (e.g. data-state="open").
const STATE = /^(true|false|on|off|yes|no|none|auto|open|closed|active|inactive|checked|unchecked|indeterminate|mixed|visible|hidden|dark|light|top|bottom|left|right|start|end|center|horizontal|vertical|ltr|rtl|page|step|location|date|time|menu|listbox|tree|grid|dialog|polite|assertive|ascending|descending|selected|disabled|enabled|loading|loaded|expanded|collapsed)$/i;
const NAME = /^[A-Za-z_:][\w:.-]{0,99}$/;

/** One attribute's value as it may leave: a string, null (removed) or undefined (dropped). */
function attr(name, v, page) {
  if (v === null) return null;
  if (!str(v)) return undefined;
  if (name === 'class') return v.replace(/\S+/g, (t) => (/[A-Za-z]/.test(t) && dataless(t) ? t : shape(t)));
  if (name === 'id') return ident(v) ? v : shape(v);
  if (name === 'style') return css(v, page);
  if (URLS.has(name)) return url(v, page);
  if (name === 'srcset' || name === 'imagesrcset') return srcset(v, page);
  if (WORDS.has(name)) return v.length <= 200 && dataless(v) ? v : shape(v);
  if (SVG.has(name)) return /^[\w\s.,%#()+-]*$/.test(v) && !/\d{8}/.test(v) ? v : shape(v);
  return name !== 'value' && STATE.test(v) ? v : shape(v);
}

/** An attribute map masked; names that are not plain attribute names are dropped. */
function attrs(a, page) {
  const out = {};
  for (const k of Object.keys(a)) {
    if (!NAME.test(k) || k === '__proto__' || /\d{9}/.test(k)) continue;
    const v = attr(k, a[k], page);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

// ------------------------------------------------------------------ nodes
// The page's nodes seen so far, id -> [parent id (null: the top), flags], so that text
// changed or added in later events is known to be inside data-sl-unmask, data-sl-mask or
// a <style>. A node whose ancestry is not known is masked.
const M_CLASS = 1; // .rr-mask / .rr-block
const M_EDIT = 2; // contenteditable
const M_ATTR = 4; // data-sl-mask
const M_FIXED = 8; // blocked, data-sl-block, textarea: for good
const HARD = M_CLASS | M_EDIT | M_ATTR | M_FIXED; // text below is never kept
const OPEN = 16; // data-sl-unmask
const STYLE = 32; // <style>: its text is CSS
const MARKERS = {
  class: [M_CLASS, (v) => /(^|\s)rr-(mask|block)(\s|$)/.test(v)],
  contenteditable: [M_EDIT, (v) => v.toLowerCase() !== 'false'],
  'data-sl-mask': [M_ATTR, () => true],
  'data-sl-block': [M_FIXED, () => true],
  'data-sl-unmask': [OPEN, () => true],
};

/** Flags after a change of attributes `a` (null: removed), from the flags `f` before. */
function mark(f, a) {
  for (const k in MARKERS) {
    if (!own(a, k)) continue;
    const [bit, on] = MARKERS[k];
    if (a[k] !== null && on(String(a[k]))) f |= bit;
    else if (bit !== M_FIXED) f &= ~bit;
  }
  return f;
}

/** What text below element `id` gets: 'open' (kept), 'plain' (masked) or 'hard' (masked,
 * and a data-sl-unmask below cannot open it). Unknown ancestry is 'hard'. */
function context(page, id) {
  let open = false;
  for (let n = 0; n < 1e5 && id !== null; n++) {
    const e = page.nodes.get(id);
    if (!e || e[1] & HARD) return 'hard';
    if (e[1] & OPEN) open = true;
    id = e[0];
  }
  return id !== null ? 'hard' : open ? 'open' : 'plain';
}

const ID = (v) => Number.isInteger(v) && v >= 0;
// Deeper parts are dropped, so that what comes out can always be serialized (JSON.stringify
// overflows V8's stack at about 3,000 levels; structured clone already turns about 1,000
// into null, so a real page never comes near).
const MAX_DEPTH = 1000;
const TAG = /^[A-Za-z][\w.:-]{0,63}$/;

/** A serialized node tree masked to its shape; `parent`: its parent's id (null: the top);
 * `ctx`: what text below the parent gets (context()); `style`: the parent is a <style>. */
function tree(page, root, parent, ctx, style) {
  const top = {};
  const seen = new Set();
  const stack = [[root, top, 'n', parent, ctx, style, 0]];
  let last = null; // the id of the node before, in the input's walk order
  let wrote = null; // the id of the node written before, in the output's walk order
  while (stack.length) {
    const [o, into, key, par, cx, inStyle, depth] = stack.pop();
    if (!obj(o) || seen.has(o) || depth > MAX_DEPTH) continue;
    seen.add(o);
    const i = o.i === undefined ? (last === null ? null : last + 1) : ID(o.i) ? o.i : null;
    last = i;
    // Nodes of kinds this version does not know, or without a readable id, are dropped.
    if (i === null || ![1, 3, 8, 9, 10, 11].includes(o.t)) continue;
    const out = { t: o.t };
    if (wrote === null || i !== wrote + 1) out.i = i; // ids that follow on stay implied (docs/events.md)
    wrote = i;
    if (Array.isArray(into)) into.push(out);
    else into[key] = out;
    let f = 0;
    if (o.t === 1) {
      const tag = str(o.n) && TAG.test(o.n) && dataless(o.n) ? o.n : shape(String(o.n ?? '*'));
      const a = obj(o.a) ? o.a : {};
      out.n = tag;
      f = mark(tag.toLowerCase() === 'style' ? STYLE : tag.toLowerCase() === 'textarea' || o.b === 1 ? M_FIXED : 0, a);
      if (obj(o.a)) out.a = attrs(a, page);
      if (o.s === 1) out.s = 1;
      if (o.b === 1) out.b = 1;
      if (str(o.css)) out.css = css(o.css, page);
    } else if (o.t === 3 && str(o.x)) {
      out.x = inStyle ? css(o.x, page) : cx === 'open' ? unmasked(o.x) : shape(o.x);
    } else if (o.t === 10) {
      out.n = str(o.n) && /^\w{0,32}$/.test(o.n) ? o.n : 'html';
    }
    page.nodes.set(i, [par, f]);
    if (o.t !== 1 && o.t !== 9 && o.t !== 11) continue;
    const below = cx === 'hard' || f & HARD ? 'hard' : cx === 'open' || f & OPEN ? 'open' : 'plain';
    const css_ = !!(f & STYLE);
    // The walk order of docs/events.md: the node, its children, its shadow root, its frame document.
    if (o.t === 1 && obj(o.f)) stack.push([o.f, out, 'f', i, below, false, depth + 1]);
    if (o.t === 1 && obj(o.sr)) stack.push([o.sr, out, 'sr', i, below, false, depth + 1]);
    if (Array.isArray(o.c)) {
      out.c = [];
      for (let k = o.c.length - 1; k >= 0; k--) stack.push([o.c[k], out.c, null, i, below, css_, depth + 1]);
    }
  }
  return top.n;
}

// ------------------------------------------------------------------ other values
const ENUMS = {
  k: /^(checkpoint|storm|push|replace|pop|hash|error|rejection|console|fetch|xhr|beacon|ws)$/,
  l: /^(error|warn)$/,
  v: /^(visible|hidden|prerender)$/,
  m: /^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|CONNECT|TRACE|OPEN|CLOSE)$/,
};

/** Custom properties: keys kept when they are plain names; strings masked; numbers of 5+
 * integer digits (a card, phone, account number or postcode?) masked into strings; what
 * is deeper than 100 levels is dropped. */
function value(root) {
  const top = {};
  const seen = new Set();
  const stack = [[root, top, 'v', 0]];
  while (stack.length) {
    const [v, into, key, depth] = stack.pop();
    let out;
    if (str(v)) out = shape(v);
    else if (num(v)) out = Math.abs(v) < 1e4 ? v : shape(String(v));
    else if (v === null || typeof v === 'boolean') out = v;
    else if (typeof v === 'object' && !seen.has(v) && depth < 100) {
      seen.add(v);
      const list = Array.isArray(v);
      out = list ? [] : {};
      const keys = Object.keys(v);
      for (let n = keys.length - 1; n >= 0; n--) {
        const k = keys[n];
        const name = list ? n : /^[A-Za-z_$][\w$.:-]{0,63}$/.test(k) && dataless(k) ? k : shape(k);
        if (name !== '__proto__') stack.push([v[k], out, name, depth + 1]);
      }
      if (list) out.length = keys.length;
    } else if (Array.isArray(into)) out = null; // a hole stays a hole
    else continue;
    into[key] = out;
  }
  return top.v;
}

// ------------------------------------------------------------------ events
/** Copy the finite numbers among `keys` from `e` to `out`. */
function nums(e, out, keys) {
  for (const k of keys) if (num(e[k])) out[k] = e[k];
  return out;
}

function mutation(page, e, out) {
  const list = (v) => (Array.isArray(v) ? v.filter(Array.isArray) : []);
  const rm = list(e.rm).filter((c) => c.length === 2 && c.every(num)).map((c) => [c[0], c[1]]);
  for (const [, i] of rm) page.nodes.delete(i); // detached: its subtree's ancestry is unknown now
  // Attributes before additions and text: a node that gains data-sl-mask in this frame masks both.
  const at = [];
  for (const c of list(e.at)) {
    if (!num(c[0]) || !obj(c[1])) continue;
    at.push([c[0], attrs(c[1], page)]);
    const n = page.nodes.get(c[0]);
    if (n) n[1] = mark(n[1], c[1]);
  }
  const ad = [];
  for (const c of list(e.ad)) {
    if (!num(c[0]) || !(num(c[1]) || c[1] === null)) continue;
    const p = page.nodes.get(c[0]);
    const node = tree(page, c[2], c[0], context(page, c[0]), !!(p && p[1] & STYLE));
    if (node) ad.push([c[0], c[1], node]);
  }
  const tx = [];
  for (const c of list(e.tx)) {
    if (!num(c[0]) || !str(c[1])) continue;
    const n = page.nodes.get(c[0]);
    const p = n && n[0] !== null ? page.nodes.get(n[0]) : null;
    const cx = n && n[0] !== null ? context(page, n[0]) : 'hard';
    tx.push([c[0], p && p[1] & STYLE ? css(c[1], page) : cx === 'open' ? unmasked(c[1]) : shape(c[1])]);
  }
  const hd = Array.isArray(e.hd) ? e.hd.filter(num) : []; // nodes held by the recorder's throttle
  for (const [k, v] of [['rm', rm], ['at', at], ['ad', ad], ['tx', tx], ['hd', hd]]) if (v.length) out[k] = v;
  return out;
}

/** One event masked to its shape, or null when it is not an event this version knows. */
function event(page, e) {
  if (!obj(e) || !Number.isInteger(e.t) || !num(e.ts) || e.ts < 0) return null;
  const out = { t: e.t, ts: e.ts };
  const text = (k) => { if (str(e[k])) out[k] = shape(e[k]); };
  const link = (k) => { if (str(e[k])) out[k] = url(e[k], page); };
  const word = (k) => { if (str(e[k])) out[k] = ENUMS[k].test(e[k]) ? e[k] : shape(e[k]); };
  switch (e.t) {
    case 0: { // META: the page's own origin is the site's, not the visitor's
      const m = str(e.u) && /^https?:(\/\/[\w.:[\]-]*)([/?#]|$)/i.exec(e.u);
      page.origin = m ? m[1] : undefined;
      link('u'); link('r'); text('ti');
      return nums(e, out, ['w', 'h']);
    }
    case 1: { // SNAPSHOT: replaces the page's tree
      if (!obj(e.n)) return null;
      page.nodes = new Map();
      out.n = tree(page, e.n, null, 'plain', false);
      word('k');
      return out.n ? nums(e, out, ['sx', 'sy']) : null;
    }
    case 2: return mutation(page, e, out);
    case 3: case 5: return nums(e, out, ['i', 'x', 'y']); // CLICK, SCROLL
    case 4: // INPUT: typed values are never kept in light mode, not even under data-sl-unmask
      text('v');
      if (e.v === null) out.v = null; // a password: never read
      if (typeof e.c === 'boolean') out.c = e.c;
      return nums(e, out, ['i', 's']);
    case 6: // MOUSE
      if (Array.isArray(e.p)) out.p = e.p.filter((p) => Array.isArray(p) && p.length === 3 && p.every(num)).map((p) => p.slice());
      return out;
    case 7: return nums(e, out, ['w', 'h']); // VIEWPORT
    case 8: link('u'); word('k'); return out; // NAVIGATION
    case 9: text('m'); text('s'); word('k'); word('l'); return out; // ERROR
    case 10: // NETWORK
      word('k'); word('m'); link('u'); text('e'); text('qb'); text('rb');
      return nums(e, out, ['s', 'd', 'q', 'r', 'c', 'i', 'o']);
    case 11: // CUSTOM
      if (str(e.n)) out.n = /^[\w:./-]{1,64}$/.test(e.n) && dataless(e.n) ? e.n : shape(e.n);
      if (obj(e.p)) out.p = value(e.p);
      return out;
    case 12: word('v'); return out; // VISIBILITY
    case 13: // IDENTIFY: the site's user id masked; the hybrid mode's random visitor id kept
      text('u');
      if (str(e.vid)) out.vid = /^[\w-]{16}$/.test(e.vid) ? e.vid : shape(e.vid);
      return out;
    case 14: // STYLE
      if (Array.isArray(e.ins) && str(e.ins[0])) out.ins = [css(e.ins[0], page), num(e.ins[1]) ? e.ins[1] : 0];
      if (str(e.c)) out.c = css(e.c, page);
      return nums(e, out, ['i', 'del']);
    case 15: // ADOPT
      if (Array.isArray(e.s)) out.s = e.s.filter(num);
      if (obj(e.css)) {
        out.css = {};
        for (const k of Object.keys(e.css)) if (/^\d{1,12}$/.test(k) && str(e.css[k])) out.css[k] = css(e.css[k], page);
      }
      return nums(e, out, ['i']);
    case 16: return nums(e, out, ['i']); // FOCUS
    default: return null; // CANVAS (pixels cannot be masked) and types this version does not know
  }
}

/**
 * A batch of events masked to its shape (light mode): new event objects, built only from
 * what this module knows. Never throws: an event it cannot read is dropped. Pass the same
 * `page` object for the batches of one page (pid), in order, so that text changed later
 * under data-sl-unmask or in a <style>, and the page's own origin, are recognised; without
 * it each batch stands alone, and such text is masked.
 * @param {unknown} events
 * @param {{nodes?: Map<number, [number|null, number]>, origin?: string}} [page]
 * @returns {object[]}
 */
export function maskLight(events, page = {}) {
  if (!obj(page)) page = {};
  if (!(page.nodes instanceof Map)) page.nodes = new Map();
  const out = [];
  for (const e of Array.isArray(events) ? events : []) {
    try {
      const m = event(page, e);
      if (m && (m.t === 3 || m.t === 4 || m.t === 9) && str(e.cp) && COMPONENT.test(e.cp)) m.cp = e.cp;
      if (m) out.push(m);
    } catch (err) { /* an event this code cannot read is dropped, never passed on */ }
  }
  return out;
}
