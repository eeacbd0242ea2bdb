// Build static/widget.js: one minified IIFE, ES2019, no runtime dependency.
// `node build.mjs` writes the file; tests import `bundle()` to build in memory.
//
// esbuild does not minify CSS held in a JS string, so the template literal in
// src/styles.js goes through esbuild's CSS minifier on the way.
import { build, transform } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const OUTFILE = here('../static/widget.js');

const minifyCss = {
  name: 'minify-css',
  setup(b) {
    b.onLoad({ filter: /[\\/]styles\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const css = src.slice(src.indexOf('`') + 1, src.lastIndexOf('`'));
      // Browsers we support: anything with Shadow DOM v1 and CSS custom properties.
      const out = await transform(css, { loader: 'css', minify: true, target: ['chrome80', 'safari13', 'firefox78'] });
      return { contents: 'export default ' + JSON.stringify(out.code.trim()) + ';', loader: 'js' };
    });
  },
};

const options = {
  entryPoints: [here('./src/index.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2019',
  legalComments: 'none',
  charset: 'utf8',
  plugins: [minifyCss],
};

/** The built widget as a string (nothing written). */
export async function bundle() {
  const r = await build({ ...options, write: false, outfile: OUTFILE });
  return r.outputFiles[0].text;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await build({ ...options, outfile: OUTFILE, logLevel: 'info' });
}
