// npm run lint: ESLint and Prettier over the JavaScript and TypeScript,
// rustfmt and clippy (native and wasm32, warnings denied) over the workspace;
// no secure-context-only web API in the Rust (clippy.toml, and below).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` };
const sources = ['ts', 'examples', 'tests', 'scripts', 'bench', 'eslint.config.js', 'tsup.config.ts'];

function run(command, args) {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { cwd: root, env, stdio: 'inherit' });
}

// crypto.subtle and navigator.locks exist only in secure contexts; web-sys has them only with these
// features, so enabling one is the first step of a use without a fallback (clippy.toml refuses
// Crypto::random_uuid, which the Crypto feature already has).
for (const manifest of ['worker/Cargo.toml', 'facade/Cargo.toml', 'worker/core/Cargo.toml']) {
  const features = readFileSync(join(root, manifest), 'utf8').match(/"(SubtleCrypto|LockManager)"/g);
  if (features) {
    throw new Error(`${manifest} enables ${features.join(', ')}: secure-context-only, missing on insecure pages`);
  }
}

run('eslint', ['--max-warnings=0', ...sources]);
run('prettier', ['--check', ...sources]);
run('cargo', ['fmt', '--all', '--check']);
run('cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings']);
// The browser crates as they are built: for wasm32, the worker with its entry point.
run('cargo', [
  'clippy',
  '-p',
  'bws-worker',
  '-p',
  'bws-facade',
  '--features',
  'bws-worker/entry,bws-worker/test-switches',
  '--all-targets',
  '--target',
  'wasm32-unknown-unknown',
  '--',
  '-D',
  'warnings',
]);
