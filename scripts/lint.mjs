// npm run lint: ESLint and Prettier over the JavaScript and TypeScript,
// rustfmt and clippy (native and wasm32, warnings denied) over the workspace.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` };
const sources = ['ts', 'examples', 'tests', 'scripts', 'bench', 'eslint.config.js', 'tsup.config.ts'];

function run(command, args) {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { cwd: root, env, stdio: 'inherit' });
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
