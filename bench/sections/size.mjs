// Size: raw and gzip bytes of every file this package ships (dist/), next to partysocket and
// broadcast-channel measured the same way (every file of their published dist/), what one ESM
// import costs a user's bundle (esbuild, minified) for all three (and what the channels, react and
// sync subpaths add to the root import), and the root import split by part:
// the page's JS, the worker's JS (wasm-bindgen's glue and our loader) and its WASM (as inlined:
// deflated, base64).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { REPO_ROOT } from '../../tests/harness.mjs';
import { fmt, ratio, table } from '../lib.mjs';

const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;

function filesUnder(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
}

function measureDir(dir) {
  const files = filesUnder(dir).map((path) => {
    const bytes = readFileSync(path);
    return { file: relative(REPO_ROOT, path), raw: bytes.length, gzip: gzip(bytes) };
  });
  const total = files.reduce((sum, f) => ({ raw: sum.raw + f.raw, gzip: sum.gzip + f.gzip }), { raw: 0, gzip: 0 });
  return { files, total };
}

/** What `import { names } from specifier` adds to a minified ESM browser bundle (`plugins`, e.g.
 * to leave a part out; `external`, packages counted elsewhere). */
async function importCost(specifier, names, plugins = [], external = []) {
  const out = await build({
    plugins,
    external,
    stdin: { contents: `export { ${names} } from '${specifier}';`, resolveDir: REPO_ROOT },
    bundle: true,
    format: 'esm',
    minify: true,
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const bytes = out.outputFiles[0].contents;
  return { import: `{ ${names} } from '${specifier}'`, raw: bytes.length, gzip: gzip(bytes) };
}

/** Bundles the root import with the inlined worker script and WASM left out: the page's own JS. */
const withoutWorker = {
  name: 'without-worker',
  setup(b) {
    b.onLoad({ filter: /dist\/index\.js$/ }, () => {
      let contents = readFileSync(join(REPO_ROOT, 'dist/index.js'), 'utf8');
      for (const name of ['workerScript', 'wasmBase64']) {
        const emptied = contents.replace(new RegExp(`^var ${name} = (['"]).*\\1;$`, 'm'), `var ${name} = "";`);
        if (emptied === contents) throw new Error(`dist/index.js: the inlined ${name} was not found`);
        contents = emptied;
      }
      return { contents, loader: 'js' };
    });
  },
};

/** The root import split by part: the page's JS, the worker's JS (glue and loader), its WASM as inlined. */
async function importParts() {
  const page = await importCost('./dist/index.js', 'BroadcastWebsocket', [withoutWorker]);
  const inlined = readFileSync(join(REPO_ROOT, 'build/inline.ts'), 'utf8').match(
    /^export const wasmBase64 = "([A-Za-z0-9+/=]+)";$/m,
  )?.[1];
  if (!inlined) throw new Error('build/inline.ts: the inlined WASM was not found');
  const measure = (part, bytes) => ({ part, raw: bytes.length, gzip: gzip(bytes) });
  return [
    { ...measure('page JS', Buffer.from('')), raw: page.raw, gzip: page.gzip },
    measure('worker JS (glue and loader, minified)', readFileSync(join(REPO_ROOT, 'dist/worker.js'))),
    measure('worker WASM, inlined (deflated, base64)', Buffer.from(inlined)),
    measure(
      'worker WASM as a separate .wasm file, for comparison',
      readFileSync(join(REPO_ROOT, 'build/worker/bws_worker_bg.wasm')),
    ),
  ];
}

export async function run() {
  const ours = measureDir(join(REPO_ROOT, 'dist'));
  const alternatives = {
    partysocket: measureDir(join(REPO_ROOT, 'node_modules/partysocket/dist')),
    'broadcast-channel': measureDir(join(REPO_ROOT, 'node_modules/broadcast-channel/dist')),
  };
  const imports = {
    'broadcast-websocket': await importCost('./dist/index.js', 'BroadcastWebsocket'),
    // What the subpath adds to an app that imports the root too.
    'broadcast-websocket/channels': await importCost(
      './dist/channels.js',
      'createChannelsClient',
      [],
      ['broadcast-websocket'],
    ),
    // What the React hooks add to an app that imports React, the root and the channels client too.
    'broadcast-websocket/react': await importCost(
      './dist/react.js',
      'BroadcastProvider, useBroadcastSocket, useSubscription, useBroadcast, useBroadcastWebsocket',
      [],
      ['broadcast-websocket', 'broadcast-websocket/channels', 'react'],
    ),
    // What state sync adds to an app that imports the root too.
    'broadcast-websocket/sync': await importCost('./dist/sync.js', 'createBroadcastSync', [], ['broadcast-websocket']),
    partysocket: await importCost('partysocket', 'WebSocket'),
    'broadcast-channel': await importCost('broadcast-channel', 'BroadcastChannel, createLeaderElection'),
  };
  const ourImport = imports['broadcast-websocket'];
  const parts = await importParts();
  const results = { files: ours.files, total: ours.total, alternatives, imports, parts };

  const markdown = [
    '### Size',
    '',
    table(
      ['file', 'raw', 'gzip', 'ours ÷ this, gzip'],
      [
        ...ours.files.map((f) => [f.file, fmt.kib(f.raw), fmt.kib(f.gzip), '']),
        ['**total shipped (dist/)**', fmt.kib(ours.total.raw), fmt.kib(ours.total.gzip), ''],
        ...Object.entries(alternatives).map(([name, m]) => [
          `${name}: every file of its dist/ (${m.files.length})`,
          fmt.kib(m.total.raw),
          fmt.kib(m.total.gzip),
          fmt.ratio(ratio(ours.total.gzip, m.total.gzip)),
        ]),
      ],
    ),
    '',
    table(
      ['one ESM import, bundled and minified', 'raw', 'gzip', 'ours ÷ this, gzip'],
      Object.entries(imports).map(([name, m]) => [
        `\`import ${m.import}\``,
        fmt.kib(m.raw),
        fmt.kib(m.gzip),
        name.startsWith('broadcast-websocket') ? '' : fmt.ratio(ratio(ourImport.gzip, m.gzip)),
      ]),
    ),
    '',
    table(
      ['the root import, by part', 'raw', 'gzip'],
      parts.map((p) => [p.part, fmt.kib(p.raw), fmt.kib(p.gzip)]),
    ),
  ];
  return { results, markdown };
}
