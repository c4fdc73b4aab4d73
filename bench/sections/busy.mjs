// Busy UI thread: the leader tab's main thread is blocked (a busy loop, as a long task would) while
// the server streams 100 messages/s. We count what the 2 follower tabs receive during the block,
// their longest gap, and leadership changes — BroadcastWebsocket (socket and relay in the worker)
// against the main-thread relay baseline (broadcast-channel's LeaderElection, relay in the page).
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { assertLeader, fmt, openSockets, openTabs, summary, table } from '../lib.mjs';

const TABS = 3;
const RATE = 100;
const KINDS = ['library', 'relay'];

async function leadership(tabs) {
  return Promise.all(tabs.map((tab) => tab.evaluate(() => bench.leadership(0))));
}

/** Leader changes between two snapshots of every tab's view. */
function changes(kind, before, after, blockStart) {
  if (kind === 'relay') return after.flatMap((s) => s.leaderships).filter((t) => t >= blockStart).length;
  const epochs = new Set([...before, ...after].map((s) => s.epoch));
  return epochs.size - 1;
}

async function trial(browser, server, kind, blockMs) {
  const count = Math.round((RATE * (blockMs + 2000)) / 1000); // 1 s before the block, 1 s after
  const session = await openTabs(browser, server, TABS);
  try {
    const [leader, ...followers] = session.tabs;
    await openSockets(session.tabs, kind, server.wsUrl('/echo'));
    await assertLeader(leader);
    const before = await leadership(session.tabs);
    await leader.evaluate((cmd) => bench.send(0, cmd), `__bws:stream ${RATE} ${count} 64`);
    // Block once the followers have had a second of the stream.
    await Promise.all(followers.map((tab) => tab.evaluate((n) => bench.waitStream(n, 5000), RATE)));
    const block = await leader.evaluate((ms) => bench.block(ms), blockMs);
    await Promise.all(session.tabs.map((tab) => tab.evaluate((n) => bench.waitStream(n, 3000), count)));
    const after = await leadership(session.tabs);
    const seen = await Promise.all(
      followers.map(async (tab) => (await tab.evaluate(() => bench.streamResults(true)))[0]),
    );
    const during = seen.map((r) => r.arrivals.filter((t) => t >= block.start && t <= block.end));
    return {
      expected: Math.round((RATE * (block.end - block.start)) / 1000),
      delivered: during.map((d) => d.length),
      longestGapMs: Math.max(...seen.map((r) => longestGap(r.arrivals, block))),
      lost: seen.reduce((sum, r) => sum + (count - r.count), 0),
      leaderChanges: changes(kind, before, after, block.start),
    };
  } finally {
    await session.close();
  }
}

/** The longest time without a message inside the block, counting from its start and to its end. */
function longestGap(arrivals, { start, end }) {
  const marks = [start, ...arrivals.filter((t) => t > start && t < end), end];
  return Math.max(...marks.slice(1).map((t, k) => t - marks[k]));
}

export async function run({ browser, server, quick }) {
  const blockMs = quick ? 1000 : 5000;
  const trials = quick ? 1 : 3;
  const results = { blockMs, rate: RATE };
  for (const kind of KINDS) {
    const runs = [];
    for (let n = 0; n < trials; n++) runs.push(await trial(browser, server, kind, blockMs));
    results[kind] = {
      runs,
      deliveredShare: summary(runs.flatMap((r) => r.delivered.map((d) => d / r.expected))),
      longestGapMs: summary(runs.map((r) => r.longestGapMs)),
      leaderChanges: runs.reduce((sum, r) => sum + r.leaderChanges, 0),
      lost: runs.reduce((sum, r) => sum + r.lost, 0),
    };
  }
  const pct = (s) => `${(s.median * 100).toFixed(0)} % (${(s.min * 100).toFixed(0)}–${(s.max * 100).toFixed(0)} %)`;
  const row = (name, r) => [name, pct(r.deliveredShare), fmt.range(r.longestGapMs), r.leaderChanges, r.lost];
  const markdown = [
    `### Busy UI thread: leader's main thread blocked ${blockMs / 1000} s, server sending ${RATE} messages/s (${trials} trials)`,
    '',
    table(
      [
        'design',
        'followers: messages received during the block',
        'followers: longest gap in the block',
        'leader changes',
        'lost',
      ],
      [
        row('BroadcastWebsocket (relay in the worker)', results.library),
        row('main-thread relay (broadcast-channel LeaderElection)', results.relay),
      ],
    ),
  ];
  return { results, markdown };
}
