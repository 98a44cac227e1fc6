// Sightline plugin: Redux (and Redux Toolkit) action log (docs/frameworks.md).
//   <script src=".../plugins/redux.js"></script>   then, in the app:
//   createStore(reducer, applyMiddleware(window.SightlineRedux.middleware))
//   configureStore({ reducer, middleware: (g) => g().concat(window.SightlineRedux.middleware) })
// Emits "redux:action" {a: action type, d: [[path, value], ...] changed state, x: dropped}.
import { diff, logger, register } from '../statelog.js';

let log = null; // set while Sightline records
const plugin = { name: 'redux', setup({ emit }) { log = logger(emit); return () => { log = null; }; } };

const middleware = (api) => (next) => (action) => {
  if (!log) return next(action);
  let before;
  try { before = api.getState(); } catch (e) { before = undefined; }
  const result = next(action);
  try { log(action && action.type, diff(before, api.getState())); } catch (e) { /* never break the app */ }
  return result;
};

window.SightlineRedux = { middleware };
register(plugin);
