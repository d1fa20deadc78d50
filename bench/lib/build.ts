/**
 * The benchmark's child processes run as plain Node on JavaScript bundled here (esbuild; dependencies stay in
 * node_modules), as a deployment would run them: no TypeScript loader thread inflating memory and CPU.
 */
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Source files find files next to them (package.json, migrations/) through import.meta.url: keep their own URL. */
const keepModuleUrls: Plugin = {
  name: 'keep-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

export const BUILD_DIR = fileURLToPath(new URL('../.build/', import.meta.url));

export async function buildChildren(entries: string[]): Promise<void> {
  await build({
    entryPoints: entries.map((e) => fileURLToPath(new URL(`../${e}`, import.meta.url))),
    outdir: BUILD_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [keepModuleUrls],
  });
}
