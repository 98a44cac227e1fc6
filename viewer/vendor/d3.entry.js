// Bundled by build.py (esbuild) into site/vendor/d3/d3.js: d3 from npm, served by the site itself.
export * from 'd3';
