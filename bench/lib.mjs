// Shared pieces of the bench sections: statistics, formatting, and tabs of bench/pages/tab.html.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { openContext, waitForStats } from '../tests/harness.mjs';

export const TAB = '/bench/pages/tab.html';

const sorted = (values) => Float64Array.from(values).sort();

/** Nearest-rank percentile (p in 0..100) of `values`; null when empty. */
export function percentile(values, p) {
  if (!values.length) return null;
  const s = sorted(values);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Median with min and max, for repeated trials. */
export function summary(values) {
  const s = sorted(values);
  const mid = s.length >> 1;
  return {
    median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    min: s[0],
    max: s[s.length - 1],
    n: s.length,
  };
}

/** p50/p95/p99 of latency samples. */
export const percentiles = (values) => ({
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  p99: percentile(values, 99),
  n: values.length,
});

export const ratio = (ours, baseline) => (baseline > 0 && ours != null ? ours / baseline : null);

export const fmt = {
  ms: (v) => (v == null ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`),
  range: (s) => `${fmt.ms(s.median)} (${fmt.ms(s.min)}–${fmt.ms(s.max)})`,
  ratio: (r) => (r == null ? '–' : `${r.toFixed(r < 10 ? 2 : 0)}×`),
  kib: (bytes) => `${(bytes / 1024).toFixed(1)} KiB`,
  mib: (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`,
  rate: (perSecond) => `${Math.round(perSecond).toLocaleString('en-US')}/s`,
  int: (n) => n.toLocaleString('en-US'),
};

/** A Markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, k) => (k ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/**
 * `n` same-origin tabs of tab.html in a fresh context of `browser` (so they share BroadcastChannel
 * and Web Locks with each other and nothing else), once the server holds no earlier connection.
 * Returns { tabs, ctx, close() }.
 */
export async function openTabs(browser, server, n) {
  await waitForStats(server, (s) => s.connections === 0, 10000);
  const ctx = await openContext(browser, server);
  try {
    const tabs = [];
    // One at a time: the first tab opened is the one that leads.
    for (let k = 0; k < n; k++) tabs.push(await ctx.newPage(TAB, { waitForSetup: false }));
    await Promise.all(tabs.map((tab) => tab.waitForFunction(() => window.benchReady, undefined, 10000)));
    return { tabs, ctx, close: () => ctx.close() };
  } catch (e) {
    await ctx.close();
    throw e;
  }
}

/** Opens one socket of `kind` in each tab, in tab order; resolves when all are open. */
export async function openSockets(tabs, kind, url, options = {}) {
  for (const tab of tabs) await tab.evaluate(([k, u, o]) => bench.open(k, u, o), [kind, url, options]);
}

/** Quiet time after which a stream counts as over: what has not arrived by then is lost. */
const STREAM_QUIET_MS = 3000;

/**
 * Streams `count` frames of `size` bytes at `rate`/s (`__bws:stream`) to every connection and
 * collects, per tab, what arrived. Tab 0 asks for the stream.
 */
export async function stream(tabs, { rate, count, size }) {
  await Promise.all(tabs.map((tab) => tab.evaluate(() => bench.resetStreams())));
  await tabs[0].evaluate((cmd) => bench.send(0, cmd), `__bws:stream ${rate} ${count} ${size}`);
  await Promise.all(tabs.map((tab) => tab.evaluate(([n, q]) => bench.waitStream(n, q), [count, STREAM_QUIET_MS])));
  return Promise.all(tabs.map(async (tab) => (await tab.evaluate(() => bench.streamResults()))[0]));
}

/** Socket 0 of `tab` must lead: the sections' roles (leader vs followers) rely on it. */
export async function assertLeader(tab) {
  const { isLeader } = await tab.evaluate(() => bench.leadership(0));
  if (!isLeader) throw new Error('the first tab to connect does not lead');
}
