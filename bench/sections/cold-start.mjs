// Cold start: new → open in a tab whose page has just loaded (the facade's WASM is compiled and the
// worker spawned on first use), for the first tab of a browser context and for a tab joining one
// whose first tab is already connected — against the native WebSocket in the same two situations.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { fmt, openTabs, ratio, summary, table } from '../lib.mjs';

const KINDS = ['native', 'library'];

async function trial(browser, server, kind) {
  const url = server.wsUrl('/echo');
  const session = await openTabs(browser, server, 2);
  try {
    const [first, joining] = session.tabs;
    const firstMs = await first.evaluate(([k, u]) => bench.coldStart(k, u), [kind, url]);
    const joiningMs = await joining.evaluate(([k, u]) => bench.coldStart(k, u), [kind, url]);
    return { first: firstMs, joining: joiningMs };
  } finally {
    await session.close();
  }
}

export async function run({ browser, server, quick }) {
  const trials = quick ? 2 : 15;
  const samples = { native: { first: [], joining: [] }, library: { first: [], joining: [] } };
  // Interleaved, so drift in the machine's load hits both alike.
  for (let n = 0; n < trials; n++) {
    for (const kind of KINDS) {
      const t = await trial(browser, server, kind);
      samples[kind].first.push(t.first);
      samples[kind].joining.push(t.joining);
    }
  }
  const results = {};
  for (const which of ['first', 'joining']) {
    const native = summary(samples.native[which]);
    const library = summary(samples.library[which]);
    results[which] = { native, library, ratio: ratio(library.median, native.median) };
  }
  const markdown = [
    `### Cold start, new → open (median, min–max of ${trials})`,
    '',
    table(
      ['tab', 'native WebSocket', 'BroadcastWebsocket', 'ratio'],
      [
        ['first tab', ...cells(results.first)],
        ['joining tab (another tab already connected)', ...cells(results.joining)],
      ],
    ),
  ];
  return { results, markdown };
}

const cells = (r) => [fmt.range(r.native), fmt.range(r.library), fmt.ratio(r.ratio)];
