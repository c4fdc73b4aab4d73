// Bundles ts/ and the worker script (inlined by scripts/build.mjs) into dist/:
// ESM and CJS entries with their .d.ts / .d.cts types.
import { defineConfig } from 'tsup';

declare const process: { env: Record<string, string | undefined> };

export default defineConfig({
  // The subpaths import the package (and React) by name, so that each bundle holds only its own code.
  entry: { index: 'ts/index.ts', channels: 'ts/channels.ts', react: 'ts/react.ts', sync: 'ts/sync.ts' },
  external: ['broadcast-websocket', 'broadcast-websocket/channels', 'broadcast-websocket/sync', 'react'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: false,
  target: 'es2022',
  platform: 'browser',
  treeshake: true,
  sourcemap: false,
  define: {
    // Test builds only (scripts/build.mjs --test-switches): the release
    // bundle drops the test switches as dead code.
    __BWS_TEST_SWITCHES__: String(process.env.BWS_TEST_SWITCHES === '1'),
  },
});
