// Sightline plugin: Core Web Vitals, measured by the browser's own PerformanceObserver.
//   <script src=".../plugins/vitals.js"></script>
// Emits CUSTOM events named "vitals:<metric>" (docs/events.md):
//   vitals:lcp {v: ms, el: tag name}      largest contentful paint, final value at hide
//   vitals:cls {v: score}                 cumulative layout shift (session windows), at hide
//   vitals:inp {v: ms, n: event type}     slowest interaction so far, when it grows
//   vitals:longtask {v: ms}               each main-thread task of 50 ms or more
// Values are reported when the page is hidden (the moment they are final) and only once.

export const vitals = {
  name: 'vitals',
  setup({ emit, window: win }) {
    const PO = win.PerformanceObserver;
    if (!PO) return undefined;
    const obs = [];
    const watch = (type, fn, opts) => {
      try {
        const o = new PO((list) => list.getEntries().forEach(fn));
        o.observe({ type, buffered: true, ...opts });
        obs.push(o);
      } catch (e) { /* entry type not supported here */ }
    };
    let lcp = null;
    let cls = 0;
    let win5 = 0; // current session window's shift sum
    let first = 0;
    let prev = 0;
    let inp = 0;
    watch('largest-contentful-paint', (e) => { lcp = { v: Math.round(e.startTime), el: e.element ? e.element.localName : '' }; });
    watch('layout-shift', (e) => {
      if (e.hadRecentInput) return;
      // Session windows: shifts less than 1 s apart, a window at most 5 s long.
      if (e.startTime - prev < 1000 && e.startTime - first < 5000) win5 += e.value;
      else { win5 = e.value; first = e.startTime; }
      prev = e.startTime;
      cls = Math.max(cls, win5);
    });
    watch('event', (e) => {
      if (!e.interactionId || e.duration <= inp) return;
      inp = e.duration;
      emit('inp', { v: Math.round(inp), n: e.name });
    }, { durationThreshold: 40 });
    watch('longtask', (e) => emit('longtask', { v: Math.round(e.duration) }));
    let done = false;
    const report = () => {
      if (done || win.document.visibilityState !== 'hidden') return;
      done = true;
      if (lcp) emit('lcp', lcp);
      emit('cls', { v: Math.round(cls * 1000) / 1000 });
    };
    win.addEventListener('visibilitychange', report, true);
    win.addEventListener('pagehide', report, true);
    return () => {
      obs.forEach((o) => o.disconnect());
      win.removeEventListener('visibilitychange', report, true);
      win.removeEventListener('pagehide', report, true);
    };
  },
};

register(vitals);

function register(plugin) {
  const s = window.Sightline;
  if (s && typeof s.use === 'function') s.use(plugin);
  else (window.Sightline = s || []).push(['use', plugin]);
}
