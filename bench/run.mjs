// npm run bench: measures the package against its baselines in the same run,
// in headless Chromium against the local server, and prints a Markdown table
// (also written to bench/results.json). It never fails on a number.
//   --quick   few trials: what npm test runs so the bench cannot rot.
//
// Figures so far:
//   size        gzip and raw bytes of every file in dist/, and the total;
//   cold start  new → open in a fresh page: BroadcastWebsocket (facade compile,
//               worker spawn, socket) against the native WebSocket.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO_ROOT, launchBrowser, openPage, startServer } from '../tests/harness.mjs';

const quick = process.argv.includes('--quick');
const trials = quick ? 3 : 15;

function sizes() {
  const dist = join(REPO_ROOT, 'dist');
  const files = readdirSync(dist)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dist, name));
      return { file: `dist/${name}`, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
    });
  const total = files.reduce((sum, f) => ({ raw: sum.raw + f.raw, gzip: sum.gzip + f.gzip }), { raw: 0, gzip: 0 });
  return { files, total };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const summary = (values) => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  n: values.length,
});

/** new → open in a fresh page, for the class named by `which`. */
async function coldStart(browser, server, which) {
  const page = await openPage(browser, server, '/tests/pages/bench.html', { waitForSetup: false });
  try {
    return await page.evaluate(
      async ({ which, url }) => {
        const Socket = which === 'native' ? WebSocket : (await import('/dist/index.js')).BroadcastWebsocket;
        const start = performance.now();
        const socket = new Socket(url);
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onclose = () => reject(new Error('closed before open'));
        });
        const elapsed = performance.now() - start;
        socket.close();
        return elapsed;
      },
      { which, url: server.wsUrl('/echo') },
    );
  } finally {
    await page.close();
  }
}

const server = await startServer();
const browser = await launchBrowser();
const results = { machine: `${process.platform} ${process.arch}, node ${process.version}`, quick, trials };
try {
  results.size = sizes();
  const native = [];
  const ours = [];
  // Interleaved, so drift in the machine's load hits both alike.
  for (let i = 0; i < trials; i++) {
    native.push(await coldStart(browser, server, 'native'));
    ours.push(await coldStart(browser, server, 'library'));
  }
  results.coldStart = { native: summary(native), broadcastWebsocket: summary(ours) };
  results.coldStart.ratio = results.coldStart.broadcastWebsocket.median / results.coldStart.native.median;
} finally {
  await browser.close();
  await server.stop();
}

writeFileSync(join(REPO_ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (s) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
const lines = [
  `Bench (${quick ? 'quick, ' : ''}${trials} trials; ${results.machine})`,
  '',
  '| file | raw | gzip |',
  '| --- | ---: | ---: |',
  ...results.size.files.map((f) => `| ${f.file} | ${kb(f.raw)} | ${kb(f.gzip)} |`),
  `| **total** | ${kb(results.size.total.raw)} | ${kb(results.size.total.gzip)} |`,
  '',
  '| cold start, new → open (median, min–max) | native WebSocket | BroadcastWebsocket | ratio |',
  '| --- | ---: | ---: | ---: |',
  `| first instance in a fresh page | ${ms(results.coldStart.native)} | ${ms(results.coldStart.broadcastWebsocket)} | ${results.coldStart.ratio.toFixed(1)}× |`,
];
console.log(lines.join('\n'));
