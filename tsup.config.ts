// Bundles ts/ and the worker script (inlined by scripts/build.mjs) into dist/:
// ESM and CJS entries with their .d.ts / .d.cts types.
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'ts/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: false,
  target: 'es2022',
  platform: 'browser',
  treeshake: true,
  sourcemap: false,
});
