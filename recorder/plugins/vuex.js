// Sightline plugin: Vuex mutation log and Pinia action log (docs/frameworks.md).
//   <script src=".../plugins/vuex.js"></script>   then:
//   createStore({ ..., plugins: [window.SightlineVuex.plugin] })     (Vuex 4)
//   pinia.use(window.SightlineVuex.pinia)                              (Pinia 2/3)
// Emits "vuex:action" {a: mutation type or "<store id>/<action>", d: changed paths, x: dropped}.
import { diff, logger, register } from '../statelog.js';

let log = null;
const plugin = { name: 'vuex', setup({ emit }) { log = logger(emit); return () => { log = null; }; } };

// Vuex hands subscribers the state after the mutation; a structured copy is the "before".
const snap = (s) => { try { return JSON.parse(JSON.stringify(s)); } catch (e) { return undefined; } };

function vuexPlugin(store) {
  let before = snap(store.state);
  store.subscribe((mutation, state) => {
    try {
      const now = snap(state);
      if (log) log(mutation && mutation.type, diff(before, now));
      before = now;
    } catch (e) { /* never break the app */ }
  });
}

function piniaPlugin({ store }) {
  store.$onAction(({ name, after }) => {
    const before = snap(store.$state);
    after(() => { try { if (log) log(`${store.$id}/${name}`, diff(before, snap(store.$state))); } catch (e) { /* */ } });
  });
}

window.SightlineVuex = { plugin: vuexPlugin, pinia: piniaPlugin };
register(plugin);
