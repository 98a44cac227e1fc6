// Consent and transparency for the recorder shim (bundled into sightline.js).
//
// Nothing here writes anything before the visitor decides: reading is all that happens
// at load. The only storage Sightline keeps about a decision is `sl-consent` in
// localStorage ('1' given, '0' refused), which is what lets the next page honour it.
// Global Privacy Control and Do Not Track are a refusal that no call can override.
// docs/privacy.md, docs/adr/0200-consent-before-anything.md.

const KEY = 'sl-consent';

/** The browser's own refusal signal, if any: 'gpc' (Global Privacy Control) or 'dnt'. */
export function signal() {
  const n = navigator;
  if (n.globalPrivacyControl === true) return 'gpc';
  return [n.doNotTrack, window.doNotTrack, n.msDoNotTrack].some((v) => v === '1' || v === 'yes') ? 'dnt' : null;
}

/** The decision remembered for this site: '1', '0' or null (never asked). */
export function remembered() {
  try { return localStorage.getItem(KEY); } catch (e) { return null; }
}

/** Remember a decision ('1' or '0'); null forgets it. */
export function remember(v) {
  try { v == null ? localStorage.removeItem(KEY) : localStorage.setItem(KEY, v); } catch (e) { /* blocked */ }
}

/** Remove every value Sightline keeps in this tab's and this site's web storage. */
export function forget(keys) {
  for (const s of [sessionStorage, localStorage]) {
    try { for (const k of keys) s.removeItem(k); } catch (e) { /* blocked */ }
  }
}

/**
 * The optional indicator (data-indicator on the script tag): a small fixed badge,
 * "This visit is recorded · Stop", in a shadow root so the site's CSS cannot hide
 * it, and data-sl-block so it is never part of the recording. Returns its remover.
 */
export function indicator(label, onStop) {
  const host = document.createElement('div');
  host.setAttribute('data-sl-block', '');
  host.setAttribute('data-sl-indicator', '');
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = '<style>div{position:fixed;z-index:2147483647;bottom:12px;left:12px;font:12px/1.4 system-ui,sans-serif;'
    + 'background:#222;color:#fff;padding:6px 10px;border-radius:14px;opacity:.9}button{font:inherit;color:#fff;'
    + 'background:none;border:1px solid #fff;border-radius:10px;margin-left:8px;cursor:pointer}</style>'
    + '<div role="status"><span></span><button type="button">Stop</button></div>';
  root.querySelector('span').textContent = label || 'This visit is recorded';
  root.querySelector('button').onclick = onStop;
  const add = () => document.body.appendChild(host);
  document.body ? add() : document.addEventListener('DOMContentLoaded', add, { once: true });
  return () => host.remove();
}

/**
 * Delete the site's IndexedDB queue (recorder/queue.js's DB_NAME) with everything in it,
 * the at-rest key included. Resolves once it is gone; while another tab of the site still
 * has it open, that is when the other tab lets go.
 */
export function dropDatabase() {
  // The worker's runtime cache and memory snapshot (docs/processing.md) go too.
  try {
    caches.keys().then((k) => k.forEach((n) => n.startsWith('sightline-') && caches.delete(n)), () => {});
  } catch (e) { /* no Cache Storage */ }
  return new Promise((resolve) => {
    try {
      const req = indexedDB.deleteDatabase('sightline');
      req.onsuccess = req.onerror = () => resolve();
    } catch (e) { resolve(); }
  });
}

/** The hybrid mode's first-party visitor id (localStorage, only ever after consent). */
export function visitor(make) {
  try {
    let v = localStorage.getItem('sl-vid');
    if (!v) localStorage.setItem('sl-vid', (v = make()));
    return v;
  } catch (e) { return null; }
}
