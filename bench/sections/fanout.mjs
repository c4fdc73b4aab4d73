// Fan-out throughput: the server sends N frames as fast as it can (`__bws:stream` with no pacing);
// the rate is N ÷ (last arrival in the slowest of 8 tabs − the first frame's send). Against the raw
// ceiling of BroadcastChannel between plain workers of the same 8 tabs (one posts N messages of the
// same size, the other 7 receive), the same with each worker forwarding every message to its page
// (the floor of a design whose workers relay to their pages, as ours do), that floor fed by a
// socket (a plain worker's socket relays the server's frames: the floor of a design whose leader
// holds the socket in a worker, as ours does; in tabs of their own, as the stream goes to every
// socket of the server), and a native WebSocket per tab for context. In a Chromium of its own without network monitoring (launchQuiet): Playwright's
// would copy every frame of every socket to the harness, a cost no user's browser pays and the
// BroadcastChannel ceiling does not bear.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { launchQuiet } from '../../tests/drivers/chromium.mjs';
import { assertLeader, fmt, openSockets, openTabs, ratio, stream, summary, table } from '../lib.mjs';

const TABS = 8;
const UNPACED = 1_000_000_000; // frames per second: the server sends as fast as it can

function delivered(perTab, count) {
  const lost = perTab.reduce((sum, r) => sum + (count - r.count), 0);
  const start = Math.min(...perTab.map((r) => r.firstSendMs));
  const end = Math.max(...perTab.map((r) => r.lastArrival));
  return { rate: (count * 1000) / (end - start), lost };
}

async function ceiling(tabs, count, size, hop) {
  await Promise.all(tabs.slice(1).map((tab) => tab.evaluate(([n, h]) => bench.ceilingExpect(n, h), [count, hop])));
  await tabs[0].evaluate(() => bench.ceilingExpect(0));
  const start = await tabs[0].evaluate(([n, s]) => bench.ceilingSend(n, s), [count, size]);
  const ends = await Promise.all(tabs.slice(1).map((tab) => tab.evaluate(() => bench.ceilingDone)));
  return (count * 1000) / (Math.max(...ends) - start);
}

/** The socket-fed floor: tab 0's ceiling worker holds a socket (see ceilingConnect). */
async function socketFloor(tabs, count, size) {
  await Promise.all(tabs.map((tab) => tab.evaluate((n) => bench.ceilingExpect(n, true), count)));
  await tabs[0].evaluate((command) => bench.ceilingCommand(command), `__bws:stream ${UNPACED} ${count} ${size}`);
  const ends = await Promise.all(tabs.map((tab) => tab.evaluate(() => bench.ceilingDone)));
  const starts = await Promise.all(tabs.map((tab) => tab.evaluate(() => bench.ceilingFirstSentMs)));
  return (count * 1000) / (Math.max(...ends) - Math.min(...starts));
}

export async function run({ server, quick }) {
  const browser = await launchQuiet();
  try {
    return await measure(browser, server, quick);
  } finally {
    await browser.close();
  }
}

async function measure(browser, server, quick) {
  const trials = quick ? 1 : 5;
  const cases = [
    { size: 64, count: quick ? 2000 : 20000 },
    { size: 16 * 1024, count: quick ? 200 : 2000 },
  ];
  const samples = cases.map(() => ({
    native: [],
    library: [],
    ceiling: [],
    hop: [],
    floor: [],
    lost: { native: 0, library: 0 },
  }));
  for (const kind of ['native', 'library', 'floor']) {
    const session = await openTabs(browser, server, TABS);
    try {
      if (kind === 'floor') {
        await session.tabs[0].evaluate((url) => bench.ceilingConnect(url), server.wsUrl('/echo'));
        for (let n = 0; n < trials; n++) {
          for (const [k, c] of cases.entries()) samples[k].floor.push(await socketFloor(session.tabs, c.count, c.size));
        }
        continue;
      }
      await openSockets(session.tabs, kind, server.wsUrl('/echo'));
      if (kind === 'library') await assertLeader(session.tabs[0]);
      await stream(session.tabs, { rate: UNPACED, count: 500, size: 64 }); // warm-up, not reported
      for (let n = 0; n < trials; n++) {
        for (const [k, c] of cases.entries()) {
          const got = delivered(await stream(session.tabs, { rate: UNPACED, ...c }), c.count);
          samples[k][kind].push(got.rate);
          samples[k].lost[kind] += got.lost;
          // The ceiling in the library's tabs, so both run beside the same pages and workers.
          if (kind === 'library') {
            samples[k].ceiling.push(await ceiling(session.tabs, c.count, c.size, false));
            samples[k].hop.push(await ceiling(session.tabs, c.count, c.size, true));
          }
        }
      }
    } finally {
      await session.close();
    }
  }
  const results = cases.map((c, k) => {
    const s = samples[k];
    const [native, library, bc, hop, floor] = [s.native, s.library, s.ceiling, s.hop, s.floor].map(summary);
    return {
      ...c,
      native,
      library,
      ceiling: bc,
      hop,
      floor,
      lost: s.lost,
      ratioToCeiling: ratio(library.median, bc.median),
      hopToCeiling: ratio(hop.median, bc.median),
      ratioToFloor: ratio(library.median, floor.median),
    };
  });
  const rate = (s) => `${fmt.rate(s.median)} (${fmt.rate(s.min)}–${fmt.rate(s.max)})`;
  const markdown = [
    `### Fan-out throughput to all ${TABS} tabs, messages/s (median, min–max of ${trials})`,
    '',
    table(
      [
        'payload',
        'frames',
        'native WebSocket per tab',
        'BroadcastWebsocket',
        'BroadcastChannel ceiling (worker → 7 workers)',
        'ours ÷ ceiling',
        'the same, each worker → its page',
        'that ÷ ceiling',
        "that, fed by a worker's socket",
        'ours ÷ that',
        'lost (native, ours)',
      ],
      results.map((r) => [
        r.size >= 1024 ? `${r.size / 1024} KiB` : `${r.size} B`,
        fmt.int(r.count),
        rate(r.native),
        rate(r.library),
        rate(r.ceiling),
        fmt.ratio(r.ratioToCeiling),
        rate(r.hop),
        fmt.ratio(r.hopToCeiling),
        rate(r.floor),
        fmt.ratio(r.ratioToFloor),
        `${r.lost.native}, ${r.lost.library}`,
      ]),
    ),
  ];
  return { results, markdown };
}
