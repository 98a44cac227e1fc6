// Sightline's consent banner helper (site/sightline-banner.js), for sites without a
// consent manager. Load it after sightline.js:
//
//   <script src=".../sightline.js" data-key="..."></script>
//   <script src=".../sightline-banner.js" defer
//           data-text="May we record this visit? Personal data is masked on your device."
//           data-allow="Allow" data-deny="No thanks" data-id="sl-consent"></script>
//
// It shows a bar only while the visitor has not decided and the browser sends no Global
// Privacy Control / Do Not Track signal; the buttons call Sightline.consent(true|false).
// Element ids: <id>, <id>-yes, <id>-no (data-id, default "sl-consent"), so a site can
// style it (#sl-consent) or test it. It writes nothing itself; Sightline.consent does.
// Sites with a consent manager do not need it: docs/privacy.md shows the wiring.

const me = document.currentScript;
const opt = (me && me.dataset) || {};

function show() {
  const S = window.Sightline;
  if (!S || !S.privacy || S.privacy.consent != null || S.privacy.signal) return;
  const id = opt.id || 'sl-consent';
  if (document.getElementById(id)) return;
  const bar = document.createElement('div');
  bar.id = id;
  bar.setAttribute('role', 'dialog');
  bar.setAttribute('aria-label', 'Session recording consent');
  if (!opt.id) {
    bar.style.cssText = 'position:fixed;left:1rem;right:1rem;bottom:1rem;z-index:2147483646;display:flex;gap:1rem;'
      + 'align-items:center;background:#fff;color:#222;padding:1rem;border-radius:10px;box-shadow:0 4px 16px #0003;'
      + 'font:14px/1.4 system-ui,sans-serif';
  }
  const p = document.createElement('p');
  p.style.margin = '0 auto 0 0';
  p.textContent = opt.text || 'May we record this visit to improve the site? Personal data is masked on your device, and nothing is recorded unless you allow it.';
  const button = (suffix, label, yes) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.id = `${id}-${suffix}`;
    b.textContent = label;
    b.onclick = () => {
      bar.remove();
      S.consent(yes);
    };
    return b;
  };
  const no = button('no', opt.deny || 'No thanks', false);
  no.className = 'secondary';
  bar.append(p, button('yes', opt.allow || 'Allow', true), no);
  document.body.append(bar);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', show, { once: true });
else show();
