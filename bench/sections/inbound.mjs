// Inbound latency: the server's send (its µs stamp in each frame of `__bws:stream`) → the `message`
// event in each of 8 tabs, at several rates and payload sizes. BroadcastWebsocket's leader tab and
// follower tabs are reported apart, against one native WebSocket per tab.
import { assertLeader, fmt, openSockets, openTabs, percentiles, ratio, stream, table } from '../lib.mjs';

const TABS = 8;
const RATES = [100, 1000, 10000];
const SIZES = [64, 16 * 1024];

/** Per-tab results → latency percentiles of the tabs `pick`ed, and frames lost across them. */
function digest(perTab, count, pick = () => true) {
  const chosen = perTab.filter((_, k) => pick(k));
  return {
    ...percentiles(chosen.flatMap((r) => r.latencies)),
    lost: chosen.reduce((sum, r) => sum + (count - r.count), 0),
  };
}

export async function run({ browser, server, quick }) {
  const seconds = quick ? 0.5 : 3;
  // Caps the bytes per connection, so 16 KiB at 10,000/s stays a few seconds of work.
  const budget = (quick ? 4 : 32) * 1024 * 1024;
  const cases = RATES.flatMap((rate) =>
    SIZES.map((size) => ({ rate, size, count: Math.max(20, Math.min(rate * seconds, Math.floor(budget / size))) })),
  );
  const results = cases.map((c) => ({ ...c }));
  for (const kind of ['native', 'library']) {
    const session = await openTabs(browser, server, TABS);
    try {
      await openSockets(session.tabs, kind, server.wsUrl('/echo'));
      if (kind === 'library') await assertLeader(session.tabs[0]);
      await stream(session.tabs, { rate: 1000, count: 200, size: 64 }); // warm-up, not reported
      for (const [k, c] of cases.entries()) {
        const perTab = await stream(session.tabs, c);
        if (kind === 'native') results[k].native = digest(perTab, c.count);
        else {
          results[k].leader = digest(perTab, c.count, (tab) => tab === 0);
          results[k].followers = digest(perTab, c.count, (tab) => tab !== 0);
        }
      }
    } finally {
      await session.close();
    }
  }
  for (const r of results) {
    r.ratio = {
      followersP50: ratio(r.followers.p50, r.native.p50),
      followersP99: ratio(r.followers.p99, r.native.p99),
    };
  }
  const p = (d) =>
    `${fmt.ms(d.p50)} / ${fmt.ms(d.p95)} / ${fmt.ms(d.p99)}${d.lost ? ` (${fmt.int(d.lost)} lost)` : ''}`;
  const markdown = [
    `### Inbound latency, server send → \`message\` in each of ${TABS} tabs (p50 / p95 / p99)`,
    '',
    table(
      [
        'rate, payload',
        'frames',
        'native WebSocket per tab',
        'ours: leader tab',
        'ours: follower tabs',
        'followers ÷ native p50, p99',
      ],
      results.map((r) => [
        `${fmt.int(r.rate)}/s, ${r.size >= 1024 ? `${r.size / 1024} KiB` : `${r.size} B`}`,
        fmt.int(r.count),
        p(r.native),
        p(r.leader),
        p(r.followers),
        `${fmt.ratio(r.ratio.followersP50)}, ${fmt.ratio(r.ratio.followersP99)}`,
      ]),
    ),
  ];
  return { results, markdown };
}
