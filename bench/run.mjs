// npm run bench: measures the package against its baselines in the same run, in headless Chromium
// against the local server, prints Markdown tables and writes bench/results.json. It never fails on
// a number; it fails only when something it drives breaks.
//   --quick          few trials and short streams, on the debug server that npm test has just built:
//                    what npm test runs so the bench cannot rot
//   --only=a,b       run only the named sections (see SECTIONS)
// Without --quick it first builds dist/ and a release build of the server (both incremental).
// Every figure uses the real package from dist/, real pages and the real server.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { REPO_ROOT, startServerAndBrowser, stopServerAndBrowser } from '../tests/harness.mjs';
// In the order they run and print; each module exports run({ browser, server, quick }) → { results, markdown }.
const SECTIONS = {
  size: './sections/size.mjs',
  connections: './sections/connections.mjs',
  coldStart: './sections/cold-start.mjs',
  inbound: './sections/inbound.mjs',
  fanout: './sections/fanout.mjs',
  outbound: './sections/outbound.mjs',
  takeover: './sections/takeover.mjs',
  busy: './sections/busy.mjs',
  memory: './sections/memory.mjs',
  pageCache: './sections/page-cache.mjs',
  serverLoad: './sections/server-load.mjs',
  reconnect: './sections/reconnect.mjs',
};

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const chosen = Object.entries(SECTIONS).filter(([name]) => !only || only.includes(name));
if (only?.some((name) => !SECTIONS[name])) {
  throw new Error(`unknown section in --only; known: ${Object.keys(SECTIONS).join(', ')}`);
}

if (!quick) {
  // Build logs go to stderr: stdout is the Markdown report.
  execFileSync('node', ['scripts/build.mjs'], { cwd: REPO_ROOT, stdio: ['ignore', 2, 2] });
  execFileSync('cargo', ['build', '--release', '-p', 'bws-server', '--bins'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 2, 2],
  });
  process.env.BWS_SERVER_BIN ??= join(REPO_ROOT, 'target/release/bws-server');
}

// The baseline's page script imports the broadcast-channel package, the reconnect section's
// partysocket: bundle them for the browser.
await build({
  entryPoints: ['relay', 'partysocket'].map((name) => join(REPO_ROOT, `bench/pages/${name}.js`)),
  outdir: join(REPO_ROOT, 'bench/build'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  logLevel: 'warning',
});

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}, node ${process.version}`;
const results = { date: new Date().toISOString(), machine, quick };
const markdown = [`## Bench${quick ? ' (quick mode: few trials, not for quoting)' : ''}`, '', `Machine: ${machine}.`];

const { server, browser } = await startServerAndBrowser();
results.browser = `Chromium ${browser.version()}`;
markdown.push(`Browser: headless ${results.browser}.`, '');
try {
  for (const [name, module] of chosen) {
    const started = Date.now();
    const section = await import(module);
    const out = await section.run({ browser, server, quick });
    results[name] = out.results;
    markdown.push(...out.markdown, '');
    console.error(`bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
} finally {
  await stopServerAndBrowser({ server, browser });
}

writeFileSync(join(REPO_ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(markdown.join('\n'));
