// esbuild plugin: keep React component names in production builds (docs/frameworks.md).
//   import { sightlineNames } from '.../recorder/esbuild-names.mjs';
//   esbuild.build({ ..., minify: true, plugins: [sightlineNames()] })
// For every .jsx/.tsx file outside node_modules, each top-level component declaration
//   function Name(...)   |   const Name = (...) => / function
// (Name starting with a capital; memo()/forwardRef() wrappers are left alone: React
// reads the wrapped function, which is declared and annotated itself) gets `Name.displayName = "Name"` appended, unless the
// source sets one. Minifying renames the function, not the string, so Sightline's
// componentOf reads "Name" from the fiber in production as it does in development.
import { readFile } from 'node:fs/promises';

const DECL = /^(?:export\s+(?:default\s+)?)?(?:async\s+)?function\s+([A-Z][\w$]*)\s*\(|^(?:export\s+)?(?:const|let|var)\s+([A-Z][\w$]*)\s*=\s*(?:\(|[\w$]+\s*=>|function\b)/gm;

export function annotate(source) {
  const names = new Set();
  for (const m of source.matchAll(DECL)) names.add(m[1] || m[2]);
  const lines = [...names]
    .filter((n) => !new RegExp(`\\b${n}\\.displayName\\s*=`).test(source))
    .map((n) => `try { if (!${n}.displayName) ${n}.displayName = ${JSON.stringify(n)}; } catch (e) {}`);
  return lines.length ? `${source}\n;${lines.join('\n')}\n` : source;
}

export function sightlineNames() {
  return {
    name: 'sightline-names',
    setup(build) {
      build.onLoad({ filter: /\.[jt]sx$/ }, async (args) => {
        if (args.path.includes('node_modules')) return undefined;
        const source = await readFile(args.path, 'utf8');
        return { contents: annotate(source), loader: args.path.endsWith('x') && args.path.endsWith('.tsx') ? 'tsx' : 'jsx' };
      });
    },
  };
}
