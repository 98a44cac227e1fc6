// Sightline plugin: framework awareness (docs/frameworks.md).
//   <script src=".../plugins/frameworks.js"></script>
// Gives the shim componentOf(el): clicks, inputs and errors carry "cp", the component's name.
import { componentOf } from '../frameworks.js';
import { register } from '../statelog.js';

register({ name: 'frameworks', component: componentOf, setup() { return undefined; } });
