// Bundles ts/ and the worker script (inlined by scripts/build.mjs) into dist/:
// ESM and CJS entries with their .d.ts / .d.cts types.
import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

declare const process: { env: Record<string, string | undefined> };

/** The page ↔ worker protocol version, read from the Rust contract so the two cannot differ. */
function protocolVersion(): number {
  const source = readFileSync('facade/src/lib.rs', 'utf8');
  const found = source.match(/^pub const PROTOCOL_VERSION: u32 = (\d+);$/m);
  if (!found) throw new Error('PROTOCOL_VERSION not found in facade/src/lib.rs');
  return Number(found[1]);
}

const release: string = JSON.parse(readFileSync('package.json', 'utf8')).version;

export default defineConfig({
  entry: { index: 'ts/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: false,
  target: 'es2022',
  platform: 'browser',
  treeshake: true,
  sourcemap: false,
  define: {
    __BWS_PROTOCOL__: String(protocolVersion()),
    __BWS_RELEASE__: JSON.stringify(release),
    // Test builds only (scripts/build.mjs --test-switches): the release
    // bundle drops the test switches as dead code.
    __BWS_TEST_SWITCHES__: String(process.env.BWS_TEST_SWITCHES === '1'),
  },
});
