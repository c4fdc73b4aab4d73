// Builds the npm package into dist/: the worker crate with wasm-pack (into
// build/, an intermediate; its .d.ts carries the page ↔ worker contract that
// tsify generates from the facade crate), the worker script, the inline module
// the bundle imports (that script and the WASM), then tsup.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateAsync } from '@gfx/zopfli';
import { transform } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build');
const dist = join(root, 'dist');
// wasm-opt comes from the npm package binaryen: Debian's is too old (see TOOLCHAIN).
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` };

function run(command, args) {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { cwd: root, env, stdio: 'inherit' });
}

function wasmPack(crate, outName, cargoArgs = []) {
  run('wasm-pack', [
    'build',
    crate,
    '--target',
    'web',
    '--profile',
    'wasm-release',
    '--no-pack',
    '--mode',
    'no-install',
    '--out-dir',
    join(build, crate),
    '--out-name',
    outName,
    ...(cargoArgs.length ? ['--', ...cargoArgs] : []),
  ]);
}

/** Removes the glue's default `new URL('x_bg.wasm', import.meta.url)`: bundlers
 * would try to resolve that file, and the worker always passes the module. */
function withoutDefaultWasmUrl(glue, wasmName) {
  const defaultUrl = `new URL('${wasmName}', import.meta.url)`;
  if (!glue.includes(defaultUrl)) throw new Error(`wasm-bindgen glue changed: ${defaultUrl} not found`);
  return glue.replace(defaultUrl, `undefined; throw new Error('${wasmName} must be passed in')`);
}

// `--test-switches` builds the package the end-to-end tests need: the worker
// and the bundle with the test switches (the "zombie" leader). A release
// build has none of them.
const testSwitches = process.argv.includes('--test-switches');
env.BWS_TEST_SWITCHES = testSwitches ? '1' : '0';
wasmPack('worker', 'bws_worker', ['--features', testSwitches ? 'entry,test-switches' : 'entry']);

// The handshake's constants, from the Rust contract and the package, so that page and worker cannot differ.
const protocol = readFileSync(join(root, 'facade/src/lib.rs'), 'utf8').match(
  /^pub const PROTOCOL_VERSION: u32 = (\d+);$/m,
);
if (!protocol) throw new Error('PROTOCOL_VERSION not found in facade/src/lib.rs');
const release = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const hello = { broadcastWebsocketWorker: { protocol: Number(protocol[1]), release } };

// The worker script: wasm-bindgen's glue and a loader. The loader announces the protocol at once,
// then waits for the page's first message, which carries the WASM (deflated, base64: the page's
// bundle holds it anyway), inflates it with the browser's DecompressionStream and compiles it
// asynchronously as it streams in. The WASM's start function registers the gloo-worker. Without
// the WASM inside, the script is a small blob for the page to create and for the worker to parse.
const glue = withoutDefaultWasmUrl(readFileSync(join(build, 'worker', 'bws_worker.js'), 'utf8'), 'bws_worker_bg.wasm');
if (!/^async function __wbg_init\(/m.test(glue)) throw new Error('wasm-bindgen glue changed: __wbg_init not found');
const wasm = readFileSync(join(build, 'worker', 'bws_worker_bg.wasm'));
// Zopfli's deflate: 6 % smaller than zlib's best for 3 s of build, and any inflater reads it.
const wasmBase64 = Buffer.from(await deflateAsync(wasm, { numiterations: 15 })).toString('base64');
const { code: workerScript } = await transform(
  `${glue}
postMessage(${JSON.stringify(hello)});
const bwsBase64 = await new Promise((resolve, reject) =>
  addEventListener(
    'message',
    ({ data }) =>
      typeof data?.broadcastWebsocketWasm === 'string'
        ? resolve(data.broadcastWebsocketWasm)
        : reject(new Error("broadcast-websocket's worker: the page's first message must carry the WASM (is the page of another release?)")),
    { once: true },
  ),
);
// The engine's own decoder where it has one: in a cold worker the fallback loop takes ~10 ms longer.
const bwsDeflated = Uint8Array.fromBase64?.(bwsBase64) ?? bwsDecode(atob(bwsBase64));
function bwsDecode(binary) {
  // A plain loop: Uint8Array.from with a callback is several times slower in a cold worker.
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
const bwsWasm = new Blob([bwsDeflated]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
await __wbg_init({ module_or_path: new Response(bwsWasm, { headers: { 'content-type': 'application/wasm' } }) });
`,
  { format: 'esm', minify: true, target: 'es2022' },
);
writeFileSync(join(build, 'worker-script.js'), workerScript);

writeFileSync(
  join(build, 'protocol.ts'),
  `// Generated by scripts/build.mjs: the page ⇄ worker protocol this page speaks (facade's PROTOCOL_VERSION).
export const PROTOCOL = ${protocol[1]};
export const RELEASE = ${JSON.stringify(release)};
`,
);
writeFileSync(
  join(build, 'inline.ts'),
  `// Generated by scripts/build.mjs: the worker script, and the WASM the page sends it (deflated, base64).
export const workerScript = ${JSON.stringify(workerScript)};
export const wasmBase64 = ${JSON.stringify(wasmBase64)};
`,
);

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
run('tsup', []);
writeFileSync(join(dist, 'worker.js'), workerScript);
console.log('built dist/');
