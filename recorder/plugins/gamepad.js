// Sightline plugin: gamepad input. Load after sightline.js:
//   <script src=".../plugins/gamepad.js"></script>
// Emits CUSTOM events named "gamepad:<what>" (docs/events.md):
//   gamepad:connect {g: pad index, id, b: button count, a: axis count}
//   gamepad:disconnect {g}
//   gamepad:button {g, b: button index, v: 1 pressed | 0 released}
//   gamepad:axes {g, a: [axis values rounded to 0.01]} at most every 100 ms, on changes > 0.05
// Polls navigator.getGamepads() once per animation frame, and only while a pad is connected.

const AXES_MS = 100; // at most one axes event per pad per 100 ms
const DEAD = 0.05; // axis changes smaller than this are noise

export const gamepad = {
  name: 'gamepad',
  setup({ emit, window: win }) {
    const nav = win.navigator;
    if (!nav.getGamepads) return undefined;
    const seen = new Map(); // pad index -> {b: pressed flags, a: last axes sent, at: when}
    let raf = 0;
    const pads = () => Array.from(nav.getGamepads() || []).filter(Boolean);
    function poll() {
      raf = 0;
      const now = performance.now();
      const live = pads();
      for (const p of live) {
        let s = seen.get(p.index);
        if (!s) {
          s = { b: p.buttons.map(() => false), a: p.axes.map(() => 0), at: 0 };
          seen.set(p.index, s);
          emit('connect', { g: p.index, id: String(p.id), b: p.buttons.length, a: p.axes.length });
        }
        p.buttons.forEach((btn, i) => {
          if (!!btn.pressed !== s.b[i]) {
            s.b[i] = !!btn.pressed;
            emit('button', { g: p.index, b: i, v: btn.pressed ? 1 : 0 });
          }
        });
        const a = p.axes.map((x) => Math.round(x * 100) / 100);
        if (now - s.at >= AXES_MS && a.some((x, i) => Math.abs(x - (s.a[i] || 0)) > DEAD)) {
          s.a = a;
          s.at = now;
          emit('axes', { g: p.index, a });
        }
      }
      for (const g of [...seen.keys()]) {
        if (!live.some((p) => p.index === g)) {
          seen.delete(g);
          emit('disconnect', { g });
        }
      }
      if (live.length) raf = win.requestAnimationFrame(poll);
    }
    const wake = () => { if (!raf) raf = win.requestAnimationFrame(poll); };
    win.addEventListener('gamepadconnected', wake);
    win.addEventListener('gamepaddisconnected', wake);
    if (pads().length) wake();
    return () => {
      win.cancelAnimationFrame(raf);
      win.removeEventListener('gamepadconnected', wake);
      win.removeEventListener('gamepaddisconnected', wake);
    };
  },
};

register(gamepad);

/** Hand the plugin to Sightline, or queue it if sightline.js has not run yet. */
function register(plugin) {
  const s = window.Sightline;
  if (s && typeof s.use === 'function') s.use(plugin);
  else (window.Sightline = s || []).push(['use', plugin]);
}
