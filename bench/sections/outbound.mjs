// Outbound latency: `send()` in a tab → the server reading the frame (`__bws:stamp`: the server
// answers with the µs it read it at). A follower tab of BroadcastWebsocket (its send travels to the
// leader's worker and out of its socket) against a native WebSocket in the tab, with the
// library's leader tab and the main-thread relay baseline's follower for context.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { assertLeader, fmt, openSockets, openTabs, percentiles, ratio, table } from '../lib.mjs';

const GAP_MS = 5;

async function probe(tab, count) {
  await tab.evaluate(() => bench.stampProbes(0, 5, 0)); // warm-up, not reported
  return percentiles(await tab.evaluate(([n, gap]) => bench.stampProbes(0, n, gap), [count, GAP_MS]));
}

export async function run({ browser, server, quick }) {
  const count = quick ? 20 : 300;
  const results = {};
  for (const kind of ['native', 'library', 'relay']) {
    const session = await openTabs(browser, server, 2);
    try {
      const [first, second] = session.tabs;
      await openSockets(session.tabs, kind, server.wsUrl('/echo'));
      if (kind === 'library') await assertLeader(first);
      if (kind === 'native') results.native = await probe(first, count);
      if (kind === 'library') {
        results.leader = await probe(first, count);
        results.follower = await probe(second, count);
      }
      if (kind === 'relay') results.relayFollower = await probe(second, count);
    } finally {
      await session.close();
    }
  }
  results.ratio = {
    followerP50: ratio(results.follower.p50, results.native.p50),
    followerP99: ratio(results.follower.p99, results.native.p99),
  };
  const row = (name, p, vs) => [name, fmt.ms(p.p50), fmt.ms(p.p99), vs ?? '–'];
  const markdown = [
    `### Outbound latency, \`send()\` → server receipt (${count} sends, ${GAP_MS} ms apart)`,
    '',
    table(
      ['sender', 'p50', 'p99', '÷ native p50, p99'],
      [
        row('native WebSocket', results.native),
        row(
          'BroadcastWebsocket, follower tab',
          results.follower,
          `${fmt.ratio(results.ratio.followerP50)}, ${fmt.ratio(results.ratio.followerP99)}`,
        ),
        row('BroadcastWebsocket, leader tab', results.leader),
        row('main-thread relay (broadcast-channel), follower tab', results.relayFollower),
      ],
    ),
  ];
  return { results, markdown };
}
