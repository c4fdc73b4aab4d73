// Size: raw and gzip bytes of every file this package ships (dist/), next to partysocket and
// broadcast-channel measured the same way (every file of their published dist/), and what one
// ESM import costs a user's bundle (esbuild, minified) for all three.
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

/** What `import { names } from specifier` adds to a minified ESM browser bundle. */
async function importCost(specifier, names) {
  const out = await build({
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

export async function run() {
  const ours = measureDir(join(REPO_ROOT, 'dist'));
  const alternatives = {
    partysocket: measureDir(join(REPO_ROOT, 'node_modules/partysocket/dist')),
    'broadcast-channel': measureDir(join(REPO_ROOT, 'node_modules/broadcast-channel/dist')),
  };
  const imports = {
    'broadcast-websocket': await importCost('./dist/index.js', 'BroadcastWebsocket'),
    partysocket: await importCost('partysocket', 'WebSocket'),
    'broadcast-channel': await importCost('broadcast-channel', 'BroadcastChannel, createLeaderElection'),
  };
  const results = { files: ours.files, total: ours.total, alternatives, imports };
  const ourImport = imports['broadcast-websocket'];

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
        name === 'broadcast-websocket' ? '' : fmt.ratio(ratio(ourImport.gzip, m.gzip)),
      ]),
    ),
  ];
  return { results, markdown };
}
