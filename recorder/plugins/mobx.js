// Sightline plugin: MobX action log through mobx's spy (docs/frameworks.md).
//   <script src=".../plugins/mobx.js"></script>   then: window.SightlineMobx.watch(mobx)
// (spy reports in development builds; mobx passes itself in, so no second copy is bundled).
// Emits "mobx:action" {a: action name, d: [[object.property, new value], ...], x: dropped}.
import { logger, register, summary, cut } from '../statelog.js';

let log = null;
let mobxLib = null;
let off = null;
let stack = []; // open spy reports (their types), innermost last
let current = null; // the outermost action being run: [name, changes]

function listen() {
  if (!log || !mobxLib || off) return;
  off = mobxLib.spy((e) => {
    try {
      if (e.type === 'update' && current && current[1].length < 20) {
        current[1].push([cut(`${e.debugObjectName || 'obs'}${e.name != null ? `.${e.name}` : ''}`, 80), summary(e.newValue)]);
      }
      if (e.spyReportStart) {
        if (e.type === 'action' && !stack.includes('action')) current = [e.name, []];
        if (stack.length < 100) stack.push(e.type);
      } else if (e.spyReportEnd) {
        if (stack.pop() === 'action' && !stack.includes('action') && current) {
          if (log) log(current[0], current[1]);
          current = null;
        }
      }
    } catch (err) { /* never break the app */ }
  });
}

const plugin = {
  name: 'mobx',
  setup({ emit }) {
    log = logger(emit);
    listen();
    return () => { if (off) off(); off = null; log = null; stack = []; current = null; };
  },
};

window.SightlineMobx = { watch(mobx) { mobxLib = mobx; listen(); } };
register(plugin);
