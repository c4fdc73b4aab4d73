// npm test: every test layer, fastest first, on one build. Lint; native Rust
// tests; the package build; type check; wasm-bindgen tests of the web adapters
// in headless Chromium against the real server; Playwright end-to-end and
// packaging tests; the bench in quick mode. Ends with one summary line.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` };
const totals = { passed: 0, failed: 0 };

/** Runs a command, echoing its output, and adds the test counts it reports. */
function run(command, args, extraEnv = {}) {
  console.log(`\n$ ${command} ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (stream, sink) =>
      stream.on('data', (chunk) => {
        output += chunk;
        sink.write(chunk);
      });
    collect(child.stdout, process.stdout);
    collect(child.stderr, process.stderr);
    child.on('error', reject);
    child.on('close', (code) => {
      count(output);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}`));
    });
  });
}

/** Adds cargo's "test result:" lines and node's "# pass / # fail" lines. */
function count(output) {
  for (const [, passed, failed] of output.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    totals.passed += Number(passed);
    totals.failed += Number(failed);
  }
  for (const [, kind, n] of output.matchAll(/^# (pass|fail) (\d+)$/gm)) {
    totals[kind === 'pass' ? 'passed' : 'failed'] += Number(n);
  }
}

let failure;
try {
  await run('node', ['scripts/lint.mjs']);
  await run('cargo', ['test', '--workspace']);
  // The end-to-end tests drive the test switches: a test build has them.
  await run('node', ['scripts/build.mjs', '--test-switches']);
  await run('tsc', ['-p', 'tsconfig.json']);

  // The adapters' browser tests need the server's address at compile time.
  const server = await startServer();
  try {
    await run('cargo', ['test', '--target', 'wasm32-unknown-unknown', '-p', 'bws-worker'], {
      BWS_TEST_SERVER_WS: server.origin.replace(/^http/, 'ws'),
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner',
    });
  } finally {
    await server.stop();
  }

  await run('node', [
    '--test',
    '--test-concurrency=1',
    'tests/e2e/',
    'tests/e2e-multitab/',
    'tests/demo/',
    'tests/differential/',
    'tests/packaging/',
  ]);
  await run('node', ['bench/run.mjs', '--quick']);
} catch (error) {
  failure = error;
}

if (failure) console.error(`\nnpm test failed: ${failure.message}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(failure || totals.failed > 0 || totals.passed === 0 ? 1 : 0);
