// Cold start: new → open in a tab whose page has just loaded (the worker is spawned on first use,
// and compiles its WASM), for the first tab of a browser context and for a tab joining one whose
// first tab is already connected — against the native WebSocket in the same two situations; and how
// long the first constructor call holds the page's main thread.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { fmt, openTabs, ratio, summary, table } from '../lib.mjs';

const KINDS = ['native', 'library'];

async function trial(browser, server, kind) {
  const url = server.wsUrl('/echo');
  const session = await openTabs(browser, server, 2);
  try {
    const [first, joining] = session.tabs;
    const firstTab = await first.evaluate(([k, u]) => bench.coldStart(k, u), [kind, url]);
    const joiningTab = await joining.evaluate(([k, u]) => bench.coldStart(k, u), [kind, url]);
    return { first: firstTab.open, joining: joiningTab.open, constructor: firstTab.constructor };
  } finally {
    await session.close();
  }
}

export async function run({ browser, server, quick }) {
  const trials = quick ? 2 : 15;
  const samples = {
    native: { first: [], joining: [], constructor: [] },
    library: { first: [], joining: [], constructor: [] },
  };
  // Interleaved, so drift in the machine's load hits both alike.
  for (let n = 0; n < trials; n++) {
    for (const kind of KINDS) {
      const t = await trial(browser, server, kind);
      samples[kind].first.push(t.first);
      samples[kind].joining.push(t.joining);
      samples[kind].constructor.push(t.constructor);
    }
  }
  const results = {};
  for (const which of ['first', 'joining', 'constructor']) {
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
        ["the first tab's constructor call alone (main thread)", ...cells(results.constructor)],
      ],
    ),
  ];
  return { results, markdown };
}

const cells = (r) => [fmt.range(r.native), fmt.range(r.library), fmt.ratio(r.ratio)];
