// Shared by the state-log plugins (recorder/plugins/redux.js, mobx.js, vuex.js; docs/frameworks.md).
// A state change becomes one CUSTOM event "<plugin>:action" {a: action type, d: diff, x: dropped}.
// The diff is bounded: at most MAX_CHANGES changed paths, MAX_DEPTH levels deep, strings cut
// to MAX_STR characters, secret-looking keys replaced by "***". The pipeline masks these values
// again like every other custom property (py_core.masking on device, light.js in light mode).
// A store that changes faster than RATE per second is sampled: the changes in between are
// counted (x) on the next event that is kept, never queued.

const MAX_CHANGES = 20;
const MAX_DEPTH = 4;
const MAX_STR = 80;
const MAX_KEYS = 200; // keys compared per object
const RATE = 20; // events per second per store
const SECRET = /pass|secret|token|auth|card|cvv|cvc|iban|ssn|pin$|otp/i;

export function cut(s, n) { s = String(s); return s.length > n ? `${s.slice(0, n)}…` : s; }

/** A short, JSON-safe picture of one value. */
export function summary(v) {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string') return cut(v, MAX_STR);
  if (typeof v === 'undefined') return '(undefined)';
  if (typeof v === 'function') return '(function)';
  if (typeof v !== 'object') return cut(typeof v, 20);
  if (Array.isArray(v)) return `[${v.length}]`;
  return `{${Object.keys(v).length}}`;
}

function keysOf(o) { try { return Object.keys(o).slice(0, MAX_KEYS); } catch (e) { return []; } }
function get(o, k) { try { return o[k]; } catch (e) { return '(unreadable)'; } }

/** Changed paths between two states: [[path, new summary], ...], bounded. */
export function diff(a, b) {
  const out = [];
  const walk = (x, y, path, depth) => {
    if (out.length >= MAX_CHANGES || Object.is(x, y)) return;
    const objs = x && y && typeof x === 'object' && typeof y === 'object' && Array.isArray(x) === Array.isArray(y);
    if (!objs || depth >= MAX_DEPTH) { out.push([path || '.', summary(y)]); return; }
    const seen = new Set();
    for (const k of [...keysOf(x), ...keysOf(y)]) {
      if (seen.has(k)) continue;
      seen.add(k);
      const p = path ? `${path}.${cut(k, 40)}` : cut(k, 40);
      if (SECRET.test(k)) { if (!Object.is(get(x, k), get(y, k))) out.push([p, '***']); }
      else walk(get(x, k), get(y, k), p, depth + 1);
      if (out.length >= MAX_CHANGES) { out.push(['…', 'more']); return; }
    }
  };
  try { walk(a, b, '', 0); } catch (e) { out.push(['.', '(unreadable)']); }
  return out;
}

/** A rate-limited logger: log(type, diff) emits "action" or counts what it drops. */
export function logger(emit) {
  let second = 0;
  let n = 0;
  let dropped = 0;
  return (type, d) => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) { second = now; n = 0; }
    if (++n > RATE) { dropped++; return; }
    const props = { a: cut(type == null ? '(none)' : type, MAX_STR), d };
    if (dropped) { props.x = dropped; dropped = 0; }
    emit('action', props);
  };
}

/** Register a plugin with the shim, or queue it if sightline.js has not loaded yet. */
export function register(plugin) {
  const s = window.Sightline;
  if (s && typeof s.use === 'function') s.use(plugin);
  else (window.Sightline = s || []).push(['use', plugin]);
}
