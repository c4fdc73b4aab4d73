// npm test: every test layer, fastest first, on one build. Lint; native Rust
// tests; node tests of page-side rules (tests/unit/); the package build; type
// check; wasm-bindgen tests of the web adapters in headless Chromium against
// the real server; the browser suites (end-to-end, multi-tab, differential,
// packaging) once per engine (BWS_ENGINE: Chromium, Firefox ESR, WebKitGTK;
// which suites run where: ENGINE_SUITES), and with Chromium once more on an
// insecure page (passesOf); the bench in quick mode. Prints per engine what
// ran, passed, failed and was skipped or todo, by name. Ends with one summary
// line, `N passed, N failed`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` };
const totals = { passed: 0, failed: 0 };

/**
 * The browser suites each engine runs, chosen by what they prove there (README, "Engines"), so that
 * the three engines fit npm test's 30-minute budget on 2 cores. Chromium runs them all. Firefox and
 * WebKit run what can differ by engine: the comparison with their own WebSocket (differential), the
 * worker's start and handshake and the opening handshake (worker, open), the sharing across real tabs
 * over their Web Locks and BroadcastChannel (sharing, binary, failover, handover), their page lifecycle
 * (lifecycle, page-cache), the busy leader page (stalls; stalls-channels, where the protocol resumes),
 * and loading the packed package. The rest is the same TypeScript and the same core on the same seams, proven on
 * Chromium.
 */
const ACROSS_ENGINES = [
  'tests/e2e/open.test.mjs',
  'tests/e2e/worker.test.mjs',
  ...['sharing', 'binary', 'failover', 'handover', 'lifecycle', 'page-cache', 'stalls', 'stalls-channels'].map(
    (suite) => `tests/e2e-multitab/${suite}.test.mjs`,
  ),
  'tests/differential/',
  'tests/packaging/',
];
const ENGINE_SUITES = {
  chromium: ['tests/e2e/', 'tests/e2e-multitab/', 'tests/demo/', 'tests/differential/', 'tests/packaging/'],
  firefox: ACROSS_ENGINES,
  webkit: ACROSS_ENGINES,
};

/**
 * The passes of browser suites: each engine's, and with Chromium one more on an insecure page
 * (BWS_INSECURE=1, tests/harness.mjs), as an OBS browser source loaded from a file is: the page
 * checks, sharing, takeover, lifecycle, junk and the demo, without Web Locks or crypto.randomUUID.
 */
function passesOf(engine) {
  if (engine !== 'chromium') return [{ name: engine, engine, env: {}, suites: ENGINE_SUITES[engine] }];
  // The multi-tab suites of the insecure pass run there with the lease, the election such a page
  // uses, so the secure pass runs them with Web Locks only.
  const multitab = ['sharing', 'failover', 'lifecycle', 'junk'].map((s) => `tests/e2e-multitab/${s}.test.mjs`);
  const rest = readdirSync(join(root, 'tests/e2e-multitab'))
    .filter((f) => f.endsWith('.test.mjs'))
    .map((f) => `tests/e2e-multitab/${f}`)
    .filter((f) => !multitab.includes(f));
  const suites = ENGINE_SUITES.chromium.flatMap((s) => (s === 'tests/e2e-multitab/' ? rest : [s]));
  return [
    { name: 'chromium', engine, env: {}, suites },
    { name: 'chromium, Web Locks only', engine, env: { BWS_BACKENDS: 'locks' }, suites: multitab },
    {
      name: 'chromium, insecure origin',
      engine,
      env: { BWS_INSECURE: '1' },
      suites: ['tests/e2e/insecure-context.test.mjs', ...multitab, 'tests/demo/'],
    },
  ];
}

/** Runs a command, echoing its output, and adds the test counts it reports. Resolves with the output. */
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
      if (code === 0) resolve(output);
      else reject(Object.assign(new Error(`${command} ${args.join(' ')} exited with ${code}`), { output }));
    });
  });
}

/** Adds cargo's "test result:" lines and node's "# pass / # fail" lines. */
function count(output) {
  for (const [, passed, failed] of output.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    totals.passed += Number(passed);
    totals.failed += Number(failed);
  }
  const { pass, fail } = nodeCounts(output);
  totals.passed += pass;
  totals.failed += fail;
}

/**
 * The passed and failed tests of node's TAP summaries (`# pass N`, summed over files). A skipped
 * test is neither; so is every test of a skipped describe(), which node does not count at all.
 */
function nodeCounts(output) {
  const sum = (kind) =>
    [...output.matchAll(new RegExp(`^# ${kind} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  return { pass: sum('pass'), fail: sum('fail') };
}

/**
 * What node's TAP output says of one run: the counts of its summary, and the name path (describe >
 * test > subtest) and reason of every skipped and todo test.
 */
function engineReport(output) {
  const report = { ...nodeCounts(output), skipped: [], todo: [] };
  const path = [];
  for (const line of output.split('\n')) {
    const subtest = line.match(/^( *)# Subtest: (.*)$/);
    if (subtest) {
      path.length = subtest[1].length / 4;
      path.push(subtest[2]);
      continue;
    }
    const result = line.match(/^( *)(not )?ok \d+ - (.*?) # (SKIP|TODO)\b ?(.*)$/);
    if (!result) continue;
    const depth = result[1].length / 4;
    const name = [...path.slice(0, depth), result[3]].join(' > ');
    const entry = { name: `${name}${result[2] ? ' [failed]' : ''}`, reason: result[5] || 'no reason given' };
    report[result[4] === 'SKIP' ? 'skipped' : 'todo'].push(entry);
  }
  return report;
}

/** One pass of browser suites; returns its report and duration even when a test failed. */
async function runPass({ name, engine, env, suites }) {
  const started = Date.now();
  let output;
  let error;
  try {
    output = await run('node', ['--test', '--test-concurrency=1', ...suites], { ...env, BWS_ENGINE: engine });
  } catch (e) {
    ({ output = '' } = e);
    error = e;
  }
  return { name, suites, error, seconds: Math.round((Date.now() - started) / 1000), ...engineReport(output) };
}

function printEngines(reports) {
  console.log('\nBrowser suites per engine:');
  for (const r of reports) {
    console.log(
      `  ${r.name}: ${r.pass + r.fail} ran, ${r.pass} passed, ${r.fail} failed, ` +
        `${r.skipped.length} skipped, ${r.todo.length} todo (${r.seconds} s; ${r.suites.join(' ')})`,
    );
    for (const kind of ['skipped', 'todo']) {
      const byReason = new Map();
      for (const entry of r[kind]) byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry]);
      for (const [reason, entries] of byReason) {
        console.log(`    ${kind} (${entries.length}), ${reason}:`);
        for (const { name } of entries) console.log(`      ${name}`);
      }
    }
  }
}

// The three engines, one after the other (a timing test must not share 2 cores with another
// browser); BWS_ENGINES=chromium runs one.
const engines = (process.env.BWS_ENGINES || 'chromium,firefox,webkit').split(',');
const reports = [];
let failure;
try {
  await run('node', ['scripts/lint.mjs']);
  await run('cargo', ['test', '--workspace']);
  // The page-side rules that need no browser (BroadcastSync's merge rules), in node.
  await run('node', ['--test', 'tests/unit/']);
  // The end-to-end tests drive the test switches: a test build has them.
  await run('node', ['scripts/build.mjs', '--test-switches']);
  await run('tsc', ['-p', 'tsconfig.json']);

  // The adapters' browser tests need the server's address at compile time.
  const server = await startServer();
  try {
    await run('cargo', ['test', '--target', 'wasm32-unknown-unknown', '-p', 'bws-worker', '-p', 'bws-facade'], {
      BWS_TEST_SERVER_WS: server.origin.replace(/^http/, 'ws'),
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner',
    });
  } finally {
    await server.stop();
  }

  // Every engine runs, whatever an earlier one did, so that one failure shows them all.
  for (const pass of engines.flatMap(passesOf)) reports.push(await runPass(pass));
  const failed = reports.filter((r) => r.error);
  if (failed.length) throw new Error(failed.map((r) => `${r.name}: ${r.error.message}`).join('; '));
  await run('node', ['bench/run.mjs', '--quick']);
} catch (error) {
  failure = error;
}

if (reports.length) printEngines(reports);
if (failure) console.error(`\nnpm test failed: ${failure.message}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(failure || totals.failed > 0 || totals.passed === 0 ? 1 : 0);
