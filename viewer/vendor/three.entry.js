// Bundled by build.py (esbuild) into site/vendor/three/three.js: three.js and its OrbitControls from npm.
export * from 'three';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
