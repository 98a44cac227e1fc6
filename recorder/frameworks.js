// Framework awareness: the name of the component a DOM element belongs to (docs/frameworks.md).
//   componentOf(el) -> string | null
// Read, in order, from the framework's own structures where the page's build keeps them:
//   React 17-19  el.__reactFiber$<key> -> .return chain -> type.displayName || type.name
//                (production too, when the build sets displayName: recorder/esbuild-names.mjs)
//   Vue 3        el.__vueParentComponent (dev builds, or __VUE_PROD_DEVTOOLS__) -> type.name || __name
//   Svelte 5     el.__svelte_meta.loc.file (dev builds) -> file base name without ".svelte"
//   Angular      window.ng.getComponent(el) (dev mode) walking up -> constructor.name
// and otherwise from the nearest data-sl-component="Name" attribute (a build step or the
// site adds it). Bounded: at most MAX_UP elements up and MAX_FIBERS fibers; never throws;
// names that look minified (one or two characters) or not like names at all are unknown (null).

const MAX_UP = 40; // elements walked up from the event target
const MAX_FIBERS = 60; // fibers walked up the React return chain
const MAX_LEN = 64; // characters of a name kept
const NAME = /^[A-Za-z_$][\w$.:-]*$/;

/** A readable component name or null (minified, empty, not a string, too odd). */
export function clean(name) {
  if (typeof name !== 'string') return null;
  name = name.slice(0, MAX_LEN);
  // Masking: component names are code identifiers; anything else (spaces, digits-only,
  // e-mail-like text) is not a name and is not sent.
  if (name.length < 3 || !NAME.test(name)) return null;
  return name;
}

function reactName(el) {
  let key = null;
  for (const k in el) { // own enumerable expando, added by react-dom
    if (k.startsWith('__reactFiber$') || k.startsWith('__reactInternalInstance$')) { key = k; break; }
  }
  if (!key) return undefined;
  let f = el[key];
  for (let i = 0; f && i < MAX_FIBERS; i++, f = f.return) {
    let t = f.type;
    if (!t || typeof t === 'string') continue; // host element, fragment
    if (typeof t === 'object') t = t.type || t.render || t; // memo(), forwardRef()
    if (typeof t !== 'function' && typeof t !== 'object') continue;
    const n = clean(f.type.displayName) || clean(t.displayName) || clean(t.name);
    if (n) return n;
    if (typeof t === 'function' && t.name) return null; // a component whose name is minified
    // (an anonymous one: its parent's name)
  }
  return null;
}

function vueName(el) {
  let c = el.__vueParentComponent;
  if (!c) return undefined;
  for (let i = 0; c && i < MAX_FIBERS; i++, c = c.parent) {
    const t = c.type || {};
    const n = clean(t.name) || clean(t.__name);
    if (n) return n;
  }
  return null;
}

function svelteName(el) {
  const m = el.__svelte_meta;
  if (!m || !m.loc) return undefined;
  const f = String(m.loc.file || '');
  return clean(f.slice(f.lastIndexOf('/') + 1).replace(/\.svelte$/, ''));
}

function angularName(el, ng) {
  const c = ng.getComponent(el);
  return c ? clean(c.constructor && c.constructor.name) : undefined;
}

/** The component `el` (an event target: element or text node) happened in, or null. */
export function componentOf(el) {
  try {
    if (el && el.nodeType !== 1) el = el.parentElement;
    const win = el && el.ownerDocument && el.ownerDocument.defaultView;
    const ng = win && win.ng && typeof win.ng.getComponent === 'function' ? win.ng : null;
    for (let i = 0; el && i < MAX_UP; i++, el = el.parentElement) {
      const a = el.getAttribute('data-sl-component');
      if (a != null) return clean(a);
      let n = reactName(el);
      if (n === undefined) n = vueName(el);
      if (n === undefined) n = svelteName(el);
      if (n === undefined && ng) n = angularName(el, ng);
      if (n !== undefined) return n;
    }
  } catch (e) { /* a hostile page (throwing getters, proxies): unknown */ }
  return null;
}
