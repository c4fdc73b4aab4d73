// What the packaging tests share: the repo packed with `npm pack`, and throwaway fixture folders with
// that tarball installed, as an app installs the package.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../harness.mjs';

const run = promisify(execFile);
// The package to pack: the repo. BWS_PACKAGE_DIR can point at a stand-in package, only to check
// the tests' own mechanics before the real bundle exists.
const PACKAGE_DIR = process.env.BWS_PACKAGE_DIR || REPO_ROOT;

/** Packs the package into a new temp folder: { tmp, packed (npm pack --json entry: { filename,
 * files: [{ path }] }), tarball }. The caller removes `tmp`. */
export async function packPackage() {
  if (!existsSync(path.join(PACKAGE_DIR, 'dist/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before the packaging tests');
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bws-packaging-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tmp], {
    cwd: PACKAGE_DIR,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout);
  return { tmp, packed, tarball: path.join(tmp, packed.filename) };
}

/** A fixture folder `name` under `tmp` with `tarball` installed in it. */
export async function makeFixture(tmp, tarball, name) {
  const dir = path.join(tmp, name);
  await mkdir(dir);
  await writeFile(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `fixture-${name}`, version: '0.0.0', private: true }),
  );
  const flags = ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts'];
  try {
    await run('npm', [...flags, '--offline', tarball], { cwd: dir });
  } catch {
    // A local tarball with no dependencies needs no network either; retry without --offline.
    await run('npm', [...flags, tarball], { cwd: dir });
  }
  return dir;
}

export const html = (body) => `<!doctype html>
<html>
  <head><meta charset="utf-8" /><link rel="icon" href="data:," /><title>fixture</title></head>
  <body>
${body}
  </body>
</html>
`;
